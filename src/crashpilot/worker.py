"""The worker: claim a job -> run its stage handler -> record the outcome; heartbeat; stop.

A handler is ``handler(job, ctx) -> Outcome`` (or a :class:`StageResult` when it has a payload for
the next stage, a reason, or a delay). It runs in the worker's own thread while a heartbeat thread
renews the lease. The next stage comes from ``flow.next_stage``; the job is completed, the next
job queued and the group's status moved in ONE transaction (``queue.complete``).

A handler that raises fails its job, never the worker: ``TransientError`` -> retried with backoff
until the job's attempts are spent; anything else -> logged with its traceback, the job ``failed``
and the group ``needs_human`` with the reason. FIX passes are counted in the job payload
(``fix_passes``) and bound the FIX -> BUILD -> VERIFY -> FIX loop (``max_attempts_fix``).

Stopping: ``run(stop)`` returns once ``stop`` is set and the current job is finished. While a
handler runs, ``ctx.cancel`` is set when the worker is asked to stop or has lost the lease; a
handler that checks it and raises has its job released (queued again, the attempt not counted).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy.engine import Engine

from crashpilot.errors import PermanentError, TransientError
from crashpilot.flow import END_STATES, RETRY_EDGES, Outcome, Stage, next_stage
from crashpilot.store import queue
from crashpilot.store.jobs import Job

log = logging.getLogger(__name__)

FIX_PASSES = "fix_passes"  # payload key: FIX passes spent on this group's current run


@dataclass(frozen=True)
class Context:
    """What a handler gets besides its job."""

    engine: Engine
    settings: Any
    worker_id: str
    backends: Mapping[str, Any] = field(default_factory=dict)
    # Set when the worker is stopping or lost the lease: a long handler may give up early.
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class StageResult:
    """A handler's outcome with extras for the next stage."""

    outcome: Outcome
    payload: Mapping[str, Any] | None = None  # merged into the next job's payload
    reason: str | None = None  # why, kept on the group (e.g. why a human is needed)
    delay: float | None = None  # seconds before the next job may run
    status: str | None = None  # the group's status instead of the next stage's word (e.g. waiting_budget)


Handler = Callable[[Job, Context], "Outcome | StageResult"]
ErrorHook = Callable[[Job, BaseException], None]


def route(stage: Stage, outcome: Outcome, fix_passes: int, max_attempts_fix: int) -> tuple[Stage, int]:
    """Where a job of ``stage`` goes on ``outcome``, and the FIX passes spent once it finished.

    ``fix_passes`` counts FIX passes before this job; a FIX job spends one more. A retry edge
    (back to FIX) taken with ``max_attempts_fix`` passes spent goes to NEEDS_HUMAN instead.
    """
    passes = fix_passes + (1 if stage is Stage.FIX else 0)
    return next_stage(stage, outcome, passes, max_attempts_fix), passes


def default_worker_id(host: str | None = None) -> str:
    return f"{host or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Heartbeat(threading.Thread):
    """Renews one job's lease every ``every`` seconds until stopped; flags a lost lease."""

    def __init__(self, worker: Worker, job: Job, cancel: threading.Event) -> None:
        super().__init__(name=f"heartbeat-{job.id}", daemon=True)
        self.worker, self.job, self.cancel = worker, job, cancel
        self.done = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        w = self.worker
        renewed = time.monotonic()
        while not self.done.wait(w.heartbeat_every):
            if w.stopping.is_set():
                self.cancel.set()
            try:
                ok = queue.heartbeat(w.engine, self.job.id, w.worker_id, w.lease_seconds)
            except Exception as exc:  # the database may be briefly away; the lease may still hold
                log.warning("job %s: heartbeat failed: %s", self.job.id, exc, extra={"job": self.job.id})
                ok = time.monotonic() - renewed < w.lease_seconds
                if ok:
                    continue
            if not ok:
                log.warning("job %s: lease lost", self.job.id, extra={"job": self.job.id})
                self.lost.set()
                self.cancel.set()
                return
            renewed = time.monotonic()

    def finish(self) -> None:
        self.done.set()
        self.join()


