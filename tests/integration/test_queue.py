"""The job queue on real databases (SQLite file and PostgreSQL): claim, lease, heartbeat, finish."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from crashpilot.store import queue
from crashpilot.store.db import utcnow
from crashpilot.store.events import list_events


def _enqueue(engine: Engine, stage: str = "build", **kw: object) -> int:
    with engine.begin() as conn:
        return queue.enqueue(conn, stage, **kw)  # type: ignore[arg-type]


def _job(engine: Engine, job_id: int) -> queue.Job:
    with engine.connect() as conn:
        job = queue.get_job(conn, job_id)
    assert job is not None
    return job


def _kinds(engine: Engine, entity: str, entity_id: int) -> list[str]:
    with engine.connect() as conn:
        return [e.kind for e in list_events(conn, entity, entity_id)]


def test_claim_leases_one_job_once(engine: Engine) -> None:
    jid = _enqueue(engine, "analyse", payload={"reason": "new_group"})
    job = queue.claim(engine, "w1", ["analyse"], lease_seconds=30)
    assert job is not None and job.id == jid
    assert (job.status, job.attempts, job.lease_owner, job.payload) == (
        "running",
        1,
        "w1",
        {"reason": "new_group"},
    )
    assert job.lease_expires is not None and job.lease_expires > utcnow() + timedelta(seconds=25)
    assert queue.claim(engine, "w2", ["analyse"], lease_seconds=30) is None
    assert _kinds(engine, "job", jid) == ["enqueued", "claimed"]


def test_claim_order_stage_filter_and_delay(engine: Engine) -> None:
    low = _enqueue(engine, "build")
    high = _enqueue(engine, "build", priority=5)
    later = _enqueue(engine, "build", priority=9, delay=3600)
    other = _enqueue(engine, "verify")
    got = [queue.claim(engine, "w", ["build"], 30) for _ in range(3)]
    assert [j.id if j else None for j in got] == [high, low, None]
    assert _job(engine, later).status == "queued"
    verify = queue.claim(engine, "w", ["verify", "fix"], 30)
    assert verify is not None and verify.id == other


def test_end_stage_cannot_be_queued(engine: Engine) -> None:
    with pytest.raises(ValueError):
        _enqueue(engine, "needs_human")
    with pytest.raises(ValueError):
        _enqueue(engine, "no_such_stage")


def test_expired_lease_is_taken_back_and_fences_the_old_owner(engine: Engine) -> None:
    jid = _enqueue(engine, "build")
    first = queue.claim(engine, "dead", ["build"], lease_seconds=0.2)
    assert first is not None
    time.sleep(0.3)
    second = queue.claim(engine, "alive", ["build"], lease_seconds=30)
    assert second is not None and second.id == jid and second.attempts == 2
    with engine.connect() as conn:
        events = list_events(conn, "job", jid)
    assert events[-1].kind == "reclaimed" and events[-1].detail is not None
    assert events[-1].detail["previous_owner"] == "dead"
    # The dead worker wakes up: it can neither renew nor finish the job any more.
    assert queue.heartbeat(engine, jid, "dead", 30) is False
    assert queue.complete(engine, first, "ok", "verify") is False
    assert queue.fail(engine, first, "boom", transient=False) is None
    assert queue.complete(engine, second, "ok", "verify") is True
    with engine.connect() as conn:
        assert [j.stage for j in queue.list_jobs(conn, status="queued")] == ["verify"]


def test_heartbeat_keeps_the_lease(engine: Engine) -> None:
    jid = _enqueue(engine, "build")
    job = queue.claim(engine, "w1", ["build"], lease_seconds=0.3)
    assert job is not None
    assert queue.heartbeat(engine, jid, "w1", 30) is True
    time.sleep(0.4)
    assert queue.claim(engine, "w2", ["build"], 30) is None
    assert queue.heartbeat(engine, jid, "w2", 30) is False


def test_complete_queues_next_stage_and_moves_group(engine: Engine, groups) -> None:  # type: ignore[no-untyped-def]
    gid = groups.add()
    jid = _enqueue(engine, "analyse", group_id=gid, payload={"a": 1})
    job = queue.claim(engine, "w", ["analyse"], 30)
    assert job is not None
    assert groups.status(gid) == ("analysing", None)
    assert queue.complete(engine, job, "ok", "fix", next_payload={"a": 2}) is True
    assert _job(engine, jid).status == "done" and _job(engine, jid).lease_owner is None
    with engine.connect() as conn:
        (nxt,) = queue.list_jobs(conn, status="queued")
    assert (nxt.stage, nxt.group_id, nxt.payload) == ("fix", gid, {"a": 2})
    assert groups.status(gid) == ("fixing", None)
    fix = queue.claim(engine, "w", ["fix"], 30)
    assert fix is not None
    assert queue.complete(engine, fix, "give_up", "needs_human", reason="no plan") is True
    assert groups.status(gid) == ("needs_human", "no plan")
    with engine.connect() as conn:
        assert queue.list_jobs(conn, status="queued") == []
        changes = [(e.from_state, e.to_state) for e in list_events(conn, "group", gid)]
    assert changes == [("new", "analysing"), ("analysing", "fixing"), ("fixing", "needs_human")]


def test_done_end_state_leaves_the_group_alone(engine: Engine, groups) -> None:  # type: ignore[no-untyped-def]
    gid = groups.add(status="pr_open")
    _enqueue(engine, "ingest", group_id=gid)
    job = queue.claim(engine, "w", ["ingest"], 30)
    assert job is not None
    assert queue.complete(engine, job, "known_group", "done") is True
    assert groups.status(gid) == ("pr_open", None)


def test_transient_failures_back_off_then_fail(engine: Engine, groups) -> None:  # type: ignore[no-untyped-def]
    gid = groups.add()
    jid = _enqueue(engine, "analyse", group_id=gid, max_attempts=2)
    job = queue.claim(engine, "w", ["analyse"], 30)
    assert job is not None
    assert queue.fail(engine, job, "429 slow down", transient=True, backoff=lambda n: 0.3 * n) == "queued"
    waiting = _job(engine, jid)
    assert waiting.status == "queued" and waiting.last_error == "429 slow down"
    assert waiting.not_before > utcnow() + timedelta(seconds=0.1)
    assert queue.claim(engine, "w", ["analyse"], 30) is None  # still backing off
    time.sleep(0.35)
    job = queue.claim(engine, "w", ["analyse"], 30)
    assert job is not None and job.attempts == 2
    assert queue.fail(engine, job, "429 again", transient=True, backoff=lambda n: 0.0) == "failed"
    assert _job(engine, jid).status == "failed"
    assert groups.status(gid) == ("needs_human", "429 again")
    assert _kinds(engine, "job", jid) == ["enqueued", "claimed", "retry_scheduled", "claimed", "failed"]


def test_permanent_failure_and_manual_retry(engine: Engine, groups) -> None:  # type: ignore[no-untyped-def]
    gid = groups.add()
    jid = _enqueue(engine, "build", group_id=gid)
    job = queue.claim(engine, "w", ["build"], 30)
    assert job is not None
    assert queue.fail(engine, job, "no compiler", transient=False) == "failed"
    assert groups.status(gid) == ("needs_human", "no compiler")
    assert queue.retry(engine, jid, actor="cli") is True
    again = _job(engine, jid)
    assert (again.status, again.attempts) == ("queued", 0)
    assert groups.status(gid) == ("building", "retried")
    job = queue.claim(engine, "w", ["build"], 30)
    assert job is not None and job.attempts == 1
    assert queue.retry(engine, jid) is False  # running: not retryable


def test_release_does_not_count_an_attempt(engine: Engine) -> None:
    jid = _enqueue(engine, "verify")
    job = queue.claim(engine, "w", ["verify"], 30)
    assert job is not None
    assert queue.release(engine, job) is True
    back = _job(engine, jid)
    assert (back.status, back.attempts, back.lease_owner) == ("queued", 0, None)
    assert _kinds(engine, "job", jid)[-1] == "released"


def test_stage_limit_counts_unexpired_leases(engine: Engine) -> None:
    b1, b2 = _enqueue(engine, "build"), _enqueue(engine, "build")
    v = _enqueue(engine, "verify")
    limits = {"build": 1}
    first = queue.claim(engine, "a", ["build", "verify"], 0.3, limits)
    assert first is not None and first.id == b1
    # The build slot is taken: the other worker gets the verify job, then nothing.
    second = queue.claim(engine, "b", ["build", "verify"], 30, limits)
    assert second is not None and second.id == v
    assert queue.claim(engine, "b", ["build", "verify"], 30, limits) is None
    assert queue.claim(engine, "c", ["build"], 30) is not None  # no limit asked: b2 runs
    # once the first lease expires, its slot counts as free again and the job itself is claimable
    time.sleep(0.35)
    queue.complete(engine, _job(engine, b2), "ok", "done")
    taken = queue.claim(engine, "b", ["build"], 30, limits)
    assert taken is not None and taken.id == b1 and taken.attempts == 2


def test_stage_limit_per_host_scope(engine: Engine) -> None:
    for _ in range(3):
        _enqueue(engine, "build")
    limits = {"build": 1}
    assert queue.claim(engine, "hostA:1", ["build"], 30, limits, scope="hostA:") is not None
    assert queue.claim(engine, "hostA:2", ["build"], 30, limits, scope="hostA:") is None
    assert queue.claim(engine, "hostB:1", ["build"], 30, limits, scope="hostB:") is not None
    # the scope is a literal prefix: "_" and "%" in host names are not wildcards
    assert queue.claim(engine, "host_:1", ["build"], 30, limits, scope="host_:") is not None


def test_expired_job_without_attempts_left_is_reaped(engine: Engine, groups) -> None:  # type: ignore[no-untyped-def]
    gid = groups.add()
    jid = _enqueue(engine, "fix", group_id=gid, max_attempts=1)
    assert queue.claim(engine, "dead", ["fix"], 0.1) is not None
    time.sleep(0.2)
    assert queue.claim(engine, "w", ["fix"], 30) is None
    assert queue.reap_expired(engine, actor="w") == [jid]
    assert _job(engine, jid).status == "failed"
    status, reason = groups.status(gid)
    assert status == "needs_human" and reason is not None and "dead" in reason
    assert queue.reap_expired(engine) == []


def test_counts_and_lists(engine: Engine) -> None:
    for stage in ("build", "build", "verify"):
        _enqueue(engine, stage)
    assert queue.claim(engine, "w", ["build"], 30) is not None
    with engine.connect() as conn:
        assert queue.counts(conn) == {"build": {"queued": 1, "running": 1}, "verify": {"queued": 1}}
        assert len(queue.list_jobs(conn, stage="build")) == 2
        assert len(queue.list_jobs(conn, status="running", stage="verify")) == 0


def test_backoff_grows_and_is_capped() -> None:
    import random

    back = queue.exponential_backoff(base=2.0, cap=30.0, jitter=0.5, rng=random.Random(7))
    delays = [back(n) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        full = min(30.0, 2.0 * 2 ** (n - 1))
        assert full * 0.5 <= d <= full
    assert delays[-1] <= 30.0 and delays[3] > delays[0]
