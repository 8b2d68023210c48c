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
from crashpilot.signature.fuzzy import fuzzy_fields, join_new_group
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
    seen, outcome = groups.attach(report, revision)
    groups.flush()
    return seen.gid, outcome


@dataclass
class Seen:
    """A group touched in this transaction, and what is still to be written to its row.

    ``id`` is None for a group created in this transaction until ``GroupCache.flush``."""

    id: int | None
    status: str
    revisions: list[str]
    last_seen: datetime
    count_add: int = 0
    revisions_changed: bool = False
    status_changed: str | None = None  # the status_reason of a regression
    created: dict[str, Any] | None = None  # the crash_groups row to insert
    report: CrashReport | None = None  # the report that created the group (for the fuzzy stage)

    @property
    def gid(self) -> int:
        if self.id is None:
            raise RuntimeError("group id asked before GroupCache.flush()")
        return self.id


_SELECT_COLUMNS = (
    schema.crash_groups.c.signature,
    schema.crash_groups.c.id,
    schema.crash_groups.c.status,
    schema.crash_groups.c.revisions,
    schema.crash_groups.c.last_seen,
)


class GroupCache:
    """Groups by signature for one transaction: each group is read once and written once.

    ``attach`` gives the same answers, report after report, as one transaction per report
    would. ``prefetch`` reads many groups with one query. ``flush`` (before commit) inserts the
    new groups with one statement (their ``created`` events with another, then one ANALYSE job
    each) and writes each known group's count, last_seen, revisions and status in one UPDATE.
    """

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn, self.now = conn, now
        self._seen: dict[str, Seen] = {}
        self._looked_up: set[str] = set()

    def prefetch(self, signatures: list[str]) -> None:
        g = schema.crash_groups
        wanted = [s for s in dict.fromkeys(signatures) if s not in self._seen and s not in self._looked_up]
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            self._looked_up.update(chunk)
            for row in self.conn.execute(sa.select(*_SELECT_COLUMNS).where(g.c.signature.in_(chunk))):
                self._remember(row)

    def _remember(self, row: Any) -> Seen:
        seen = Seen(int(row.id), str(row.status), list(row.revisions or []), as_utc(row.last_seen))
        self._seen[str(row.signature)] = seen
        return seen

    def attach(self, report: CrashReport, revision: str | None) -> tuple[Seen, Outcome]:
        """The group of ``report`` (its id is known after ``flush``) and what happened."""
        g = schema.crash_groups
        sig = report.signature
        seen = self._seen.get(sig)
        if seen is None and sig not in self._looked_up:
            row = self.conn.execute(sa.select(*_SELECT_COLUMNS).where(g.c.signature == sig)).first()
            self._looked_up.add(sig)
            seen = self._remember(row) if row is not None else None
        if seen is None:
            seen = Seen(
                None,
                "new",
                [revision] if revision else [],
                self.now,
                created=self._new_row(report, revision),
                report=report,
            )
            self._seen[sig] = seen
            return seen, Outcome.NEW_GROUP
        seen.count_add += 1
        if revision and revision not in seen.revisions:
            seen.revisions = (seen.revisions + [revision])[-MAX_REVISIONS:]
            seen.revisions_changed = True
        if seen.status != "fixed":
            return seen, Outcome.KNOWN_GROUP
        seen.status = "regressed"
        seen.status_changed = f"seen again after the fix (revision {revision or 'unknown'})"
        record_event(
            self.conn,
            "group",
            seen.gid,
            "regressed",
            from_state="fixed",
            to_state="regressed",
            detail={"revision": revision},
        )
        enqueue(
            self.conn, Stage.ANALYSE.value, group_id=seen.gid, payload={"reason": Outcome.REGRESSED.value}
        )
        return seen, Outcome.REGRESSED

    def flush(self) -> None:
        """Write what ``attach`` found; call inside the transaction, before commit."""
        g = schema.crash_groups
        new = [seen for seen in self._seen.values() if seen.created is not None]
        if new:
            rows = [seen.created for seen in new if seen.created is not None]
            ids = self.conn.execute(
                g.insert().returning(g.c.id, sort_by_parameter_order=True), rows
            ).scalars()
            for seen, gid in zip(new, ids, strict=True):
                seen.id, seen.created = int(gid), None
            self.conn.execute(
                schema.events.insert(),
                [
                    _event(
                        "group", seen.gid, "created", to_state="new", detail={"signature": row["signature"]}
                    )
                    for seen, row in zip(new, rows, strict=True)
                ],
            )
            for seen in new:
                # The fuzzy stage: a near-identical open group takes the new one in; the work
                # (ANALYSE and on) stays with that group, so none is queued for this one.
                join = join_new_group(self.conn, seen.gid, seen.report, now=self.now) if seen.report else None
                if join is not None:
                    reason = f"joined group {join.target_id}: {join.reason}"
                    self.conn.execute(
                        sa.update(g).where(g.c.id == seen.gid).values(status="merged", status_reason=reason)
                    )
                    seen.status = "merged"
                    continue
                enqueue(
                    self.conn,
                    Stage.ANALYSE.value,
                    group_id=seen.gid,
                    payload={"reason": Outcome.NEW_GROUP.value},
                )
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
            self.conn.execute(sa.update(g).where(g.c.id == seen.gid).values(**values))
            seen.count_add, seen.revisions_changed, seen.status_changed = 0, False, None
            seen.last_seen = max(seen.last_seen, self.now)

    def _new_row(self, report: CrashReport, revision: str | None) -> dict[str, Any]:
        return {
            "signature": report.signature,
            "status": "new",
            "crash_kind": report.crash_kind or report.exception_code,
            "title": group_title(report),
            "count": 1,
            "first_seen": self.now,
            "last_seen": self.now,
            "revisions": [revision] if revision else [],
            "updated_at": self.now,
            **fuzzy_fields(report),
        }


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
    return _event("report", entity_id, kind, to_state=to_state, detail=detail)


def _event(
    entity: str,
    entity_id: int,
    kind: str,
    *,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC),
        "entity": entity,
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
