"""Workers in separate PROCESSES (multiprocessing, spawn) sharing one real database.

The functions at the top run in the child processes; spawn imports this module there by name.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.flow import Outcome, Stage
from crashpilot.store import queue
from crashpilot.store.db import make_engine
from crashpilot.store.events import list_events
from crashpilot.store.jobs import Job
from crashpilot.worker import Context, Worker

extra = sa.MetaData()
# One row per handler run; UNIQUE(job_id) makes a second run of the same job fail loudly.
runs_seen = sa.Table(
    "test_runs_seen",
    extra,
    sa.Column("job_id", sa.Integer, primary_key=True),
    sa.Column("worker", sa.String(200), nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("ended", sa.Float, nullable=False),
)

SPAWN = mp.get_context("spawn")


def _record_run(ctx: Context, job: Job, started: float) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            runs_seen.insert().values(job_id=job.id, worker=ctx.worker_id, started=started, ended=time.time())
        )


def drain_in_child(
    url: str, worker_id: str, ready: Any, go: Any, sleep: float, limits: dict[str, int] | None
) -> None:
    """Child process: say ready, wait for ``go``, then run jobs until none is queued or running."""
    engine = make_engine(url)

    def handler(job: Job, ctx: Context) -> Outcome:
        started = time.time()
        time.sleep(sleep)
        _record_run(ctx, job, started)
        return Outcome.MERGED

    worker = Worker(engine, {Stage.TRACK: handler}, worker_id=worker_id, lease_seconds=10, limits=limits)
    ready.set()
    go.wait(60)
    while True:
        if worker.run_once():
            time.sleep(sleep / 4)  # a breath between jobs, as a real worker has
            continue
        with engine.connect() as conn:
            left = queue.counts(conn).get("track", {})
        if not left.get("queued") and not left.get("running"):
            break
        time.sleep(0.01)
    engine.dispose()


def hang_in_child(url: str, worker_id: str) -> None:
    """Child process: claim one job and sleep in its handler (heartbeats keep the lease) forever."""
    engine = make_engine(url)

    def handler(job: Job, ctx: Context) -> Outcome:
        time.sleep(600)
        return Outcome.MERGED

    Worker(
        engine, {Stage.TRACK: handler}, worker_id=worker_id, lease_seconds=1.0, heartbeat_every=0.2
    ).run_once()


# --- the tests (parent process) -----------------------------------------------------------------


@pytest.fixture
def seen(engine: Engine) -> Iterator[Engine]:
    extra.create_all(engine)
    yield engine


def _fill(engine: Engine, n: int, stage: str = "track") -> list[int]:
    with engine.begin() as conn:
        return [queue.enqueue(conn, stage) for _ in range(n)]


def _runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(runs_seen).order_by(runs_seen.c.started)))


def _start(target: Any, *args: Any) -> Any:
    proc = SPAWN.Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def _run_two(url: str, sleep: float, limits: dict[str, int] | None) -> None:
    go = SPAWN.Event()
    ready = [SPAWN.Event(), SPAWN.Event()]
    procs = [_start(drain_in_child, url, f"proc{i}", ready[i - 1], go, sleep, limits) for i in (1, 2)]
    for event in ready:
        assert event.wait(60), "a worker process did not start"
    go.set()
    _join(*procs)


def _join(*procs: Any) -> None:
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0, f"worker process exit code {proc.exitcode}"


@pytest.mark.slow
def test_two_processes_run_every_job_exactly_once(db_url: str, seen: Engine) -> None:
    ids = _fill(seen, 200)
    _run_two(db_url, 0.002, None)
    runs = _runs(seen)
    assert sorted(r.job_id for r in runs) == ids  # all of them, none twice (UNIQUE would fail)
    assert {r.worker for r in runs} == {"proc1", "proc2"}  # both really worked
    with seen.connect() as conn:
        assert queue.counts(conn) == {"track": {"done": 200}}


@pytest.mark.slow
def test_stage_limit_holds_across_processes(db_url: str, seen: Engine) -> None:
    _fill(seen, 8)
    _run_two(db_url, 0.08, {"track": 1})
    runs = _runs(seen)
    assert len(runs) == 8 and {r.worker for r in runs} == {"proc1", "proc2"}
    for before, after in zip(runs, runs[1:], strict=False):
        assert before.ended <= after.started, "two limited jobs ran at the same time"


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(db_url: str, seen: Engine) -> None:
    (jid,) = _fill(seen, 1)
    proc = _start(hang_in_child, db_url, "doomed")
    deadline = time.monotonic() + 30
    while True:
        with seen.connect() as conn:
            job = queue.get_job(conn, jid)
        assert job is not None
        if job.status == "running":
            break
        assert time.monotonic() < deadline, "the child never claimed the job"
        time.sleep(0.05)
    assert job.lease_owner == "doomed"
    time.sleep(1.5)  # longer than the lease: only heartbeats keep it
    assert queue.claim(seen, "rescuer", ["track"], 30) is None
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    rescuer = Worker(
        seen, {Stage.TRACK: lambda job, ctx: Outcome.MERGED}, worker_id="rescuer", lease_seconds=30
    )
    deadline = time.monotonic() + 10
    while not rescuer.run_once():
        assert time.monotonic() < deadline, "the job was never taken back"
        time.sleep(0.1)
    with seen.connect() as conn:
        job = queue.get_job(conn, jid)
        events = list_events(conn, "job", jid)
    assert job is not None and (job.status, job.attempts) == ("done", 2)
    taken = [e for e in events if e.kind == "reclaimed"]
    assert len(taken) == 1 and taken[0].actor == "rescuer"
    assert taken[0].detail is not None and taken[0].detail["previous_owner"] == "doomed"
