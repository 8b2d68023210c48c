"""A durable job queue on the ``jobs`` table: enqueue, claim with a lease, heartbeat, finish.

States: ``queued`` -> ``running`` (leased to one worker until ``lease_expires``) -> ``done`` or
``failed``; ``running`` -> ``queued`` again on a transient failure (after a backoff) or when the
worker releases it. A running job whose lease expired is claimable again: the worker that held it
is presumed dead, and taking it back counts one more attempt. Work is therefore done at least
once; handlers must tolerate a repeat of a job whose worker died.

A claim is ONE ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`` on both
databases. On PostgreSQL the row lock and SKIP LOCKED let many workers claim in parallel; on SQLite
the clause renders as nothing and the statement runs inside ``BEGIN IMMEDIATE``, which serialises
claims. Per-stage limits (``{"build": 1}``) count running jobs with an unexpired lease, either in
the whole database or only those leased to workers of one host (``scope``); on PostgreSQL the claim
of a limited stage first takes an advisory lock for that stage so two claims cannot both see a
free slot.

Writes that change a job's state are fenced by (lease owner, attempt number): a worker whose lease
was taken over cannot complete or fail the job any more. Every transition appends an event, in the
same transaction.
"""

from __future__ import annotations

import logging
import random
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashpilot.flow import END_STATES, Stage
from crashpilot.store.db import utcnow, write_transaction
from crashpilot.store.events import record_event
from crashpilot.store.group_status import group_status_for, set_group_status
from crashpilot.store.jobs import DONE, FAILED, QUEUED, RUNNING, Job, counts, get_job, list_jobs
from crashpilot.store.schema import jobs

log = logging.getLogger(__name__)

__all__ = [
    "DONE",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "Backoff",
    "Job",
    "claim",
    "complete",
    "counts",
    "enqueue",
    "exponential_backoff",
    "fail",
    "get_job",
    "heartbeat",
    "list_jobs",
    "reap_expired",
    "release",
    "retry",
]

Backoff = Callable[[int], float]
RECLAIMED = "lease expired: "  # prefix of last_error when a claim took over an expired lease
ERROR_MAX = 4000


def exponential_backoff(
    base: float = 5.0, cap: float = 3600.0, jitter: float = 0.5, rng: random.Random | None = None
) -> Backoff:
    """Delay before retry number ``attempts``: base * 2**(attempts-1), capped, minus up to ``jitter``."""
    draw = rng or random.Random()

    def delay(attempts: int) -> float:
        full: float = min(cap, base * 2.0 ** max(0, attempts - 1))
        return full * (1.0 - jitter * draw.random())

    return delay


def _stage(stage: str) -> str:
    value = Stage(stage)
    if value in END_STATES:
        raise ValueError(f"{value} is an end state: no job runs for it")
    return value.value


