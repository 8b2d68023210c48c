"""BUILD: compile the fix branch in a build slot; compiler errors go back to FIX.

The slot keeps its build folder job after job, so the fix rebuilds incrementally. The build
command runs with the scrubbed environment and a timeout that kills its whole process group. A
failed build is summarized (:mod:`crashpilot.diagnostics`), stored as a ``build_log`` artifact
and handed to the next FIX pass as feedback (FAILED -> FIX, bounded by ``worker.max_fix_attempts``).
"""

from __future__ import annotations

import logging
from typing import Any

from crashpilot.errors import PermanentError
from crashpilot.flow import Outcome
from crashpilot.stages import checks, fix_repos
from crashpilot.stages.setup import Pipeline, last_attempt
from crashpilot.store import artifacts, runs
from crashpilot.store.db import write_transaction
from crashpilot.worker import StageResult

log = logging.getLogger(__name__)


def run(job: Any, ctx: Any) -> StageResult:
    p = Pipeline(ctx)
    payload = job.payload
    with fix_repos.fix_slot(p, payload, stage="build", status="building", actor=ctx.worker_id) as (
        refs,
        slot,
    ):
        run_id, branch, head, module_heads = refs.run_id, refs.branch, refs.head, refs.module_heads
        for key, git, _ in slot.checkouts():
            want = head if key == "" else module_heads.get(key)
            if want is not None and git.head() != want:
                where = f" in {key}" if key else ""
                raise PermanentError(
                    f"branch {branch}{where} is at {git.head()[:12]}, not the fix {want[:12]}: it was changed outside crashpilot"
                )
        step = checks.build(p.settings, slot, p.env)
    log.info(
        "group %s: build %s: %s",
        job.group_id,
        "ok" if step.ok else "FAILED",
        step.summary.splitlines()[0] if step.summary else "",
        extra={"group": job.group_id, "run": run_id, "stage": "build"},
    )
    with write_transaction(p.engine) as conn:
        if step.output:
            artifacts.save(
                conn,
                p.blobs,
                "build_log",
                step.output.encode("utf-8"),
                name=f"run-{run_id}-build.log",
                group_id=job.group_id,
                run_id=run_id,
            )
        runs.add_result(conn, run_id, build=step.to_json())
    if step.ok:
        return StageResult(Outcome.OK)
    reason = f"the fix does not build: {step.summary[:300]}"
    if last_attempt(p.settings, payload):
        fix_repos.drop_branches(p, run_id, branch)
        reason += f" (after {payload.get('fix_passes')} fix attempt(s); a human takes over)"
    feedback = step.summary + (
        f"\n\n--- build output (tail) ---\n{step.output[-2500:]}" if step.output else ""
    )
    return StageResult(
        Outcome.FAILED,
        payload={"feedback": feedback, "feedback_stage": "BUILD (the compiler refused it)"},
        reason=reason,
    )
