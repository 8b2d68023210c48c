"""Files on disk into intake: Wheaty ``.txt``/``.dmp`` pairing, the ``watched_files`` ledger,
and ``ingest_paths`` for ``crashpilot ingest PATH...``.

TrinityCore writes ``<name>.dmp`` first and ``<name>.txt`` after it: the text report carries the
dump as its companion blob; a dump with no text beside it is ingested alone (not parsed yet).
Files are only ever read: never moved, renamed or deleted.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.formats import parse_bytes
from crashpilot.ingest.dumps import DEFAULT_SYMBOLS, SymbolOptions
from crashpilot.ingest.intake import IngestResult, Planned, _store, ingest_file
from crashpilot.ingest.limits import DEFAULT_LIMITS, Limits, is_dump_name
from crashpilot.ingest.plan import IngestOptions, ParseFn, Row
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore

log = logging.getLogger(__name__)

__all__ = [
    "IngestOptions",
    "dump_companion",
    "expand",
    "ingest_one",
    "ingest_paths",
    "is_dump",
    "known_files",
    "matches",
    "quarantine_file",
    "remember",
    "text_for_dump",
]

TEXT_SUFFIX = ".txt"
DUMP_SUFFIX = ".dmp"

Progress = Callable[[int, int, Path, "IngestResult | None"], None]


def matches(path: Path, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(path.name, p) for p in patterns)


def dump_companion(path: Path) -> Path | None:
    """The ``.dmp`` beside a ``.txt`` report (same stem), if there is one."""
    if path.suffix.lower() != TEXT_SUFFIX:
        return None
    for suffix in (DUMP_SUFFIX, DUMP_SUFFIX.upper()):
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def text_for_dump(path: Path) -> Path | None:
    """The ``.txt`` beside a ``.dmp`` (same stem), if there is one."""
    for suffix in (TEXT_SUFFIX, TEXT_SUFFIX.upper()):
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def is_dump(path: Path) -> bool:
    return is_dump_name(path.name)


def ingest_one(
    engine: Engine,
    blobs: BlobStore,
    path: Path,
    options: IngestOptions | None = None,
    *,
    track: bool = True,
) -> IngestResult | None:
    """Ingest ``path`` (with its dump companion). With ``track``, an unchanged file already in
    ``watched_files`` is skipped (returns None) and the ledger is updated afterwards."""
    options = options or IngestOptions()
    st = path.stat()
    if track and _unchanged(engine, path, st):
        return None
    result = ingest_file(
        engine,
        blobs,
        path,
        limits=options.limits,
        repo=options.repo,
        in_app_paths=options.in_app_paths,
        companion=dump_companion(path),
        parse=options.parse,
        symbols=options.symbols,
    )
    if track:
        remember(engine, path, st.st_size, st.st_mtime_ns, result.sha256)
    return result


def quarantine_file(engine: Engine, blobs: BlobStore, path: Path, reason: str) -> IngestResult:
    """Keep ``path``'s bytes and record it as quarantined with ``reason`` (used when intake itself
    failed on it)."""
    sha, size = blobs.put_file(path)
    return _store(engine, Planned(sha, size, str(path), path.name, [Row(format=None, reason=reason[:500])]))


def remember(engine: Engine, path: Path, size: int, mtime_ns: int, sha: str | None) -> None:
    w = schema.watched_files
    key = str(path)
    values = {"size": size, "mtime_ns": mtime_ns, "sha256": sha, "seen_at": datetime.now(UTC)}
    with engine.begin() as conn:
        done = conn.execute(sa.update(w).where(w.c.path == key).values(**values)).rowcount
        if not done:
            conn.execute(sa.insert(w).values(path=key, **values))


def known_files(engine: Engine) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime_ns) of every file the watcher has taken in."""
    w = schema.watched_files
    with engine.connect() as conn:
        return {
            row.path: (row.size, row.mtime_ns)
            for row in conn.execute(sa.select(w.c.path, w.c.size, w.c.mtime_ns))
        }


def _unchanged(engine: Engine, path: Path, st: os.stat_result) -> bool:
    w = schema.watched_files
    with engine.connect() as conn:
        row = conn.execute(sa.select(w.c.size, w.c.mtime_ns).where(w.c.path == str(path))).first()
    return row is not None and (row.size, row.mtime_ns) == (st.st_size, st.st_mtime_ns)


def expand(
    paths: Iterable[str | Path], patterns: Sequence[str] = ("*",), recursive: bool = True
) -> Iterator[Path]:
    """Files named by ``paths``: files as given, folders walked (sorted, hidden names skipped)."""
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            yield p
            continue
        if not p.is_dir():
            log.warning("not a file or folder: %s", p)
            continue
        walker = sorted(p.rglob("*")) if recursive else sorted(p.iterdir())
        for child in walker:
            if child.name.startswith(".") or not child.is_file() or not matches(child, patterns):
                continue
            yield child


def ingest_paths(
    engine: Engine,
    blobs: BlobStore,
    paths: Iterable[str | Path],
    *,
    progress: Progress | None = None,
    recursive: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    repo: str | Path | None = None,
    in_app_paths: Sequence[str] = (),
    parse: ParseFn = parse_bytes,
    symbols: SymbolOptions = DEFAULT_SYMBOLS,
    batch_size: int = 0,
) -> list[IngestResult]:
    """Ingest files and folders once each (``crashpilot ingest PATH...``).

    A ``.dmp`` with a ``.txt`` beside it travels with the text; a lone dump is ingested alone.
    Files are taken ``batch_size`` at a time (0 = the default batch) with one durable sync and
    one transaction per batch (see ``crashpilot.ingest.batch``). ``progress(done, total, path,
    result_or_None)`` is called after every file; a file that cannot be read is logged and
    skipped (result None), the others go on.
    """
    from crashpilot.ingest.batch import DEFAULT_BATCH, ingest_batch

    options = IngestOptions(limits, repo, tuple(in_app_paths), parse, symbols)
    files = list(dict.fromkeys(expand(paths, recursive=recursive)))
    size = batch_size if batch_size > 0 else DEFAULT_BATCH
    results: list[IngestResult] = []
    done = 0
    for start in range(0, len(files), size):
        chunk = files[start : start + size]
        wanted = [p for p in chunk if not (is_dump(p) and text_for_dump(p) is not None)]
        taken = {t.path: t for t in ingest_batch(engine, blobs, wanted, options)}
        for path in chunk:
            done += 1
            result: IngestResult | None = None
            t = taken.get(path)  # None: a dump stored as the companion of its .txt
            if t is not None and t.error is not None:
                if not isinstance(t.error, OSError):
                    raise t.error
                log.error("cannot read %s: %s", path, t.error)
            elif t is not None:
                result = t.result
            if result is not None:
                results.append(result)
            if progress is not None:
                progress(done, len(files), path, result)
    return results
