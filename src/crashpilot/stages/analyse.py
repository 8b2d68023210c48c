"""ANALYSE: gather what a senior engineer would, and ask the model whether a fix is attempted.

With no model configured, crashpilot writes the triage brief for every new group and hands the
group to a human (ABSTAIN -> NEEDS_HUMAN). With a model, a run starts: the context
(:func:`crashpilot.context.gather`) goes to the model once (:func:`crashpilot.agent.analyse`) for
root cause, fault location, fixability and plan. ``fix``/``mitigate`` -> FIX with the run id in
the payload; ``abstain``, an unreadable answer, a spent budget or a model that fails for good ->
NEEDS_HUMAN with a brief that says why. Before a run starts, the daily / monthly cost caps are
checked (:mod:`crashpilot.costs`): past one, the group waits (``waiting_budget``) and no run
starts. A transient model failure (after the backend's own
retries) is raised so the worker tries the job again later. The brief is stored as an artifact
and as a file ``<home>/briefs/group-<id>.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crashpilot.agent import analyse as ask_model
from crashpilot.context import gather
from crashpilot.costs import WAITING_STATUS, Caps, Hold, hold_for
from crashpilot.errors import PermanentError, TransientError
from crashpilot.flow import Outcome
from crashpilot.git import Git
from crashpilot.serial import report_from_json
from crashpilot.stages import brief
from crashpilot.stages.setup import Pipeline, branch_name
from crashpilot.store import artifacts, runs
from crashpilot.store.db import write_transaction
from crashpilot.store.groups import get_group
from crashpilot.store.reports import get_report
from crashpilot.worker import StageResult

log = logging.getLogger(__name__)

BUDGET_WAIT = "budget_wait"  # payload key: the cap this group waits on (logged once per cap)
NO_MODEL = "no model is configured (model.name): crashpilot wrote this triage brief instead of a fix"
NO_REPO = (
    "no project repository is configured (project.repo): crashpilot wrote this triage brief instead of a fix"
)


def write_brief(
    p: Pipeline,
    group: Mapping[str, Any],
    parsed: Mapping[str, Any],
    reason: str,
    *,
    run_id: int | None = None,
    extra: str = "",
) -> Path:
    """Render, store and write the triage brief; returns the file."""
    repo = p.settings.repo if p.settings.repo is not None and (p.settings.repo / ".git").exists() else None
    text = brief.render(group, parsed, repo, reason) + extra
    target = p.home / "briefs" / f"group-{group['id']}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    with write_transaction(p.engine) as conn:
        artifacts.save(
            conn,
            p.blobs,
            "brief",
            text.encode("utf-8"),
            name=target.name,
            group_id=group["id"],
            run_id=run_id,
        )
    log.info(
        "group %s: triage brief written to %s",
        group["id"],
        target,
        extra={"group": group["id"], "stage": "analyse"},
    )
    return target


def _load(p: Pipeline, group_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    with p.engine.connect() as conn:
        group = get_group(conn, group_id, report_limit=1)
        if group is None:
            raise LookupError(f"group {group_id} does not exist")
        reports = group.get("reports") or []
        newest = get_report(conn, reports[0]["id"]) if reports else None
    return group, dict((newest or {}).get("parsed") or {})


def _to_human(
    p: Pipeline,
    group: Mapping[str, Any],
    parsed: Mapping[str, Any],
    reason: str,
    *,
    run_id: int | None = None,
    extra: str = "",
) -> StageResult:
    target = write_brief(p, group, parsed, reason, run_id=run_id, extra=extra)
    if run_id is not None:
        with write_transaction(p.engine) as conn:
            runs.finish_run(conn, run_id, "needs_human", actor=p.ctx.worker_id)
    return StageResult(Outcome.ABSTAIN, reason=f"{reason}; brief: {target}")


def _wait(job: Any, group: Mapping[str, Any], hold: Hold) -> StageResult:
    """Put the group back in the queue until the cap resets (or the next recheck); logged once."""
    extra = {"group": group["id"], "stage": "analyse"}
    if job.payload.get(BUDGET_WAIT) != hold.cap:
        log.warning("group %s waits: %s", group["id"], hold.reason, extra=extra)
    else:
        log.debug("group %s still waits: %s", group["id"], hold.reason, extra=extra)
    return StageResult(
        Outcome.WAITING,
        payload={BUDGET_WAIT: hold.cap},
        reason=hold.reason,
        delay=hold.delay(datetime.now(UTC)),
        status=WAITING_STATUS,
    )


def run(job: Any, ctx: Any) -> StageResult:
    with Pipeline(ctx) as p:
        return _run(p, job, ctx)


def _run(p: Pipeline, job: Any, ctx: Any) -> StageResult:
    group, parsed = _load(p, job.group_id)
    if not p.has_model:
        return _to_human(p, group, parsed, NO_MODEL)
    try:
        repo = p.repo
    except PermanentError:
        return _to_human(p, group, parsed, NO_REPO)
    hold = hold_for(p.engine, Caps.from_settings(p.settings))
    if hold is not None:  # a cost cap is reached: no new run spends until it resets
        return _wait(job, group, hold)
    git = Git(repo)
    base_sha = git.rev_parse(p.base_branch)
    branch = branch_name(group["id"])
    context_md = gather(report_from_json(parsed), repo).to_markdown()
    with write_transaction(p.engine) as conn:
        run_id = runs.start_run(conn, group["id"], branch=branch, base_revision=base_sha, actor=ctx.worker_id)
        context_id = artifacts.save(
            conn,
            p.blobs,
            "context",
            context_md.encode("utf-8"),
            name=f"context-run-{run_id}.md",
            group_id=group["id"],
            run_id=run_id,
        )
    if git.branch_exists(branch):  # a branch left by an earlier run: this run starts from the base again
        git.delete_branch(branch, force=True)
    with p.engine.connect() as conn:
        run_row = runs.get_run(conn, run_id)
    assert run_row is not None
    extra = {"group": group["id"], "run": run_id, "stage": "analyse"}
    try:
        model, budget = p.model(run_row, group["id"])
        try:
            analysis = ask_model(model, context_md, budget, max_tokens=int(p.settings["model.max_tokens"]))
        finally:
            with write_transaction(p.engine) as conn:
                runs.sum_tokens(conn, run_id)
                runs.add_result(conn, run_id, model_seconds=budget.usage().elapsed_s)
    except TransientError:
        with write_transaction(p.engine) as conn:
            runs.finish_run(conn, run_id, "failed", actor=ctx.worker_id)
        raise
    except PermanentError as exc:  # garbage, refused, budget spent: a human takes over, with the reason
        log.warning("group %s: analysis failed: %s", group["id"], exc, extra=extra)
        return _to_human(p, group, parsed, f"the model's analysis failed: {exc}", run_id=run_id)
    data = {
        "root_cause": analysis.root_cause,
        "fault_location": analysis.fault_location,
        "fault_in_stack": analysis.fault_in_stack,
        "fixability": analysis.fixability,
        "plan": analysis.plan,
        "confidence": analysis.confidence,
    }
    with write_transaction(p.engine) as conn:
        runs.add_result(conn, run_id, analysis=data, context_artifact=context_id)
    if analysis.fixability == "abstain":
        words = "\n## The model's analysis (it abstained)\n\n" + brief.fenced(analysis.render()) + "\n"
        return _to_human(
            p,
            group,
            parsed,
            "the model abstained: it judged this crash not safely fixable",
            run_id=run_id,
            extra=words,
        )
    with write_transaction(p.engine) as conn:
        runs.update_run(conn, run_id, status="fixing", stage="fix", actor=ctx.worker_id)
    log.info("group %s: analysis says %s", group["id"], analysis.fixability, extra=extra)
    return StageResult(
        Outcome.OK, payload={"run_id": run_id, "base_sha": base_sha, "branch": branch, BUDGET_WAIT: None}
    )