class Worker:
    """Claims and runs jobs of ``stages`` (default: every stage it has a handler for)."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[Stage, Handler],
        *,
        worker_id: str | None = None,
        stages: Sequence[str] | None = None,
        lease_seconds: float = 60.0,
        heartbeat_every: float | None = None,
        limits: Mapping[str, int] | None = None,
        limit_scope: Literal["database", "host"] = "database",
        host: str | None = None,
        poll: float = 0.5,
        max_attempts_fix: int = 3,
        backoff: queue.Backoff | None = None,
        requeue_delay: float = 300.0,
        reap_every: float = 30.0,
        settings: Any = None,
        backends: Mapping[str, Any] | None = None,
        on_error: ErrorHook | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = {Stage(k): v for k, v in handlers.items()}
        if ends := [s.value for s in self.handlers if s in END_STATES]:
            raise ValueError(f"end states have no handlers: {', '.join(ends)}")
        self.stages = [Stage(s) for s in stages] if stages is not None else list(self.handlers)
        if missing := [s.value for s in self.stages if s not in self.handlers]:
            raise ValueError(f"no handler for stage(s): {', '.join(missing)}")
        host = host or socket.gethostname()
        self.worker_id = worker_id or default_worker_id(host)
        self.scope: str | None = None
        if limit_scope == "host":
            self.scope = f"{host}:"
            if not self.worker_id.startswith(self.scope):
                raise ValueError(
                    f"worker id {self.worker_id!r} must start with {self.scope!r} for per-host limits"
                )
        self.lease_seconds = lease_seconds
        self.heartbeat_every = heartbeat_every if heartbeat_every is not None else lease_seconds / 3
        self.limits = dict(limits or {})
        self.poll = poll
        self.max_attempts_fix = max_attempts_fix
        self.backoff = backoff or queue.exponential_backoff()
        self.requeue_delay = requeue_delay
        self.reap_every = reap_every
        self.on_error = on_error
        self.context = Context(engine, settings, self.worker_id, dict(backends or {}))
        self.stopping = threading.Event()
        self._last_reap = float("-inf")

    # --- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; the job in hand is finished (or released) first."""
        self.stopping = stop
        log.info("worker %s: stages %s", self.worker_id, ",".join(self.stages))
        failures = 0
        while not stop.is_set():
            try:
                worked = self.run_once()
                failures = 0
            except Exception:  # the queue itself failed (database away): wait, never die
                failures += 1
                log.exception("worker %s: queue error", self.worker_id)
                stop.wait(min(30.0, self.poll * 2**failures))
                continue
            if not worked:
                stop.wait(self.poll)
        log.info("worker %s: stopped", self.worker_id)

    def run_once(self) -> bool:
        """Claim and run at most one job; True when a job was run."""
        now = time.monotonic()
        if now - self._last_reap >= self.reap_every:
            self._last_reap = now
            for job_id in queue.reap_expired(self.engine, actor=self.worker_id):
                log.error("job %s: its workers kept dying; failed", job_id, extra={"job": job_id})
        job = queue.claim(
            self.engine, self.worker_id, self.stages, self.lease_seconds, self.limits, scope=self.scope
        )
        if job is None:
            return False
        self.process(job)
        return True

    # --- one job -------------------------------------------------------------------------------

    def process(self, job: Job) -> None:
        """Run the handler of a claimed job and record what came of it."""
        extra = {"job": job.id, "group": job.group_id, "stage": job.stage}
        ctx = replace(self.context, cancel=threading.Event())
        beat = _Heartbeat(self, job, ctx.cancel)
        beat.start()
        log.info("job %s: %s (attempt %s)", job.id, job.stage, job.attempts, extra=extra)
        try:
            raw = self.handlers[Stage(job.stage)](job, ctx)
        except Exception as exc:
            beat.finish()
            self._handler_failed(job, exc, ctx, beat.lost.is_set())
            return
        except BaseException:  # KeyboardInterrupt / SystemExit: give the job back, then go
            beat.finish()
            queue.release(self.engine, job, reason="worker interrupted")
            raise
        beat.finish()
        try:
            self._record(job, raw)
        except ValueError as exc:  # an outcome the stage does not have: a handler bug
            log.error("job %s: %s", job.id, exc, extra=extra)
            queue.fail(self.engine, job, f"{job.stage}: {exc}", transient=False)
            if self.on_error is not None:
                self.on_error(job, exc)

    def _record(self, job: Job, raw: Outcome | StageResult) -> None:
        result = raw if isinstance(raw, StageResult) else StageResult(Outcome(raw))
        outcome = Outcome(result.outcome)
        stage = Stage(job.stage)
        target, passes = route(stage, outcome, int(job.payload.get(FIX_PASSES, 0)), self.max_attempts_fix)
        payload = {**job.payload, **(result.payload or {})}
        if passes:
            payload[FIX_PASSES] = passes
        reason = result.reason
        if target is Stage.NEEDS_HUMAN and reason is None:
            reason = f"{stage.value} ended with {outcome.value}"
            if (stage, outcome) in RETRY_EDGES:
                reason += f" after {passes} fix attempt(s)"
        delay = result.delay if result.delay is not None else (self.requeue_delay if target is stage else 0.0)
        done = queue.complete(
            self.engine,
            job,
            outcome,
            target,
            next_payload=payload,
            next_delay=delay,
            reason=reason,
            group_status=result.status,
        )
        extra = {"job": job.id, "group": job.group_id, "stage": job.stage}
        if done:
            log.info("job %s: %s -> %s", job.id, outcome.value, target.value, extra=extra)

    def _handler_failed(self, job: Job, exc: Exception, ctx: Context, lost: bool) -> None:
        extra = {"job": job.id, "group": job.group_id, "stage": job.stage}
        if lost:
            log.warning("job %s: handler ended (%s) after the lease was lost", job.id, exc, extra=extra)
            return
        if ctx.cancel.is_set() and self.stopping.is_set():
            log.info("job %s: released on stop (%s)", job.id, exc, extra=extra)
            queue.release(self.engine, job)
            return
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, TransientError):
            status = queue.fail(self.engine, job, reason, transient=True, backoff=self.backoff)
            log.warning("job %s: transient failure (%s); now %s", job.id, exc, status, extra=extra)
            return
        if isinstance(exc, PermanentError):
            log.error("job %s: %s", job.id, reason, extra=extra)
        else:
            log.error("job %s: handler raised", job.id, exc_info=exc, extra=extra)
        queue.fail(self.engine, job, reason, transient=False)
        if self.on_error is not None:
            self.on_error(job, exc)
