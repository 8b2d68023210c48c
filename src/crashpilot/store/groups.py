"""Read-side queries on crash groups for the CLI, the dashboard and the API (plain dicts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from crashpilot.store import schema


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite returns naive datetimes: they were stored as UTC)."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def _group(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "signature": row["signature"],
        "count": row["count"],
        "status": row["status"],
        "first_seen": iso(row["first_seen"]),
        "last_seen": iso(row["last_seen"]),
        "crash_kind": row["crash_kind"],
        "title": row["title"],
        "revisions": list(row["revisions"] or []),
        "status_reason": row["status_reason"],
        "merged_into": row["merged_into"],
        "branch": row["branch"],
        "pr_url": row["pr_url"],
    }


def list_groups(
    conn: Connection, *, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Groups, most recently seen first."""
    g = schema.crash_groups
    query = sa.select(g).order_by(g.c.last_seen.desc(), g.c.id.desc())
    if status is not None:
        query = query.where(g.c.status == status)
    if limit is not None:
        query = query.limit(limit)
    return [_group(row) for row in conn.execute(query).mappings()]


def get_group(conn: Connection, group_id: int, *, report_limit: int = 50) -> dict[str, Any] | None:
    """One group with its newest reports and its events (oldest first); None when unknown."""
    from crashpilot.store.reports import report_summary

    g, r, e = schema.crash_groups, schema.crash_reports, schema.events
    row = conn.execute(sa.select(g).where(g.c.id == group_id)).mappings().first()
    if row is None:
        return None
    out = _group(row)
    reports = conn.execute(
        sa.select(r)
        .where(r.c.group_id == group_id)
        .order_by(r.c.received_at.desc(), r.c.id.desc())
        .limit(report_limit)
    ).mappings()
    out["reports"] = [report_summary(rep) for rep in reports]
    events = conn.execute(
        sa.select(e).where(e.c.entity == "group", e.c.entity_id == group_id).order_by(e.c.at, e.c.id)
    ).mappings()
    out["events"] = [event_dict(ev) for ev in events]
    return out


def event_dict(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": iso(row["at"]),
        "entity": row["entity"],
        "entity_id": row["entity_id"],
        "kind": row["kind"],
        "from_state": row["from_state"],
        "to_state": row["to_state"],
        "actor": row["actor"],
        "detail": row["detail"],
    }


def stats(conn: Connection) -> dict[str, Any]:
    """Counts: reports (total, quarantined), groups by status, jobs by status."""
    r, g, j = schema.crash_reports, schema.crash_groups, schema.jobs
    total = conn.execute(sa.select(sa.func.count()).select_from(r)).scalar_one()
    quarantined = conn.execute(
        sa.select(sa.func.count()).select_from(r).where(r.c.status == "quarantined")
    ).scalar_one()
    groups = dict(
        (row[0], row[1]) for row in conn.execute(sa.select(g.c.status, sa.func.count()).group_by(g.c.status))
    )
    jobs = dict(
        (row[0], row[1]) for row in conn.execute(sa.select(j.c.status, sa.func.count()).group_by(j.c.status))
    )
    return {
        "reports": int(total),
        "quarantined": int(quarantined),
        "groups": int(sum(groups.values())),
        "groups_by_status": {str(k): int(v) for k, v in groups.items()},
        "jobs_by_status": {str(k): int(v) for k, v in jobs.items()},
    }
