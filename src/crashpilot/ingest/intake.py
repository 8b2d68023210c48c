"""Take one input (bytes or a file) into the store: once, parsed and grouped, or quarantined.

The raw bytes are stored by sha256 first (never deleted), and are durable before the row that
names them commits. The same content twice is one report: the second time only records a
``seen_again`` event. Empty, binary, over-size and unparseable inputs become a ``quarantined``
crash_reports row with a one-line reason. A dump (minidump, core file) is symbolized
(``crashpilot.ingest.dumps``) and grouped like a text report. A file holding several reports gives
one row per report: the first row carries the file's sha256, the others
``sha256(file_sha + "#<part>")``; every row's ``parsed`` JSON names the blob and its part.
Everything for one file happens in one transaction (``crashpilot.ingest.batch`` stores many files
in one).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from crashpilot.flow import Outcome
from crashpilot.formats import parse_bytes
from crashpilot.ingest.dumps import DEFAULT_SYMBOLS, SymbolOptions
from crashpilot.ingest.grouping import GroupCache, Seen, record_event, record_events, report_event
from crashpilot.ingest.limits import DEFAULT_LIMITS, Kind, Limits, sniff_kind
from crashpilot.ingest.plan import HEAD, IngestOptions, ParseFn, Row, plan_dump, plan_text, too_large
from crashpilot.signature import current_depth
from crashpilot.signature.rules import rules_version
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore, sha256_bytes
from crashpilot.store.db import write_transaction

log = logging.getLogger(__name__)

__all__ = ["IngestOptions", "IngestResult", "ParseFn", "ingest_bytes", "ingest_file", "part_sha"]


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
class Planned:
    """One input, its bytes stored, its rows decided: ready to be written."""

    sha: str
    size: int
    source: str
    filename: str | None
    rows: list[Row]
    companion_sha256: str | None = None


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
    symbols: SymbolOptions = DEFAULT_SYMBOLS,
) -> IngestResult:
    """Store ``data`` once, then parse and group it or quarantine it (see the module doc)."""
    sha = sha256_bytes(data)
    existing = _existing(engine, sha)
    if existing is not None:
        return _seen_again(engine, sha, len(data), source, existing)
    blobs.put(data)
    kind = kind or sniff_kind(data[:HEAD], filename)
    options = IngestOptions(limits, repo, tuple(in_app_paths), parse, symbols)
    companion = blobs.path(companion_sha256) if companion_sha256 else None
    rows = plan_text(data, kind, options, filename, dump_path=blobs.path(sha), companion=companion)
    return _store(engine, Planned(sha, len(data), source, filename, rows, companion_sha256))


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
    symbols: SymbolOptions = DEFAULT_SYMBOLS,
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
        return ingest_bytes(
            engine,
            blobs,
            path.read_bytes(),
            source=source,
            kind=kind,
            limits=limits,
            repo=repo,
            in_app_paths=in_app_paths,
            filename=path.name,
            companion_sha256=companion_sha,
            parse=parse,
            symbols=symbols,
        )
    sha, size = blobs.put_file(path)
    existing = _existing(engine, sha)
    if existing is not None:
        return _seen_again(engine, sha, size, source, existing)
    if size > limits.max_bytes(kind):
        rows = [Row(format=None, reason=too_large(size, kind, limits))]
    elif kind == "dump":
        options = IngestOptions(limits, repo, tuple(in_app_paths), parse, symbols)
        rows = plan_dump(blobs.path(sha), path.name, options, head=head)
    else:  # pragma: no cover - a text within the limit was read above
        rows = [Row(format=None, reason="unreadable input")]
    return _store(engine, Planned(sha, size, source, path.name, rows, companion_sha))


def part_sha(sha: str, part: int) -> str:
    """The crash_reports.sha256 of report ``part`` of the file ``sha`` (part 0 is the file's)."""
    return sha if part == 0 else hashlib.sha256(f"{sha}#{part}".encode()).hexdigest()


# -- storing ------------------------------------------------------------------------------------


def existing_reports(conn: Connection, shas: Sequence[str]) -> dict[str, tuple[int, str, int | None]]:
    """sha256 -> (report id, status, group id) of the reports already stored."""
    r = schema.crash_reports
    found: dict[str, tuple[int, str, int | None]] = {}
    unique = list(dict.fromkeys(shas))
    for i in range(0, len(unique), 500):
        chunk = unique[i : i + 500]
        query = sa.select(r.c.sha256, r.c.id, r.c.status, r.c.group_id).where(r.c.sha256.in_(chunk))
        for row in conn.execute(query):
            found[row.sha256] = (int(row.id), str(row.status), row.group_id)
    return found


def _existing(engine: Engine, sha: str) -> tuple[int, str, int | None] | None:
    with engine.connect() as conn:
        return existing_reports(conn, [sha]).get(sha)


def duplicate_result(sha: str, size: int, source: str, existing: tuple[int, str, int | None]) -> IngestResult:
    rid, status, gid = existing
    return IngestResult(
        sha256=sha,
        size=size,
        source=source,
        duplicate=True,
        quarantined=status == "quarantined",
        report_ids=(rid,),
        group_ids=(gid,) if gid is not None else (),
    )


def _seen_again(
    engine: Engine, sha: str, size: int, source: str, existing: tuple[int, str, int | None]
) -> IngestResult:
    with write_transaction(engine) as conn:
        record_event(conn, "report", existing[0], "seen_again", detail={"source": source})
    return duplicate_result(sha, size, source, existing)


def _store(engine: Engine, item: Planned) -> IngestResult:
    for attempt in range(3):
        try:
            with write_transaction(engine) as conn:
                (result,) = write_planned(conn, [item])
            log_quarantined(result)
            return result
        except IntegrityError:
            # Another process stored the same file or created the same group meanwhile.
            if attempt == 2:
                raise
            existing = _existing(engine, item.sha)
            if existing is not None:
                return _seen_again(engine, item.sha, item.size, item.source, existing)
    raise AssertionError("unreachable")


def log_quarantined(result: IngestResult) -> None:
    if result.reason:
        log.info("quarantined %s: %s", result.source, result.reason, extra={"report": result.report_ids[0]})


def write_planned(conn: Connection, items: Sequence[Planned]) -> list[IngestResult]:
    """Write the rows of ``items`` in the caller's transaction: groups read and updated once per
    signature, one multi-row insert of reports, one of events."""
    now = datetime.now(UTC)
    r = schema.crash_reports
    groups = GroupCache(conn, now)
    groups.prefetch(
        [row.report.signature for item in items for row in item.rows if row.report and row.grouped]
    )
    values: list[dict[str, Any]] = []
    attached: list[tuple[Seen | None, Outcome | None]] = []
    signed_with = rules_version(current_depth())  # lets `crashpilot resign` tell stale signatures
    for item in items:
        for part, row in enumerate(item.rows):
            seen, outcome = groups.attach(row.report, row.revision) if row.grouped else (None, None)  # type: ignore[arg-type]
            attached.append((seen, outcome))
            meta = {"blob_sha256": item.sha, "part": part, "parts": len(item.rows), "filename": item.filename}
            if row.grouped:
                meta["signature_rules"] = signed_with
            parsed = {**(row.report.to_json() if row.report else {}), **meta, **row.extra}
            values.append(
                {
                    "sha256": part_sha(item.sha, part),
                    "size": item.size,
                    "source": item.source,
                    "received_at": now,
                    "format": row.format,
                    "crash_kind": row.report.crash_kind if row.report else None,
                    "signature": row.report.signature if (row.report and seen is not None) else None,
                    "revision": row.revision,
                    "parsed": parsed,
                    "status": "grouped" if seen is not None else "quarantined",
                    "reason": row.reason,
                    "group_id": None,
                    "companion_sha256": item.companion_sha256,
                }
            )
    groups.flush()  # new groups get their ids here
    for row_values, (seen, _) in zip(values, attached, strict=True):
        row_values["group_id"] = seen.gid if seen is not None else None
    ids = [
        int(i)
        for i in conn.execute(sa.insert(r).returning(r.c.id, sort_by_parameter_order=True), values).scalars()
    ]
    events = []
    for rid, row_values in zip(ids, values, strict=True):
        detail: dict[str, Any] = {"source": row_values["source"]}
        if row_values["group_id"] is not None:
            detail["group"] = row_values["group_id"]
        if row_values["reason"]:
            detail["reason"] = row_values["reason"]
        events.append(report_event(rid, "ingested", to_state=row_values["status"], detail=detail))
    record_events(conn, events)
    results, at = [], 0
    for item in items:
        n = len(item.rows)
        mine = attached[at : at + n]
        report_ids = tuple(ids[at : at + n])
        at += n
        group_ids = tuple(seen.gid for seen, _ in mine if seen is not None)
        reasons = [row.reason for row in item.rows if row.reason]
        results.append(
            IngestResult(
                sha256=item.sha,
                size=item.size,
                source=item.source,
                quarantined=not group_ids,
                reason=reasons[0] if reasons else None,
                report_ids=report_ids,
                group_ids=group_ids,
                outcomes=tuple(o for _, o in mine if o is not None),
                formats=tuple(row.format or "" for row in item.rows),
            )
        )
    return results
