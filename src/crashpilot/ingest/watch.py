"""The folder watcher: new crash files are ingested once, as soon as they are complete.

Completion: on Linux inotify reports IN_CLOSE_WRITE (watchdog's ``closed`` event), so a written
file is taken at once; a file moved into the folder is complete when it appears. Polling (network
shares, ``poll=True``, or when inotify cannot start) and systems without a close event fall back
to "size and mtime unchanged for ``settle`` seconds". One worker thread does the waiting (it
sleeps until the next deadline, or indefinitely when nothing is pending) and the ingesting; an
error on one file is logged and the file quarantined, and the watcher goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from crashpilot.formats import parse_bytes
from crashpilot.ingest.batch import ingest_batch
from crashpilot.ingest.dumps import DEFAULT_SYMBOLS, SymbolOptions
from crashpilot.ingest.files import (
    IngestOptions,
    ingest_one,
    ingest_paths,
    is_dump,
    known_files,
    matches,
    quarantine_file,
    text_for_dump,
)
from crashpilot.ingest.intake import IngestResult, ParseFn
from crashpilot.ingest.limits import DEFAULT_LIMITS, Limits
from crashpilot.store.blobs import BlobStore

__all__ = ["WatchFolder", "Watcher", "ingest_paths"]

log = logging.getLogger(__name__)

OnIngested = Callable[[IngestResult], None]  # result.source is the file's path


@dataclass(frozen=True)
class WatchFolder:
    """A folder to watch, the file-name patterns taken from it, and whether to descend."""

    path: Path
    patterns: tuple[str, ...] = ("*",)
    recursive: bool = False


def _folder(item: WatchFolder | tuple[str | Path, str], recursive: bool) -> WatchFolder:
    if isinstance(item, WatchFolder):
        return WatchFolder(Path(item.path).expanduser().resolve(), item.patterns, item.recursive)
    path, glob = item
    patterns = tuple(p.strip() for p in glob.split(",") if p.strip()) or ("*",)
    return WatchFolder(Path(path).expanduser().resolve(), patterns, recursive)


class Watcher:
    """Watches ``folders`` and ingests each new or rewritten crash file once."""

    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        folders: Sequence[WatchFolder | tuple[str | Path, str]],
        *,
        recursive: bool = False,
        poll: bool = False,
        poll_interval: float = 1.0,
        settle_seconds: float = 1.0,
        dump_grace: float = 30.0,
        open_timeout: float = 300.0,
        on_ingested: OnIngested | None = None,
        limits: Limits = DEFAULT_LIMITS,
        repo: str | Path | None = None,
        in_app_paths: Sequence[str] = (),
        parse: ParseFn = parse_bytes,
        symbols: SymbolOptions = DEFAULT_SYMBOLS,
    ) -> None:
        """``folders``: WatchFolder items, or (path, glob) pairs that use ``recursive``; a glob
        may list several patterns separated by commas ("*.txt,*.dmp")."""
        self.engine, self.blobs = engine, blobs
        self.options = IngestOptions(limits, repo, tuple(in_app_paths), parse, symbols)
        self.folders = [_folder(f, recursive) for f in folders]
        self.settle, self.poll, self.poll_interval = settle_seconds, poll, poll_interval
        self.dump_grace, self.open_timeout = dump_grace, open_timeout
        self.on_ingested = on_ingested
        self.polling = poll
        self._cond = threading.Condition()
        self._ready: deque[Path] = deque()
        self._settling: dict[Path, tuple[int, int, float, float]] = {}  # size, mtime, since, quiet
        self._dumps: dict[Path, float] = {}  # dump -> deadline for its .txt to appear
        self._stopping = False
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start observing, then scan for files that arrived while stopped."""
        for folder in self.folders:
            folder.path.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        self._observer = self._start_observer()
        self._worker = threading.Thread(target=self._run, name="crashpilot-watch", daemon=True)
        self._worker.start()
        self.scan()

    def stop(self, timeout: float = 10.0) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
            self._observer = None
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_observer(self) -> BaseObserver:
        if not self.poll:
            observer: BaseObserver = Observer()
            try:
                self._schedule(observer)
                observer.start()
                return observer
            except OSError as exc:  # inotify watch limit, unsupported file system ...
                log.warning(
                    "native file events unavailable (%s); polling every %.1fs", exc, self.poll_interval
                )
                try:
                    observer.stop()
                except Exception:
                    pass
        self.polling = True
        observer = PollingObserver(timeout=self.poll_interval)
        self._schedule(observer)
        observer.start()
        return observer

    def _schedule(self, observer: BaseObserver) -> None:
        handler = _Handler(self)
        for folder in self.folders:
            observer.schedule(handler, str(folder.path), recursive=folder.recursive)

    # -- what the observer and the scan report -------------------------------------------

    def _wanted(self, path: Path) -> bool:
        for folder in self.folders:
            if path.parent == folder.path or (folder.recursive and folder.path in path.parents):
                return matches(path, folder.patterns) and not path.name.startswith(".")
        return False

    def file_complete(self, path: Path) -> None:
        """``path`` is fully written: ingest it (a dump waits for its text report)."""
        with self._cond:
            self._settling.pop(path, None)
            if is_dump(path):
                self._dumps.setdefault(path, time.monotonic() + self.dump_grace)
            else:
                self._ready.append(path)
            self._cond.notify()

    def file_changed(self, path: Path, quiet: float | None = None) -> None:
        """``path`` appeared or grew: take it once it has been quiet for ``quiet`` seconds."""
        try:
            st = path.stat()
        except OSError:
            return
        if quiet is None:
            quiet = self.settle if self.polling else self.open_timeout
        with self._cond:
            self._settling[path] = (st.st_size, st.st_mtime_ns, time.monotonic(), quiet)
            self._cond.notify()

    def scan(self) -> int:
        """Queue every wanted file that is new or changed since it was last taken in."""
        known = known_files(self.engine)
        queued = 0
        now = time.time()
        for folder in self.folders:
            walker = folder.path.rglob("*") if folder.recursive else folder.path.iterdir()
            for path in sorted(walker):
                if not self._wanted(path):
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue
                if not path.is_file() or known.get(str(path)) == (st.st_size, st.st_mtime_ns):
                    continue
                age = now - st.st_mtime_ns / 1e9
                if is_dump(path) and text_for_dump(path) is not None:
                    continue
                if age >= self.settle:
                    if is_dump(path) and age < self.dump_grace:
                        with self._cond:
                            self._dumps.setdefault(path, time.monotonic() + self.dump_grace - age)
                            self._cond.notify()
                    elif is_dump(path):
                        self._queue_dump_now(path)
                    else:
                        self.file_complete(path)
                else:
                    self.file_changed(path, quiet=self.settle)
                queued += 1
        return queued

    def _queue_dump_now(self, path: Path) -> None:
        with self._cond:
            self._dumps[path] = time.monotonic()
            self._cond.notify()

    # -- the worker thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._ready and not self._due():
                    self._cond.wait(self._wait_time())
                if self._stopping:
                    return
                batch = list(self._ready)
                self._ready.clear()
            if len(batch) > 1:
                self._take_many(batch)  # several pending: one sync and one transaction
            else:
                for path in batch:
                    self._take(path)

    def _take_many(self, paths: list[Path]) -> None:
        """Ingest several files as one batch; a file that fails alone is quarantined alone."""
        with self._cond:
            for path in paths:
                if path.suffix.lower() == ".txt":
                    self._dumps.pop(path.with_suffix(".dmp"), None)
        try:
            taken = ingest_batch(
                self.engine, self.blobs, list(dict.fromkeys(paths)), self.options, track=True
            )
        except Exception:
            log.exception("batch intake failed; taking %d files one by one", len(paths))
            for path in paths:
                self._take(path)
            return
        for t in taken:
            result = t.result
            if isinstance(t.error, FileNotFoundError):
                log.info("%s disappeared before it was read", t.path)
                continue
            if t.error is not None:
                log.error("intake failed on %s: %s", t.path, t.error)
                result = self._quarantine(t.path, f"intake error: {type(t.error).__name__}: {t.error}")
            if result is not None and self.on_ingested is not None:
                try:
                    self.on_ingested(result)
                except Exception:
                    log.exception("on_ingested callback failed for %s", t.path)

    def _wait_time(self) -> float | None:
        """Seconds until the next check is due; None (sleep until notified) when idle."""
        if not self._settling and not self._dumps:
            return None
        tick = max(0.05, min(self.settle / 4, 0.25)) if self._settling else None
        now = time.monotonic()
        next_dump = min(self._dumps.values()) - now if self._dumps else None
        waits = [w for w in (tick, next_dump) if w is not None]
        return max(0.01, min(waits))

    def _due(self) -> bool:
        """Move settled files and expired dumps to the ready queue (caller holds the lock)."""
        now = time.monotonic()
        for path, (size, mtime, since, quiet) in list(self._settling.items()):
            try:
                st = path.stat()
            except OSError:
                del self._settling[path]  # removed before it settled
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                self._settling[path] = (st.st_size, st.st_mtime_ns, now, quiet)
            elif now - since >= quiet:
                del self._settling[path]
                if is_dump(path):
                    self._dumps.setdefault(path, now + self.dump_grace)
                else:
                    self._ready.append(path)
        for path, deadline in list(self._dumps.items()):
            if deadline <= now:
                del self._dumps[path]
                if text_for_dump(path) is None:
                    self._ready.append(path)  # a lone dump: no text report came
        return bool(self._ready)

    def _take(self, path: Path) -> None:
        """Ingest one file; never lets an error escape the worker thread."""
        if path.suffix.lower() == ".txt":
            with self._cond:
                self._dumps.pop(path.with_suffix(".dmp"), None)
        try:
            result = ingest_one(self.engine, self.blobs, path, self.options, track=True)
        except FileNotFoundError:
            log.info("%s disappeared before it was read", path)
            return
        except Exception as exc:
            log.exception("intake failed on %s", path)
            result = self._quarantine(path, f"intake error: {type(exc).__name__}: {exc}")
        if result is None:
            return
        if self.on_ingested is not None:
            try:
                self.on_ingested(result)
            except Exception:
                log.exception("on_ingested callback failed for %s", path)

    def _quarantine(self, path: Path, reason: str) -> IngestResult | None:
        try:
            return quarantine_file(self.engine, self.blobs, path, " ".join(reason.split()))
        except Exception:
            log.exception("could not quarantine %s either", path)
            return None


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def _path(self, raw: str | bytes) -> Path | None:
        path = Path(raw.decode() if isinstance(raw, bytes) else raw)
        return path if self.watcher._wanted(path) else None

    def on_closed(self, event: FileSystemEvent) -> None:
        if not event.is_directory and (path := self._path(event.src_path)) is not None:
            self.watcher.file_complete(path)

    def on_created(self, event: FileSystemEvent) -> None:
        # A file renamed in from outside the folder shows up as created only (no close event):
        # it settles. A file being written gets modified events next and then waits for close.
        if not event.is_directory and (path := self._path(event.src_path)) is not None:
            self.watcher.file_changed(path, quiet=self.watcher.settle)

    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory and (path := self._path(event.src_path)) is not None:
            self.watcher.file_changed(path)

    def on_moved(self, event: FileSystemEvent) -> None:
        if event.is_directory or (path := self._path(event.dest_path)) is None:
            return
        if self.watcher.polling:
            self.watcher.file_changed(path)
        else:
            self.watcher.file_complete(path)  # a rename is atomic: the file is whole
