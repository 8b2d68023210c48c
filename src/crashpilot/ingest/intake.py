"""Take one input (bytes or a file) into the store: once, parsed and grouped, or quarantined.

The raw bytes are stored by sha256 first (never deleted). The same content twice is one report:
the second time only records a ``seen_again`` event. Empty, binary, over-size and unparseable
inputs become a ``quarantined`` crash_reports row with a one-line reason. A file holding several
reports gives one row per report: the first row carries the file's sha256, the others
``sha256(file_sha + "#<part>")``; every row's ``parsed`` JSON names the blob and its part.
Everything for one file happens in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from crashpilot.flow import Outcome
from crashpilot.formats import parse_bytes
from crashpilot.formats.text import looks_binary
from crashpilot.ingest.grouping import attach, inserted_id, record_event
from crashpilot.ingest.limits import DEFAULT_LIMITS, Kind, Limits, sniff_kind
from crashpilot.models import CrashReport
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore, sha256_bytes
from crashpilot.store.db import write_transaction

log = logging.getLogger(__name__)

ParseFn = Callable[..., list[CrashReport]]
HEAD = 8192


@dataclass(frozen=True)
class IngestResult:
    """What intake did with one input."""

    sha256: str
    size: int
    source: str
    duplicate: bool = False
    quarantined: bool = False
    reason: str | None = None
    report_ids: tuple[int, ...] = ()
    group_ids: tuple[int, ...] = ()
    outcomes: tuple[Outcome, ...] = ()  # one per grouped report: NEW_GROUP / KNOWN_GROUP / REGRESSED
    formats: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Row:
    """One crash_reports row to write: a parsed report, or a quarantine with its reason."""

    format: str | None
    report: CrashReport | None = None
    reason: str | None = None
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def ingest_bytes(
    engine: Engine,
    blobs: BlobStore,
    data: bytes,
    *,
    source: str,
    kind: Kind | None = None,
    limits: Limits = DEFAULT_LIMITS,
    repo: str | Path | None = None,
    in_app_paths: Sequence[str] = (),
    filename: str | None = None,
    companion_sha256: str | None = None,
    parse: ParseFn = parse_bytes,
) -> IngestResult:
    """Store ``data`` once, then parse and group it or quarantine it (see the module doc)."""
    sha = sha256_bytes(data)
    existing = _existing(engine, sha)
    if existing is not None:
        return _seen_again(engine, sha, len(data), source, existing)
    blobs.put(data)
    kind = kind or sniff_kind(data[:HEAD], filename)
    rows = _plan(data, kind, limits, repo, in_app_paths, filename, parse)
    return _store(engine, sha, len(data), source, filename, rows, companion_sha256)


def ingest_file(
    engine: Engine,
    blobs: BlobStore,
    path: str | Path,
    *,
    source: str | None = None,
    kind: Kind | None = None,
    limits: Limits = DEFAULT_LIMITS,
    repo: str | Path | None = None,
    in_app_paths: Sequence[str] = (),
    companion: str | Path | None = None,
    parse: ParseFn = parse_bytes,
) -> IngestResult:
    """Ingest the file at ``path``. Dumps and over-size files are streamed, never read whole.

    ``companion`` is a file stored beside this one (the ``.dmp`` of a Wheaty ``.txt``): it goes
    into the blob store and its sha256 onto the report.
    """
    path = Path(path)
    source = source or str(path)
    companion_sha = blobs.put_file(companion)[0] if companion is not None else None
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(HEAD)
    kind = kind or sniff_kind(head, path.name)
    if kind == "text" and size <= limits.text_max_bytes:
        data = path.read_bytes()
        return ingest_bytes(
            engine,
            blobs,
            data,
            source=source,
            kind=kind,
            limits=limits,
            repo=repo,
            in_app_paths=in_app_paths,
            filename=path.name,
            companion_sha256=companion_sha,
            parse=parse,
        )
    sha, size = blobs.put_file(path)
    existing = _existing(engine, sha)
    if existing is not None:
        return _seen_again(engine, sha, size, source, existing)
    if size > limits.max_bytes(kind):
        rows = [_Row(format=None, reason=_too_large(size, kind, limits))]
    else:
        rows = [_dump_row(head)]
    return _store(engine, sha, size, source, path.name, rows, companion_sha)


def part_sha(sha: str, part: int) -> str:
    """The crash_reports.sha256 of report ``part`` of the file ``sha`` (part 0 is the file's)."""
    return sha if part == 0 else hashlib.sha256(f"{sha}#{part}".encode()).hexdigest()


# -- deciding -----------------------------------------------------------------------------------


def _too_large(size: int, kind: Kind, limits: Limits) -> str:
    return f"too large: {size} bytes is over the {kind} limit of {limits.max_bytes(kind)} bytes"


def _dump_row(head: bytes) -> _Row:
    if head.startswith(b"\x7fELF"):
        return _Row(format="core", reason="core file: needs gdb and the matching binary (not symbolized yet)")
    return _Row(format="minidump", reason="minidump: needs a stackwalker (not symbolized yet)")


def _plan(
    data: bytes,
    kind: Kind,
    limits: Limits,
    repo: str | Path | None,
    in_app_paths: Sequence[str],
    filename: str | None,
    parse: ParseFn,
) -> list[_Row]:
    if not data.strip():
        return [_Row(format=None, reason="empty input")]
    if len(data) > limits.max_bytes(kind):
        return [_Row(format=None, reason=_too_large(len(data), kind, limits))]
    if kind == "dump":
        return [_dump_row(data[:HEAD])]
    if looks_binary(data):
        return [_Row(format=None, reason="binary data, not a crash text")]
    try:
        reports = parse(data, repo=repo, in_app_paths=in_app_paths)
    except Exception as exc:  # a parser bug must never stop intake: quarantine and go on
        log.exception("parser failed on %s", filename or "input")
        return [_Row(format=None, reason=_one_line(f"parser error: {exc!r}"))]
    if not reports:
        return [_Row(format=None, reason="no crash report found")]
    name_rev, dirty = _revision_from_filename(filename)
    rows = []
    for report in reports:
        if _unusable(report):
            rows.append(
                _Row(format=report.format, report=report, reason=_one_line(report.error or "unparseable"))
            )
            continue
        revision = report.revision or name_rev
        extra = {"revision_dirty": True} if (dirty and not report.revision) else {}
        rows.append(_Row(format=report.format, report=report, revision=revision, extra=extra))
    return rows


def _unusable(report: CrashReport) -> bool:
    return (report.format == "other" and report.error is not None) or not report.signature


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def _revision_from_filename(filename: str | None) -> tuple[str | None, bool]:
    if not filename:
        return None, False
    try:
        from crashpilot.formats.wheaty import revision_from_filename
    except ImportError:
        return None, False
    try:
        return revision_from_filename(filename)
    except Exception:
        log.exception("revision_from_filename failed")
        return None, False


# -- storing ------------------------------------------------------------------------------------


def _existing(engine: Engine, sha: str) -> tuple[int, str, int | None] | None:
    r = schema.crash_reports
    with engine.connect() as conn:
        row = conn.execute(sa.select(r.c.id, r.c.status, r.c.group_id).where(r.c.sha256 == sha)).first()
    return None if row is None else (int(row.id), str(row.status), row.group_id)


def _seen_again(
    engine: Engine, sha: str, size: int, source: str, existing: tuple[int, str, int | None]
) -> IngestResult:
    rid, status, gid = existing
    with write_transaction(engine) as conn:
        record_event(conn, "report", rid, "seen_again", detail={"source": source})
    return IngestResult(
        sha256=sha,
        size=size,
        source=source,
        duplicate=True,
        quarantined=status == "quarantined",
        report_ids=(rid,),
        group_ids=(gid,) if gid is not None else (),
    )


def _store(
    engine: Engine,
    sha: str,
    size: int,
    source: str,
    filename: str | None,
    rows: list[_Row],
    companion_sha256: str | None,
) -> IngestResult:
    for attempt in range(3):
        try:
            return _store_once(engine, sha, size, source, filename, rows, companion_sha256)
        except IntegrityError:
            # Another process stored the same file or created the same group meanwhile.
            if attempt == 2:
                raise
            existing = _existing(engine, sha)
            if existing is not None:
                return _seen_again(engine, sha, size, source, existing)
    raise AssertionError("unreachable")


def _store_once(
    engine: Engine,
    sha: str,
    size: int,
    source: str,
    filename: str | None,
    rows: list[_Row],
    companion_sha256: str | None,
) -> IngestResult:
    now = datetime.now(UTC)
    r = schema.crash_reports
    report_ids: list[int] = []
    group_ids: list[int] = []
    outcomes: list[Outcome] = []
    reasons = [row.reason for row in rows if row.reason]
    with write_transaction(engine) as conn:
        for part, row in enumerate(rows):
            parsed: dict[str, Any] | None = None
            if row.report is not None:
                parsed = row.report.to_json()
            meta = {"blob_sha256": sha, "part": part, "parts": len(rows), "filename": filename, **row.extra}
            parsed = {**(parsed or {}), **meta}
            status = "quarantined" if row.reason else "grouped"
            gid: int | None = None
            if row.reason is None and row.report is not None:
                gid, outcome = attach(conn, row.report, row.revision, now)
                group_ids.append(gid)
                outcomes.append(outcome)
            rid = inserted_id(
                conn.execute(
                    sa.insert(r).values(
                        sha256=part_sha(sha, part),
                        size=size,
                        source=source,
                        received_at=now,
                        format=row.format,
                        crash_kind=row.report.crash_kind if row.report else None,
                        signature=row.report.signature if (row.report and gid is not None) else None,
                        revision=row.revision,
                        parsed=parsed,
                        status=status,
                        reason=row.reason,
                        group_id=gid,
                        companion_sha256=companion_sha256,
                    )
                )
            )
            report_ids.append(int(rid))
            detail: dict[str, Any] = {"source": source}
            if gid is not None:
                detail["group"] = gid
            if row.reason:
                detail["reason"] = row.reason
            record_event(conn, "report", int(rid), "ingested", to_state=status, detail=detail)
    if reasons:
        log.info("quarantined %s: %s", source, reasons[0], extra={"report": report_ids[0]})
    return IngestResult(
        sha256=sha,
        size=size,
        source=source,
        quarantined=not group_ids,
        reason=reasons[0] if reasons else None,
        report_ids=tuple(report_ids),
        group_ids=tuple(group_ids),
        outcomes=tuple(outcomes),
        formats=tuple(row.format or "" for row in rows),
    )
