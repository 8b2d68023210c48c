"""Attach a stored report to its crash group: create it, count it, or mark it regressed.

Runs inside the caller's transaction; every look-up goes through a unique index (signature).
``GroupCache`` serves a batch of reports in one transaction: a crash storm costs one indexed
select and one update per group and batch, not per report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
    groups = GroupCache(conn, now)
    found = groups.attach(report, revision)
    groups.flush()
    return found


@dataclass
class _Seen:
    """A group touched in this transaction, and what is still to be written to its row."""

    id: int
    status: str
    revisions: list[str]
    last_seen: datetime
    count_add: int = 0
    revisions_changed: bool = False
    status_changed: str | None = None  # the status_reason of a regression


class GroupCache:
    """Groups by signature for one transaction: each group is read once and updated once.

    ``attach`` gives the same answers, report after report, as one transaction per report
    would; ``flush`` (before commit) writes each touched group's count, last_seen, revisions and
    status in one UPDATE.
    """

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn, self.now = conn, now
        self._seen: dict[str, _Seen] = {}

    def attach(self, report: CrashReport, revision: str | None) -> tuple[int, Outcome]:
        g = schema.crash_groups
        seen = self._seen.get(report.signature)
        if seen is None:
            row = self.conn.execute(
                sa.select(g.c.id, g.c.status, g.c.revisions, g.c.last_seen).where(
                    g.c.signature == report.signature
                )
            ).first()
            if row is None:
                gid = self._create(report, revision)
                self._seen[report.signature] = _Seen(gid, "new", [revision] if revision else [], self.now)
                return gid, Outcome.NEW_GROUP
            seen = _Seen(int(row.id), str(row.status), list(row.revisions or []), as_utc(row.last_seen))
            self._seen[report.signature] = seen
        seen.count_add += 1
        if revision and revision not in seen.revisions:
            seen.revisions = (seen.revisions + [revision])[-MAX_REVISIONS:]
            seen.revisions_changed = True
        if seen.status != "fixed":
            return seen.id, Outcome.KNOWN_GROUP
        seen.status = "regressed"
        seen.status_changed = f"seen again after the fix (revision {revision or 'unknown'})"
        record_event(
            self.conn,
            "group",
            seen.id,
            "regressed",
            from_state="fixed",
            to_state="regressed",
            detail={"revision": revision},
        )
        enqueue(self.conn, Stage.ANALYSE.value, group_id=seen.id, payload={"reason": Outcome.REGRESSED.value})
        return seen.id, Outcome.REGRESSED

    def flush(self) -> None:
        """Write what ``attach`` counted; call once, inside the transaction, before commit."""
        g = schema.crash_groups
        for seen in self._seen.values():
            if not (seen.count_add or seen.revisions_changed or seen.status_changed):
                continue
            values: dict[str, Any] = {"count": g.c.count + seen.count_add, "updated_at": self.now}
            if seen.last_seen < self.now:
                values["last_seen"] = self.now
            if seen.revisions_changed:
                values["revisions"] = seen.revisions
            if seen.status_changed:
                values["status"] = "regressed"
                values["status_reason"] = seen.status_changed
            self.conn.execute(sa.update(g).where(g.c.id == seen.id).values(**values))
            seen.count_add, seen.revisions_changed, seen.status_changed = 0, False, None
            seen.last_seen = max(seen.last_seen, self.now)

    def _create(self, report: CrashReport, revision: str | None) -> int:
        g = schema.crash_groups
        gid = inserted_id(
            self.conn.execute(
                sa.insert(g).values(
                    signature=report.signature,
                    status="new",
                    crash_kind=report.crash_kind or report.exception_code,
                    title=group_title(report),
                    count=1,
                    first_seen=self.now,
                    last_seen=self.now,
                    revisions=[revision] if revision else [],
                    updated_at=self.now,
                )
            )
        )
        record_event(
            self.conn, "group", gid, "created", to_state="new", detail={"signature": report.signature}
        )
        enqueue(self.conn, Stage.ANALYSE.value, group_id=gid, payload={"reason": Outcome.NEW_GROUP.value})
        return gid


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


def report_event(
    entity_id: int,
    kind: str,
    *,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An events row of the ``ingest`` actor, for one ``executemany`` insert of many."""
    return {
        "at": datetime.now(UTC),
        "entity": "report",
        "entity_id": entity_id,
        "kind": kind,
        "from_state": None,
        "to_state": to_state,
        "actor": ACTOR,
        "detail": detail,
    }


def record_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the events rows built by ``report_event`` with one statement."""
    if rows:
        conn.execute(schema.events.insert(), rows)


def inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every insert here has an integer primary key
        raise RuntimeError("insert returned no primary key")
    return int(key[0])
