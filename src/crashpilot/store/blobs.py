"""A content-addressed blob store in a folder: ``<root>/ab/cdef...`` named by sha256.

Writes go to a temporary file in the same folder, are fsynced, then renamed into place, so a
crash mid-write never leaves a truncated blob under a valid name. Blobs are never deleted here.

Many blobs at once (``BlobStore.batch()``) skip the per-file fsync: the temporary files are
written, made durable with ONE file-system sync (``syncfs`` on Linux, else an fsync per file),
renamed into place, and the renames made durable with a second sync. Until ``sync()`` returns,
none of the batch's blobs is under its final name, so the guarantee is the same as for ``put``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from crashpilot.errors import CrashpilotError

log = logging.getLogger(__name__)

_SHA = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Raw reports and artifacts by sha256 under ``root`` (e.g. ``<home>/blobs``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp_ready = False  # blobs/tmp made by this object (it is never removed)

    def path(self, sha: str) -> Path:
        """Where the blob ``sha`` lives (whether or not it exists)."""
        if not _SHA.match(sha):
            raise CrashpilotError(f"not a sha256: {sha[:80]!r}")
        return self.root / sha[:2] / sha[2:]

    def exists(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256. Storing the same bytes again is a no-op."""
        sha = sha256_bytes(data)
        target = self.path(sha)
        if target.is_file():
            return sha
        tmp = self._tmp_file()
        try:
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            self._commit(tmp, target)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return sha

    def put_file(self, source: str | Path) -> tuple[str, int]:
        """Stream the file ``source`` into the store; returns (sha256, size)."""
        digest = hashlib.sha256()
        size = 0
        tmp = self._tmp_file()
        try:
            with open(source, "rb") as src, open(tmp, "wb") as out:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self.path(sha)
            if target.is_file():
                _unlink_quietly(tmp)
            else:
                self._commit(tmp, target)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return sha, size

    def batch(self) -> BlobBatch:
        """A batch of writes made durable together by ``BlobBatch.sync()``."""
        return BlobBatch(self)

    def open(self, sha: str) -> BinaryIO:
        """The blob for reading (binary). Raises CrashpilotError when it is missing."""
        try:
            return open(self.path(sha), "rb")
        except FileNotFoundError:
            raise CrashpilotError(f"blob {sha} is missing from {self.root}") from None

    def read(self, sha: str) -> bytes:
        with self.open(sha) as fh:
            return fh.read()

    # -- internals ---------------------------------------------------------------------------

    def _tmp_file(self) -> Path:
        tmp_dir = self.root / "tmp"
        if not tmp_dir.is_dir():
            tmp_dir.mkdir(exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="blob-")
        os.close(fd)
        return Path(name)

    def _tmp_name(self) -> Path:
        """A new temporary file name (not created yet), unique across threads and processes."""
        tmp_dir = self.root / "tmp"
        if not self._tmp_ready:
            tmp_dir.mkdir(exist_ok=True)
            self._tmp_ready = True
        return tmp_dir / f"blob-{os.getpid()}-{uuid.uuid4().hex}"

    def _commit(self, tmp: Path, target: Path) -> None:
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
        _fsync_dir(target.parent)


class BlobBatch:
    """Blobs written without a per-file fsync; ``sync()`` makes them all durable and visible.

    ``put`` / ``put_file`` return the sha256 at once; the blob is readable under its name only
    after ``sync()``. A batch that is dropped without ``sync()`` leaves temporary files only
    (``discard()`` removes them).
    """

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self._pending: dict[str, Path] = {}  # sha -> temporary file, not yet durable

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, data: bytes, sha: str | None = None) -> str:
        """Write ``data`` (sha256 ``sha`` when the caller has it) to a temporary file; no fsync."""
        sha = sha or sha256_bytes(data)
        if sha in self._pending or self.store.path(sha).is_file():
            return sha
        tmp = self.store._tmp_name()
        try:
            with open(tmp, "xb") as out:
                out.write(data)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        self._pending[sha] = tmp
        return sha

    def put_file(self, source: str | Path) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        tmp = self.store._tmp_file()
        try:
            with open(source, "rb") as src, open(tmp, "wb") as out:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        sha = digest.hexdigest()
        if sha in self._pending or self.store.path(sha).is_file():
            _unlink_quietly(tmp)
        else:
            self._pending[sha] = tmp
        return sha, size

    def sync(self) -> None:
        """Make every blob of the batch durable under its final name (two syncs in all)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        try:
            _sync_files(self.store.root, list(pending.values()))
            folders: set[Path] = set()
            for sha, tmp in pending.items():
                target = self.store.path(sha)
                if target.parent not in folders:
                    target.parent.mkdir(exist_ok=True)
                    folders.add(target.parent)
                os.replace(tmp, target)
            _sync_folders(self.store.root, sorted(folders))
        except BaseException:
            for tmp in pending.values():
                _unlink_quietly(tmp)
            raise

    def discard(self) -> None:
        for tmp in self._pending.values():
            _unlink_quietly(tmp)
        self._pending.clear()


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_UNLOADED: Callable[[int], int] = lambda fd: -1  # noqa: E731 - a marker, never called
_SYNCFS: Callable[[int], int] | None = _UNLOADED  # loaded on first use (ctypes costs idle RSS)


def _syncfs(root: Path) -> bool:
    """One sync of the whole file system holding ``root`` (Linux); False when unavailable."""
    global _SYNCFS
    if _SYNCFS is _UNLOADED:
        _SYNCFS = _load_syncfs()
    if _SYNCFS is None:
        return False
    fd = os.open(root, os.O_RDONLY)
    try:
        return _SYNCFS(fd) == 0
    finally:
        os.close(fd)


def _sync_files(root: Path, files: list[Path]) -> None:
    if _syncfs(root):
        return
    for path in files:
        fd = os.open(path, os.O_RDWR)  # Windows flushes only a file open for writing
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sync_folders(root: Path, folders: list[Path]) -> None:
    if _syncfs(root):
        return
    for folder in folders:
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; rename there is durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        log.warning("could not remove temporary blob %s", path)
