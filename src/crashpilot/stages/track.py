"""TRACK: follow the group's pull request until a human decides.

Local pull requests: the decision is ``crashpilot approve`` (merged -> FIXED) or ``crashpilot
reject`` (closed -> REJECTED), or an approval file of the request-queue folder; each wakes this
job. A pull request on a forge (GitHub ...) is polled every ``forge.poll_seconds``: merged ->
FIXED, closed -> REJECTED, changes requested on its current head -> back to FIX with the
reviewers' text as feedback (untrusted: FIX shows it fenced, as data). FIX then works on the same
branch and PUBLISH pushes to the same pull request. While it is open the job waits. crashpilot
never merges by itself.
"""

from __future__ import annotations

import logging
from typing import Any

from crashpilot.backends.forges.types import PullRequest, PullRequestState
from crashpilot.flow import Outcome
from crashpilot.stages.publish import forges_of
from crashpilot.stages.setup import Pipeline
from crashpilot.store import runs
from crashpilot.store.db import write_transaction
from crashpilot.worker import StageResult

log = logging.getLogger(__name__)

MAX_FEEDBACK = 12_000


def feedback_of(state: PullRequestState) -> str:
    """The reviewers' words as plain text, each piece labelled with its author and place."""
    parts = []
    for item in state.feedback:
        where = f" on {item.path}:{item.line}" if item.path else ""
        parts.append(f"[{item.kind} by {item.author}{where}]\n{item.body.strip()}")
    return ("\n\n".join(parts) or "(the reviewer asked for changes without a comment)")[:MAX_FEEDBACK]


def _remote(p: Pipeline, job: Any, info: dict[str, Any]) -> StageResult:
    forge = forges_of(p).for_repo(str(info.get("repo") or ""))
    run_id = int(job.payload["run_id"])
    if forge is None:  # the settings went back to local: nothing to poll
        return StageResult(Outcome.WAITING, delay=float(p.settings["forge.poll_seconds"]))
    pr = PullRequest(int(info["number"]), str(info["url"]), str(job.payload["branch"]), str(info["base"]))
    state = forge.pr_state(pr)
    extra = {"group": job.group_id, "run": run_id, "stage": "track"}
    if state.status == "merged":
        with write_transaction(p.engine) as conn:
            runs.add_result(conn, run_id, merged_sha=state.merged_sha)
            runs.finish_run(conn, run_id, "merged", actor=p.ctx.worker_id)
        log.info("group %s: %s merged", job.group_id, pr.url, extra=extra)
        return StageResult(Outcome.MERGED, reason=f"pull request {pr.url} merged")
    if state.status == "closed":
        with write_transaction(p.engine) as conn:
            runs.finish_run(conn, run_id, "rejected", actor=p.ctx.worker_id)
        return StageResult(Outcome.CLOSED, reason=f"pull request {pr.url} closed without merging")
    if state.changes_requested:
        text = feedback_of(state)
        log.info("group %s: changes requested on %s", job.group_id, pr.url, extra=extra)
        with write_transaction(p.engine) as conn:
            runs.add_result(conn, run_id, review={"head": state.head_sha, "feedback": text})
        return StageResult(
            Outcome.CHANGES_REQUESTED,
            payload={"feedback": text, "feedback_stage": "REVIEW (a maintainer asked for changes)"},
            reason=f"changes requested on {pr.url}",
        )
    return StageResult(Outcome.WAITING, delay=float(p.settings["forge.poll_seconds"]))


def run(job: Any, ctx: Any) -> StageResult:
    p = Pipeline(ctx)
    run_id = job.payload.get("run_id")
    if run_id is not None:
        with p.engine.connect() as conn:
            run_row = runs.get_run(conn, int(run_id))
        info = ((run_row or {}).get("result") or {}).get("pr") or {}
        if info.get("forge") not in (None, "local"):
            return _remote(p, job, info)
    with p.engine.connect() as conn:
        pr = runs.latest_pr(conn, job.group_id)
    if pr is None:
        return StageResult(Outcome.CLOSED, reason="the pull request is gone")
    if pr["status"] == "merged":
        return StageResult(
            Outcome.MERGED, reason=f"pull request {pr['id']} merged as {str(pr.get('merged_sha') or '')[:12]}"
        )
    if pr["status"] == "rejected":
        return StageResult(Outcome.CLOSED, reason=f"pull request {pr['id']} rejected")
    return StageResult(Outcome.WAITING)
