"""A crash group's status as the job queue moves it: a progress word while a stage is pending or
running, the end state's name when the flow ends. Each change appends a ``status_changed`` event."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot.flow import Stage
from crashpilot.store.db import utcnow
from crashpilot.store.events import record_event
from crashpilot.store.schema import crash_groups

PROGRESS: dict[Stage, str] = {
    Stage.ANALYSE: "analysing",
    Stage.FIX: "fixing",
    Stage.BUILD: "building",
    Stage.VERIFY: "verifying",
    Stage.PUBLISH: "publishing",
    Stage.TRACK: "pr_open",
}

REASON_MAX = 2000


def group_status_for(stage: str) -> str | None:
    """The group status while ``stage`` is pending or running, or once the flow ended in it.

    None means "leave the group alone": INGEST (intake sets the status itself) and DONE (the job
    had nothing left to do, e.g. a crash of a known group; the group keeps its own status).
    """
    value = Stage(stage)
    if value in PROGRESS:
        return PROGRESS[value]
    if value in (Stage.INGEST, Stage.DONE):
        return None
    return value.value  # needs_human, fixed, rejected


def set_group_status(
    conn: Connection,
    group_id: int,
    status: str | None,
    *,
    reason: str | None = None,
    actor: str | None = None,
) -> bool:
    """Set the status (and reason) of a group; True when it changed. No-op for ``status=None``."""
    if status is None:
        return False
    current = conn.execute(
        sa.select(crash_groups.c.status).where(crash_groups.c.id == group_id)
    ).scalar_one_or_none()
    if current is None or current == status:
        return False
    reason = reason[:REASON_MAX] if reason else None
    conn.execute(
        crash_groups.update()
        .where(crash_groups.c.id == group_id)
        .values(status=status, status_reason=reason, updated_at=utcnow())
    )
    detail = {"reason": reason} if reason else None
    record_event(conn, "group", group_id, "status_changed", current, status, actor, detail)
    return True
