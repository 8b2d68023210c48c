"""Many crash files in one go: one blob sync and one transaction per batch.

For each batch: the text files are read once, hashed, looked up together (already stored ->
``seen_again``), their blobs written without a per-file fsync and parsed; then ONE durable sync
of the blobs (``BlobBatch.sync``), then ONE transaction writes every report, group update, event
and job (and, for the watcher, the ``watched_files`` ledger). The bytes are therefore durable
before any row naming them commits, exactly as in the one-file path. When that transaction
fails (a concurrent writer, a constraint, a bug), the batch is done again one file at a time, so
one bad file never loses the others. Dumps and over-size files take the one-file path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashpilot.ingest.grouping import record_events, report_event
from crashpilot.ingest.intake import (
    IngestResult,
    Planned,
    duplicate_result,
    existing_reports,
    log_quarantined,
    write_planned,
)
from crashpilot.ingest.limits import sniff_kind
from crashpilot.ingest.plan import HEAD, IngestOptions, plan_text
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore, sha256_bytes
from crashpilot.store.db import write_transaction

log = logging.getLogger(__name__)

DEFAULT_BATCH = 256


@dataclass(frozen=True)
class Taken:
    """What became of one file of a batch: a result, or None with the error (or None when a
    tracked file was unchanged and skipped)."""

    path: Path
    result: IngestResult | None
    error: Exception | None = None


@dataclass
class _File:
    path: Path
    stat: os.stat_result
    data: bytes
    sha: str
    companion: Path | None
    companion_sha: str | None = None


def ingest_batch(
    engine: Engine,
    blobs: BlobStore,
    paths: Sequence[Path],
    options: IngestOptions,
    *,
    track: bool = False,
) -> list[Taken]:
    """Ingest ``paths`` (one batch) and say what became of each, in order.

    With ``track``, files unchanged since the ``watched_files`` ledger saw them are skipped
    (result None) and the ledger is updated in the same transaction as the reports.
    """
    from crashpilot.ingest.files import ingest_one

    known = _ledger(engine, paths) if track else {}
    texts: list[_File] = []
    single: list[Path] = []
    skipped: list[Path] = []
    errors: dict[Path, Exception] = {}
    listings: dict[Path, set[str]] = {}
    for path in paths:
        try:
            st = path.stat()
            if track and known.get(str(path)) == (st.st_size, st.st_mtime_ns):
                skipped.append(path)
                continue
            if st.st_size > options.limits.text_max_bytes:
                single.append(path)
                continue
            data = path.read_bytes()
            if sniff_kind(data[:HEAD], path.name) != "text":
                single.append(path)
                continue
            texts.append(_File(path, st, data, sha256_bytes(data), _companion(path, listings)))
        except OSError as exc:
            errors[path] = exc
    done: dict[Path, Taken] = {p: Taken(p, None) for p in skipped}
    done.update({p: Taken(p, None, e) for p, e in errors.items()})
    if texts:
        try:
            done.update(_together(engine, blobs, texts, options, track))
        except Exception as exc:
            log.warning("batch of %d files failed (%s); taking them one by one", len(texts), exc)
            single = [f.path for f in texts] + single
    for path in single:
        try:
            done[path] = Taken(path, ingest_one(engine, blobs, path, options, track=track))
        except Exception as exc:
            done[path] = Taken(path, None, exc)
    return [done[p] for p in paths]


def _together(
    engine: Engine, blobs: BlobStore, files: list[_File], options: IngestOptions, track: bool
) -> dict[Path, Taken]:
    with engine.connect() as conn:
        existing = existing_reports(conn, [f.sha for f in files])
    batch = blobs.batch()
    fresh: dict[str, _File] = {}
    planned: list[Planned] = []
    try:
        for f in files:
            if f.companion is not None:
                f.companion_sha = batch.put_file(f.companion)[0]
            if f.sha in existing or f.sha in fresh:
                continue
            fresh[f.sha] = f
            batch.put(f.data, f.sha)
            rows = plan_text(f.data, "text", options, f.path.name, companion=f.companion)
            planned.append(Planned(f.sha, len(f.data), str(f.path), f.path.name, rows, f.companion_sha))
        batch.sync()  # the bytes are durable before any row that names them commits
    except BaseException:
        batch.discard()
        raise
    out: dict[Path, Taken] = {}
    with write_transaction(engine) as conn:
        results = dict(zip([p.sha for p in planned], write_planned(conn, planned), strict=True))
        again = []
        twice = [f.sha for f in files if f.sha not in existing and fresh[f.sha] is not f]
        stored_now = existing_reports(conn, twice) if twice else {}  # rows written just above
        for f in files:
            stored = existing.get(f.sha) or (stored_now.get(f.sha) if fresh[f.sha] is not f else None)
            if stored is not None:
                result = duplicate_result(f.sha, len(f.data), str(f.path), stored)
                again.append(report_event(stored[0], "seen_again", detail={"source": str(f.path)}))
            else:
                result = results[f.sha]
            out[f.path] = Taken(f.path, result)
        record_events(conn, again)
        if track:
            _remember_all(conn, files)
    for taken in out.values():
        if taken.result is not None and not taken.result.duplicate:
            log_quarantined(taken.result)
    return out


def _companion(path: Path, listings: dict[Path, set[str]]) -> Path | None:
    """The ``.dmp`` beside a ``.txt`` (as ``files.dump_companion``), from one listing per folder."""
    if path.suffix.lower() != ".txt":
        return None
    names = listings.get(path.parent)
    if names is None:
        try:
            names = set(os.listdir(path.parent))
        except OSError:
            names = set()
        listings[path.parent] = names
    for suffix in (".dmp", ".DMP"):
        candidate = path.with_suffix(suffix)
        if candidate.name in names and candidate.is_file():
            return candidate
    return None


def _ledger(engine: Engine, paths: Sequence[Path]) -> dict[str, tuple[int, int]]:
    w = schema.watched_files
    keys = [str(p) for p in paths]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(w.c.path, w.c.size, w.c.mtime_ns).where(w.c.path.in_(keys)))
        return {row.path: (row.size, row.mtime_ns) for row in rows}


def _remember_all(conn: Connection, files: list[_File]) -> None:
    w = schema.watched_files
    now = datetime.now(UTC)
    files = list({str(f.path): f for f in files}.values())  # a path queued twice is one row
    keys = [str(f.path) for f in files]
    present = set(conn.execute(sa.select(w.c.path).where(w.c.path.in_(keys))).scalars())
    updates = [
        {
            "key": str(f.path),
            "size": f.stat.st_size,
            "mtime_ns": f.stat.st_mtime_ns,
            "sha256": f.sha,
            "seen_at": now,
        }
        for f in files
        if str(f.path) in present
    ]
    inserts = [
        {
            "path": str(f.path),
            "size": f.stat.st_size,
            "mtime_ns": f.stat.st_mtime_ns,
            "sha256": f.sha,
            "seen_at": now,
        }
        for f in files
        if str(f.path) not in present
    ]
    if updates:
        conn.execute(
            sa.update(w)
            .where(w.c.path == sa.bindparam("key"))
            .values(
                size=sa.bindparam("size"),
                mtime_ns=sa.bindparam("mtime_ns"),
                sha256=sa.bindparam("sha256"),
                seen_at=sa.bindparam("seen_at"),
            ),
            updates,
        )
    if inserts:
        conn.execute(sa.insert(w), inserts)
