"""The worker in this process against real databases: flow walk, failures, heartbeat, stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.errors import TransientError
from crashpilot.flow import Outcome, Stage
from crashpilot.store import queue
from crashpilot.store.events import list_events
from crashpilot.store.jobs import Job
from crashpilot.store.schema import jobs
from crashpilot.worker import FIX_PASSES, Context, StageResult, Worker

S, O = Stage, Outcome  # noqa: E741 - the short names flow.py uses


def _enqueue(engine: Engine, stage: str, **kw: Any) -> int:
    with engine.begin() as conn:
        return queue.enqueue(conn, stage, **kw)


def _drain(worker: Worker, limit: int = 100) -> int:
    ran = 0
    while worker.run_once():
        ran += 1
        assert ran < limit
    return ran


def _jobs(engine: Engine, **kw: Any) -> list[Job]:
    with engine.connect() as conn:
        return queue.list_jobs(conn, **kw)


def _script(answers: dict[Stage, list[Outcome | StageResult]]) -> dict[Stage, Callable[[Job, Context], Any]]:
    """Handlers that answer from a per-stage script, recording nothing else."""

    def make(stage: Stage) -> Callable[[Job, Context], Any]:
        def handler(job: Job, ctx: Context) -> Outcome | StageResult:
            return answers[stage].pop(0)

        return handler

    return {stage: make(stage) for stage in answers}


def test_walks_the_flow_to_fixed(engine: Engine, groups) -> None:  # type: ignore[no-untyped-def]
    gid = groups.add()
    _enqueue(engine, "analyse", group_id=gid, payload={"reason": "new_group"})
    handlers = _script(
        {
            S.ANALYSE: [StageResult(O.OK, payload={"plan": "null check"})],
            S.FIX: [O.OK, O.OK],
            S.BUILD: [O.FAILED, O.OK],
            S.VERIFY: [O.OK],
            S.PUBLISH: [StageResult(O.OK, payload={"pr": 7})],
            S.TRACK: [StageResult(O.WAITING, delay=0), O.MERGED],
        }
    )
    worker = Worker(engine, handlers, worker_id="w1", poll=0.01)
    assert _drain(worker) == 9
    done = _jobs(engine)
    assert [j.stage for j in done] == [
        "analyse", "fix", "build", "fix", "build", "verify", "publish", "track", "track",
    ]  # fmt: skip
    assert all(j.status == "done" for j in done)
    last = done[-1].payload
    assert last["plan"] == "null check" and last["pr"] == 7 and last[FIX_PASSES] == 2
    assert groups.status(gid)[0] == "fixed"
    with engine.connect() as conn:
        path = [e.to_state for e in list_events(conn, "group", gid)]
    assert path == [
        "analysing", "fixing", "building", "fixing", "building", "verifying", "publishing", "pr_open", "fixed",
    ]  # fmt: skip


def test_waiting_track_is_requeued_later(engine: Engine) -> None:
    _enqueue(engine, "track")
    worker = Worker(engine, _script({S.TRACK: [O.WAITING]}), poll=0.01, requeue_delay=3600)
    assert _drain(worker) == 1
    (waiting,) = _jobs(engine, status="queued")
    assert waiting.stage == "track" and (waiting.not_before - waiting.created_at).total_seconds() > 3500


def test_build_that_keeps_failing_ends_with_a_human(engine: Engine, groups) -> None:  # type: ignore[no-untyped-def]
    gid = groups.add()
    _enqueue(engine, "fix", group_id=gid)
    handlers = {S.FIX: lambda job, ctx: O.OK, S.BUILD: lambda job, ctx: O.FAILED}
    worker = Worker(engine, handlers, max_attempts_fix=3, poll=0.01)
    assert _drain(worker) == 6
    assert [j.stage for j in _jobs(engine)] == ["fix", "build"] * 3
    status, reason = groups.status(gid)
    assert status == "needs_human" and reason == "build ended with failed after 3 fix attempt(s)"
    assert _jobs(engine, status="queued") == []


def test_transient_errors_are_retried_with_backoff(engine: Engine, groups) -> None:  # type: ignore[no-untyped-def]
    gid = groups.add()
    jid = _enqueue(engine, "analyse", group_id=gid)
    calls: list[float] = []

    def flaky(job: Job, ctx: Context) -> Outcome:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise TransientError("503 from the model API")
        return O.ABSTAIN

    worker = Worker(engine, {S.ANALYSE: flaky}, backoff=lambda n: 0.2 * n, poll=0.01)
    deadline = time.monotonic() + 10
    while groups.status(gid)[0] != "needs_human":
        worker.run_once()
        assert time.monotonic() < deadline
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.2 and calls[2] - calls[1] >= 0.4  # the backoff grew
    with engine.connect() as conn:
        job = queue.get_job(conn, jid)
        kinds = [e.kind for e in list_events(conn, "job", jid)]
    assert job is not None and job.status == "done" and job.attempts == 3
    assert kinds.count("retry_scheduled") == 2


def test_a_crashing_handler_fails_its_job_not_the_worker(
    engine: Engine,
    groups,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad, good = groups.add("bad"), groups.add("good")
    _enqueue(engine, "analyse", group_id=bad)
    _enqueue(engine, "analyse", group_id=good)
    seen: list[BaseException] = []

    def handler(job: Job, ctx: Context) -> Outcome:
        if job.group_id == bad:
            raise KeyError("frame 0 has no function")
        return O.ABSTAIN

    worker = Worker(engine, {S.ANALYSE: handler}, on_error=lambda job, exc: seen.append(exc), poll=0.01)
    with caplog.at_level(logging.ERROR, logger="crashpilot.worker"):
        assert _drain(worker) == 2
    assert [type(e) for e in seen] == [KeyError]
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)
    assert groups.status(bad) == ("needs_human", "KeyError: 'frame 0 has no function'")
    assert groups.status(good)[0] == "needs_human"  # ABSTAIN, recorded normally
    assert sorted(j.status for j in _jobs(engine)) == ["done", "failed"]


def test_an_outcome_the_stage_does_not_have_fails_the_job(engine: Engine) -> None:
    jid = _enqueue(engine, "publish")
    worker = Worker(engine, {S.PUBLISH: lambda job, ctx: O.MERGED}, poll=0.01)
    assert worker.run_once()
    (job,) = _jobs(engine)
    assert job.id == jid and job.status == "failed" and "merged" in (job.last_error or "")


def test_heartbeat_holds_the_lease_through_a_long_handler(engine: Engine) -> None:
    jid = _enqueue(engine, "build")
    stolen: list[Job | None] = []

    def slow(job: Job, ctx: Context) -> Outcome:
        time.sleep(0.9)  # three leases long
        stolen.append(queue.claim(ctx.engine, "thief", ["build"], 30))
        return O.OK

    worker = Worker(engine, {S.BUILD: slow}, lease_seconds=0.3, heartbeat_every=0.08)
    assert worker.run_once()
    assert stolen == [None]
    with engine.connect() as conn:
        job = queue.get_job(conn, jid)
    assert job is not None and (job.status, job.attempts) == ("done", 1)


def test_a_lost_lease_cancels_the_handler_and_drops_its_outcome(engine: Engine) -> None:
    jid = _enqueue(engine, "build")
    noticed: list[bool] = []

    def handler(job: Job, ctx: Context) -> Outcome:
        with ctx.engine.begin() as conn:  # someone else owns the job now
            conn.execute(sa.update(jobs).where(jobs.c.id == job.id).values(lease_owner="thief"))
        noticed.append(ctx.cancel.wait(5))
        return O.OK

    worker = Worker(engine, {S.BUILD: handler}, lease_seconds=5, heartbeat_every=0.05)
    assert worker.run_once()
    assert noticed == [True]
    (job,) = _jobs(engine)
    assert job.id == jid and (job.status, job.lease_owner) == ("running", "thief")


def test_stop_releases_a_cooperative_job_and_finishes_others(engine: Engine) -> None:
    coop = _enqueue(engine, "verify", priority=1)
    plain = _enqueue(engine, "verify")
    started = threading.Event()

    def handler(job: Job, ctx: Context) -> Outcome:
        started.set()
        if job.id == coop:
            if ctx.cancel.wait(10):
                raise RuntimeError("stopped by request")
            return O.OK
        time.sleep(0.3)
        return O.OK

    worker = Worker(engine, {S.VERIFY: handler}, lease_seconds=3, heartbeat_every=0.05, poll=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    assert started.wait(10)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    with engine.connect() as conn:
        released = queue.get_job(conn, coop)
        untouched = queue.get_job(conn, plain)
    assert released is not None and (released.status, released.attempts) == ("queued", 0)
    assert untouched is not None and untouched.status == "queued"
    # A handler that does not look at ctx.cancel is let finish when the worker stops.
    started.clear()
    stop2 = threading.Event()
    worker2 = Worker(engine, {S.VERIFY: handler}, stages=["verify"], lease_seconds=3, poll=0.01)
    with engine.begin() as conn:
        conn.execute(sa.update(jobs).where(jobs.c.id == coop).values(priority=-1))
    thread = threading.Thread(target=worker2.run, args=(stop2,))
    thread.start()
    assert started.wait(10)
    stop2.set()
    thread.join(10)
    with engine.connect() as conn:
        finished = queue.get_job(conn, plain)
    assert finished is not None and finished.status == "done"


def test_worker_refuses_a_stage_without_handler(engine: Engine) -> None:
    with pytest.raises(ValueError):
        Worker(engine, {S.BUILD: lambda job, ctx: O.OK}, stages=["build", "verify"])
    with pytest.raises(ValueError):
        Worker(engine, {S.FIXED: lambda job, ctx: O.OK})
    with pytest.raises(ValueError):
        Worker(engine, {S.BUILD: lambda job, ctx: O.OK}, worker_id="x", limit_scope="host", host="h")
