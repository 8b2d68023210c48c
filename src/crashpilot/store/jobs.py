"""Job rows as values, and the read side of the queue (lists and counts). Writes live in queue.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot.store.db import aware
from crashpilot.store.schema import jobs

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)


@dataclass(frozen=True)
class Job:
    """One row of ``jobs``; ``attempts`` counts claims, the current one included."""

    id: int
    stage: str
    status: str
    group_id: int | None
    run_id: int | None
    payload: dict[str, Any]
    priority: int
    attempts: int
    max_attempts: int
    not_before: datetime
    lease_owner: str | None
    lease_expires: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Job:
        return cls(
            id=int(row["id"]),
            stage=row["stage"],
            status=row["status"],
            group_id=row["group_id"],
            run_id=row["run_id"],
            payload=dict(row["payload"] or {}),
            priority=int(row["priority"]),
            attempts=int(row["attempts"]),
            max_attempts=int(row["max_attempts"]),
            not_before=aware(row["not_before"]),
            lease_owner=row["lease_owner"],
            lease_expires=aware(row["lease_expires"]),
            last_error=row["last_error"],
            created_at=aware(row["created_at"]),
            updated_at=aware(row["updated_at"]),
        )


def get_job(conn: Connection, job_id: int) -> Job | None:
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
    return Job.from_row(row) if row is not None else None


def list_jobs(
    conn: Connection,
    status: str | None = None,
    stage: str | None = None,
    *,
    group_id: int | None = None,
    limit: int | None = None,
) -> list[Job]:
    """Jobs, oldest first, filtered by status / stage / group."""
    query = sa.select(jobs).order_by(jobs.c.id)
    if status is not None:
        query = query.where(jobs.c.status == status)
    if stage is not None:
        query = query.where(jobs.c.stage == stage)
    if group_id is not None:
        query = query.where(jobs.c.group_id == group_id)
    if limit is not None:
        query = query.limit(limit)
    return [Job.from_row(r) for r in conn.execute(query).mappings()]


def counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Number of jobs by stage, then status: ``{"build": {"queued": 2, "running": 1}}``."""
    out: dict[str, dict[str, int]] = {}
    query = sa.select(jobs.c.stage, jobs.c.status, sa.func.count()).group_by(jobs.c.stage, jobs.c.status)
    for stage, status, n in conn.execute(query):
        out.setdefault(stage, {})[status] = int(n)
    return out
