"""Read-side queries on crash reports (plain dicts): one report, the quarantine."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from crashpilot.store import schema
from crashpilot.store.groups import event_dict, iso


def report_summary(row: RowMapping) -> dict[str, Any]:
    parsed = row["parsed"] or {}
    return {
        "id": row["id"],
        "sha256": row["sha256"],
        "blob_sha256": parsed.get("blob_sha256", row["sha256"]),
        "part": parsed.get("part", 0),
        "size": row["size"],
        "source": row["source"],
        "received_at": iso(row["received_at"]),
        "format": row["format"],
        "crash_kind": row["crash_kind"],
        "signature": row["signature"],
        "revision": row["revision"],
        "status": row["status"],
        "reason": row["reason"],
        "group_id": row["group_id"],
        "companion_sha256": row["companion_sha256"],
    }


def get_report(conn: Connection, report_id: int) -> dict[str, Any] | None:
    """One report with its parsed JSON and its events; None when unknown."""
    r, e = schema.crash_reports, schema.events
    row = conn.execute(sa.select(r).where(r.c.id == report_id)).mappings().first()
    if row is None:
        return None
    out = report_summary(row)
    out["parsed"] = row["parsed"]
    events = conn.execute(
        sa.select(e).where(e.c.entity == "report", e.c.entity_id == report_id).order_by(e.c.at, e.c.id)
    ).mappings()
    out["events"] = [event_dict(ev) for ev in events]
    return out


def list_quarantine(conn: Connection, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Quarantined reports, newest first, each with its one-line reason."""
    r = schema.crash_reports
    query = sa.select(r).where(r.c.status == "quarantined").order_by(r.c.received_at.desc(), r.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [report_summary(row) for row in conn.execute(query).mappings()]