def enqueue(
    conn: Connection,
    stage: str,
    *,
    group_id: int | None = None,
    run_id: int | None = None,
    payload: Mapping[str, Any] | None = None,
    priority: int = 0,
    max_attempts: int = 5,
    delay: float = 0,
    actor: str | None = None,
) -> int:
    """Queue a job for ``stage`` in the caller's transaction; returns the job id."""
    now = utcnow()
    result = conn.execute(
        jobs.insert().values(
            stage=_stage(stage),
            status=QUEUED,
            group_id=group_id,
            run_id=run_id,
            payload=dict(payload or {}),
            priority=priority,
            attempts=0,
            max_attempts=max_attempts,
            not_before=now + timedelta(seconds=delay),
            created_at=now,
            updated_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    job_id = int(key[0])
    detail: dict[str, Any] = {"stage": stage}
    if delay:
        detail["delay"] = delay
    record_event(conn, "job", job_id, "enqueued", to_state=QUEUED, actor=actor, detail=detail)
    return job_id


def _lock_key(stage: str) -> int:
    return zlib.crc32(f"crashpilot:stage:{stage}".encode())


def claim(
    engine: Engine,
    worker_id: str,
    stages: Sequence[str],
    lease_seconds: float,
    limits: Mapping[str, int] | None = None,
    *,
    scope: str | None = None,
) -> Job | None:
    """Lease the most urgent claimable job of ``stages`` to ``worker_id``; None when there is none.

    ``limits`` caps running jobs per stage; they count in the whole database, or, with ``scope``
    (a lease-owner prefix such as ``"buildhost1:"``), only jobs leased to owners with that prefix.
    """
    wanted = [_stage(s) for s in stages]
    if not wanted:
        return None
    now = utcnow()
    stamp = f" at {now.isoformat()}"  # tells this claim's takeover apart from an older one
    cand = jobs.alias("candidate")
    claimable = sa.or_(
        sa.and_(cand.c.status == QUEUED, cand.c.not_before <= now),
        sa.and_(cand.c.status == RUNNING, cand.c.lease_expires < now, cand.c.attempts < cand.c.max_attempts),
    )
    conditions = [cand.c.stage.in_(wanted), claimable]
    limited = sorted(s for s in wanted if limits and s in limits)
    for i, stage in enumerate(limited):
        assert limits is not None
        other = jobs.alias(f"running_{i}")
        busy = [other.c.stage == stage, other.c.status == RUNNING, other.c.lease_expires >= now]
        if scope is not None:
            busy.append(other.c.lease_owner.startswith(scope, autoescape=True))
        running = sa.select(sa.func.count()).select_from(other).where(*busy).scalar_subquery()
        conditions.append(sa.or_(cand.c.stage != stage, running < limits[stage]))
    pick = (
        sa.select(cand.c.id)
        .where(*conditions)
        .order_by(cand.c.priority.desc(), cand.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        jobs.update()
        .where(jobs.c.id == pick)
        .values(
            status=RUNNING,
            lease_owner=worker_id,
            lease_expires=now + timedelta(seconds=lease_seconds),
            attempts=jobs.c.attempts + 1,
            updated_at=now,
            last_error=sa.case(
                (jobs.c.status == RUNNING, RECLAIMED + sa.func.coalesce(jobs.c.lease_owner, "?") + stamp),
                else_=jobs.c.last_error,
            ),
        )
        .returning(*jobs.c)
    )
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            for stage in limited:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(stage))))
        row = conn.execute(statement).mappings().first()
        if row is None:
            return None
        job = Job.from_row(row)
        error = job.last_error or ""
        reclaimed = error.startswith(RECLAIMED) and error.endswith(stamp)
        detail: dict[str, Any] = {"attempt": job.attempts, "lease_seconds": lease_seconds}
        if reclaimed:
            detail["previous_owner"] = error[len(RECLAIMED) : -len(stamp)]
        record_event(
            conn,
            "job",
            job.id,
            "reclaimed" if reclaimed else "claimed",
            from_state=RUNNING if reclaimed else QUEUED,
            to_state=RUNNING,
            actor=worker_id,
            detail=detail,
        )
        if job.group_id is not None:
            set_group_status(conn, job.group_id, group_status_for(job.stage), actor=worker_id)
    return job


def heartbeat(engine: Engine, job_id: int, worker_id: str, lease_seconds: float) -> bool:
    """Extend the lease; False when ``worker_id`` no longer holds the job."""
    now = utcnow()
    with write_transaction(engine) as conn:
        result = conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status == RUNNING, jobs.c.lease_owner == worker_id)
            .values(lease_expires=now + timedelta(seconds=lease_seconds))
        )
        return result.rowcount == 1


class _LeaseLost(Exception):
    """Raised inside a transaction to roll it back when the fence no longer matches."""


def _fenced(conn: Connection, job: Job, **values: Any) -> None:
    result = conn.execute(
        jobs.update()
        .where(
            jobs.c.id == job.id,
            jobs.c.status == RUNNING,
            jobs.c.lease_owner == job.lease_owner,
            jobs.c.attempts == job.attempts,
        )
        .values(lease_owner=None, lease_expires=None, updated_at=utcnow(), **values)
    )
    if result.rowcount != 1:
        raise _LeaseLost


def complete(
    engine: Engine,
    job: Job,
    outcome: str,
    next_stage: str | None = None,
    *,
    next_payload: Mapping[str, Any] | None = None,
    next_delay: float = 0,
    group_status: str | None = None,
    reason: str | None = None,
) -> bool:
    """Mark ``job`` done and, in the same transaction, queue its ``next_stage`` and move its group.

    ``next_stage`` may be an end state (nothing is queued) or None. The group's status becomes
    ``group_status`` or, by default, what :func:`group_status_for` says for ``next_stage``.
    Returns False (and changes nothing) when the job's lease was lost to another worker.
    """
    actor = job.lease_owner
    try:
        with write_transaction(engine) as conn:
            _fenced(conn, job, status=DONE)
            # A TRACK job that saw the pull request open while a human approved / rejected it: the
            # group keeps the end state the human gave it, and the next TRACK runs now to end the flow.
            decided = _decided_while_tracking(conn, job, next_stage)
            if decided:
                next_delay = 0
            detail: dict[str, Any] = {"outcome": str(outcome), "next_stage": next_stage}
            if next_stage is not None and Stage(next_stage) not in END_STATES:
                detail["next_job"] = enqueue(
                    conn,
                    next_stage,
                    group_id=job.group_id,
                    run_id=job.run_id,
                    payload=job.payload if next_payload is None else next_payload,
                    priority=job.priority,
                    max_attempts=job.max_attempts,
                    delay=next_delay,
                    actor=actor,
                )
            record_event(conn, "job", job.id, "completed", RUNNING, DONE, actor=actor, detail=detail)
            status = group_status or (group_status_for(next_stage) if next_stage else None)
            if decided:
                status = None
            if job.group_id is not None and status is not None:
                set_group_status(conn, job.group_id, status, reason=reason, actor=actor)
    except _LeaseLost:
        log.warning("job %s: lease lost before completion; outcome %s dropped", job.id, outcome)
        return False
    return True


