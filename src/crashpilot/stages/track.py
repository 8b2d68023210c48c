"""TRACK: follow the group's pull request until a human decides.

For local pull requests the decision is ``crashpilot approve`` (merged -> FIXED) or ``crashpilot
reject`` (closed -> REJECTED); both wake this job. While the pull request is open the job waits
(WAITING, queued again after the worker's requeue delay). crashpilot never merges by itself.
"""

from __future__ import annotations

from typing import Any

from crashpilot.flow import Outcome
from crashpilot.stages.setup import Pipeline
from crashpilot.store import runs
from crashpilot.worker import StageResult


def run(job: Any, ctx: Any) -> StageResult:
    p = Pipeline(ctx)
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
