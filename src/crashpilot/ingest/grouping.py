"""Attach a stored report to its crash group: create it, count it, or mark it regressed.

Runs inside the caller's transaction; every look-up goes through a unique index (signature),
so a crash storm of thousands of reports costs one indexed select and one update each.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot.flow import Outcome, Stage
from crashpilot.models import CrashReport
from crashpilot.store import events, queue, schema

log = logging.getLogger(__name__)

ACTOR = "ingest"
MAX_REVISIONS = 200  # a group keeps the newest revisions it was seen in, not an unbounded list


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: they were written as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def group_title(report: CrashReport) -> str:
    kind = report.crash_kind or report.exception_code or "crash"
    frame = report.first_app_frame
    if frame is not None and frame.function:
        where = frame.function
        if frame.file:
            where += f" ({frame.file.replace(chr(92), '/').rsplit('/', 1)[-1]}:{frame.line or '?'})"
        return f"{kind} in {where}"[:300]
    return (report.signature or kind)[:300]


def attach(conn: Connection, report: CrashReport, revision: str | None, now: datetime) -> tuple[int, Outcome]:
    """The group id for ``report`` and what happened: NEW_GROUP, KNOWN_GROUP or REGRESSED."""
    g = schema.crash_groups
    row = conn.execute(
        sa.select(g.c.id, g.c.status, g.c.revisions, g.c.last_seen).where(g.c.signature == report.signature)
    ).first()
    if row is None:
        gid = inserted_id(
            conn.execute(
                sa.insert(g).values(
                    signature=report.signature,
                    status="new",
                    crash_kind=report.crash_kind or report.exception_code,
                    title=group_title(report),
                    count=1,
                    first_seen=now,
                    last_seen=now,
                    revisions=[revision] if revision else [],
                    updated_at=now,
                )
            )
        )
        record_event(conn, "group", gid, "created", to_state="new", detail={"signature": report.signature})
        enqueue(conn, Stage.ANALYSE.value, group_id=gid, payload={"reason": Outcome.NEW_GROUP.value})
        return int(gid), Outcome.NEW_GROUP

    gid, status = int(row.id), str(row.status)
    values: dict[str, Any] = {"count": g.c.count + 1, "updated_at": now}
    if as_utc(row.last_seen) < now:
        values["last_seen"] = now
    revisions = list(row.revisions or [])
    if revision and revision not in revisions:
        values["revisions"] = (revisions + [revision])[-MAX_REVISIONS:]
    outcome = Outcome.KNOWN_GROUP
    if status == "fixed":
        values["status"] = "regressed"
        values["status_reason"] = f"seen again after the fix (revision {revision or 'unknown'})"
        outcome = Outcome.REGRESSED
    conn.execute(sa.update(g).where(g.c.id == gid).values(**values))
    if outcome is Outcome.REGRESSED:
        record_event(
            conn,
            "group",
            gid,
            "regressed",
            from_state=status,
            to_state="regressed",
            detail={"revision": revision},
        )
        enqueue(conn, Stage.ANALYSE.value, group_id=gid, payload={"reason": Outcome.REGRESSED.value})
    return gid, outcome


def record_event(
    conn: Connection,
    entity: str,
    entity_id: int,
    kind: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append to the events log as the ``ingest`` actor."""
    events.record_event(
        conn, entity, entity_id, kind, from_state=from_state, to_state=to_state, actor=ACTOR, detail=detail
    )


def enqueue(conn: Connection, stage: str, *, group_id: int, payload: dict[str, Any]) -> None:
    """Queue a job in the caller's transaction (the INGEST -> ANALYSE edge)."""
    queue.enqueue(conn, stage, group_id=group_id, payload=payload, actor=ACTOR)


def inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every insert here has an integer primary key
        raise RuntimeError("insert returned no primary key")
    return int(key[0])