def _decided_while_tracking(conn: Connection, job: Job, next_stage: str | None) -> bool:
    if job.group_id is None or job.stage != Stage.TRACK.value or next_stage != Stage.TRACK.value:
        return False
    from crashpilot.store.runs import decided_by_human  # runs imports the store's other modules

    return decided_by_human(conn, job.group_id)


def fail(
    engine: Engine,
    job: Job,
    error: str,
    transient: bool,
    backoff: Backoff | None = None,
) -> str | None:
    """Record a failed attempt: back to ``queued`` after a backoff while attempts remain (transient
    errors only), else ``failed`` with the group in ``needs_human``. Returns the new status, or
    None when the lease was lost."""
    error = error[:ERROR_MAX]
    actor = job.lease_owner
    try:
        with write_transaction(engine) as conn:
            if transient and job.attempts < job.max_attempts:
                delay = (backoff or exponential_backoff())(job.attempts)
                not_before = utcnow() + timedelta(seconds=delay)
                _fenced(conn, job, status=QUEUED, not_before=not_before, last_error=error)
                detail = {"error": error, "attempt": job.attempts, "delay": round(delay, 3)}
                record_event(conn, "job", job.id, "retry_scheduled", RUNNING, QUEUED, actor, detail)
                return QUEUED
            _fenced(conn, job, status=FAILED, last_error=error)
            detail = {"error": error, "attempt": job.attempts, "transient": transient}
            record_event(conn, "job", job.id, "failed", RUNNING, FAILED, actor, detail)
            if job.group_id is not None:
                set_group_status(conn, job.group_id, Stage.NEEDS_HUMAN.value, reason=error, actor=actor)
            return FAILED
    except _LeaseLost:
        log.warning("job %s: lease lost before the failure was recorded", job.id)
        return None


def release(engine: Engine, job: Job, reason: str = "worker stopping") -> bool:
    """Give a claimed job back untouched (queued now, this attempt not counted)."""
    try:
        with write_transaction(engine) as conn:
            _fenced(conn, job, status=QUEUED, not_before=utcnow(), attempts=jobs.c.attempts - 1)
            record_event(
                conn, "job", job.id, "released", RUNNING, QUEUED, job.lease_owner, {"reason": reason}
            )
    except _LeaseLost:
        return False
    return True


def retry(engine: Engine, job_id: int, actor: str | None = None) -> bool:
    """Manual retry: a failed (or waiting) job is queued to run now with fresh attempts."""
    with write_transaction(engine) as conn:
        row = conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status.in_([FAILED, QUEUED]))
            .values(status=QUEUED, attempts=0, not_before=utcnow(), updated_at=utcnow())
            .returning(jobs.c.stage, jobs.c.group_id)
        ).first()
        if row is None:
            return False
        record_event(conn, "job", job_id, "retried", None, QUEUED, actor)
        if row.group_id is not None:
            set_group_status(conn, row.group_id, group_status_for(row.stage), reason="retried", actor=actor)
    return True


def reap_expired(engine: Engine, actor: str | None = None) -> list[int]:
    """Fail running jobs whose lease expired with no attempt left (their workers kept dying)."""
    now = utcnow()
    with write_transaction(engine) as conn:
        rows = conn.execute(
            jobs.update()
            .where(
                jobs.c.status == RUNNING, jobs.c.lease_expires < now, jobs.c.attempts >= jobs.c.max_attempts
            )
            .values(
                status=FAILED,
                last_error=RECLAIMED + sa.func.coalesce(jobs.c.lease_owner, "?") + "; no attempts left",
                lease_owner=None,
                lease_expires=None,
                updated_at=now,
            )
            .returning(jobs.c.id, jobs.c.group_id, jobs.c.last_error)
        ).all()
        for row in rows:
            record_event(conn, "job", row.id, "failed", RUNNING, FAILED, actor, {"error": row.last_error})
            if row.group_id is not None:
                set_group_status(
                    conn, row.group_id, Stage.NEEDS_HUMAN.value, reason=row.last_error, actor=actor
                )
    return sorted(row.id for row in rows)
