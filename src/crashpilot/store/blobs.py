"""A content-addressed blob store in a folder: ``<root>/ab/cdef...`` named by sha256.

Writes go to a temporary file in the same folder, are fsynced, then renamed into place, so a
crash mid-write never leaves a truncated blob under a valid name. Blobs are never deleted here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
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
        tmp_dir.mkdir(exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="blob-")
        os.close(fd)
        return Path(name)

    def _commit(self, tmp: Path, target: Path) -> None:
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
        _fsync_dir(target.parent)


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
