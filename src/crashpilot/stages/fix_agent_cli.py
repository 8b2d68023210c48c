"""FIX through an external agent CLI (Claude Code, Codex, Aider or a registered backend).

The FIX stage (:mod:`crashpilot.stages.fix`) hands a pass here when ``agent.backend`` is not
``builtin`` or when the worker's backends carry a ready ``agent`` object. The agent runs headless
in the build slot's worktree (:meth:`crashpilot.backends.agents.CliAgent.run`: scrubbed
environment, one key, timeout, ``git diff`` pickup, patch policy). What it prints is stored in
``exchanges``; what it *claims* is recorded and never trusted. A ``changed`` outcome is checked
against the policy once more and committed by the bot identity; BUILD and VERIFY then judge it.
Every other outcome (``no_change``, ``refused``, ``failed``, ``timeout``, ``auth``, ``missing``)
leaves the worktree at the base, deletes the branch and hands the group to a human with a
reason that names the backend, the status and what it said.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashpilot.agent.analysis import Analysis
from crashpilot.backends.agents import AgentOutcome, AgentRun, agent_task, make_agent
from crashpilot.errors import ConfigError, PolicyViolation
from crashpilot.stages import checks, fix_repos
from crashpilot.stages.setup import Pipeline
from crashpilot.store import artifacts, runs
from crashpilot.store import exchanges as exchange_store
from crashpilot.store.db import write_transaction
from crashpilot.worker import StageResult

log = logging.getLogger(__name__)

__all__ = ["CliPass", "hint_files", "in_app_paths", "resolve_agent", "run_pass", "uses_cli_agent"]


@dataclass(frozen=True)
class CliFinish:
    """The fields a commit message needs, from the analysis and the agent's (untrusted) summary."""

    root_cause: str
    summary: str
    fault_location: str
    kind: str
    confidence: float | None


@dataclass(frozen=True)
class CliPass:
    """One FIX pass's inputs, as the FIX stage prepared them."""

    run_id: int
    group_id: int
    base_sha: str
    branch: str
    pass_no: int
    context_md: str
    analysis: Analysis | None
    feedback: str
    group: Mapping[str, Any]
    in_app_files: tuple[str, ...] = ()
    module_bases: Mapping[str, str] | None = None  # fixed on the run's first FIX pass


def uses_cli_agent(p: Pipeline) -> bool:
    """True when FIX runs an agent CLI instead of the built-in tool loop."""
    if p.backends.get("agent") is not None:
        return True
    return str(p.settings["agent.backend"] or "builtin") != "builtin"


def resolve_agent(p: Pipeline) -> Any:
    """The agent backend object: the one the worker was given, or one made from the settings."""
    given = p.backends.get("agent")
    if given is not None:
        return given
    s = p.settings
    return make_agent(
        str(s["agent.backend"]),
        executable=str(s["agent.executable"] or "") or None,
        model=str(s["agent.model"] or "") or None,
        key_env=str(s["agent.key_env"] or "") or None,
    )


def in_app_paths(p: Pipeline, group_id: int) -> tuple[str, ...]:
    """The source files of the in-app frames of the group's newest report."""
    from crashpilot.store.groups import get_group
    from crashpilot.store.reports import get_report

    with p.engine.connect() as conn:
        group = get_group(conn, group_id, report_limit=1)
        reports = (group or {}).get("reports") or []
        newest = get_report(conn, reports[0]["id"]) if reports else None
    parsed = dict((newest or {}).get("parsed") or {})
    frames = (parsed.get("crashing_thread") or {}).get("frames") or []
    return tuple(str(f["file"]) for f in frames if f.get("in_app") and f.get("file"))


def hint_files(worktree: Path, paths: tuple[str, ...], limit: int = 20) -> tuple[str, ...]:
    """Repo-relative files of the crash's in-app frames that exist in ``worktree`` (suffix match)."""
    found: list[str] = []
    for raw in paths:
        parts = [x for x in Path(raw.replace("\\", "/")).parts if x not in ("/", ".", "..")]
        for i in range(len(parts)):
            rel = "/".join(parts[i:])
            if rel and (worktree / rel).is_file():
                if rel not in found:
                    found.append(rel)
                break
        if len(found) >= limit:
            break
    return tuple(found)


def _record(p: Pipeline, c: CliPass, outcome: AgentOutcome) -> None:
    with write_transaction(p.engine) as conn:
        exchange_store.insert_exchange(conn, run_id=c.run_id, group_id=c.group_id, **outcome.exchange())
        runs.sum_tokens(conn, c.run_id)
        runs.add_result(
            conn,
            c.run_id,
            agent={
                "backend": outcome.backend,
                "status": outcome.status,
                "exit_code": outcome.exit_code,
                "claimed_success": outcome.claimed_success,
                "summary": (outcome.summary or "")[:2000],
                "error": (outcome.error or "")[:2000] or None,
                "seconds": round(outcome.duration_s, 3),
                "commits_undone": outcome.commits_undone,
                "files": list(outcome.changed_files),
            },
        )


def _reason(outcome: AgentOutcome, pass_no: int) -> str:
    lines = [x.strip() for x in (outcome.error or outcome.summary or "").splitlines() if x.strip()]
    said = " ".join(lines)[:600] or "no detail"
    return f"the {outcome.backend} agent ended with status {outcome.status} on pass {pass_no}: {said}"


def run_pass(
    p: Pipeline,
    c: CliPass,
    ctx: Any,
    give_up: Callable[[Pipeline, int, str, str], StageResult],
    commit_message: Callable[..., str],
) -> StageResult:
    """Run one FIX pass with the agent CLI; ``give_up(p, run_id, branch, reason)`` ends the run."""
    s = p.settings
    extra = {"group": c.group_id, "run": c.run_id, "stage": "fix"}
    try:
        agent = resolve_agent(p)
    except ConfigError as exc:
        return give_up(p, c.run_id, c.branch, f"FIX could not start: {exc}")
    policy = p.policy
    reproducer = checks.reproducer_command(s)
    build_cmd, test_cmd = str(s["build.command"] or ""), str(s["test.command"] or "")
    prompt = (
        agent_task(
            c.context_md,
            policy,
            build=build_cmd or None,
            tests=test_cmd or None,
            reproducer=reproducer,
            analysis=c.analysis,
        )
        + c.feedback
    )
    budget_usd = float(s["agent.max_budget_usd"] or 0.0)
    slots = p.slots()
    module_bases = dict(c.module_bases) if c.module_bases is not None else slots.module_bases()
    module_heads: dict[str, str] = {}
    with slots.acquire(c.branch, c.base_sha, module_bases=module_bases) as slot:
        slot.reset_to_base()
        job = AgentRun(
            worktree=slot.worktree,
            prompt=prompt,
            policy=policy,
            timeout=float(s["agent.timeout"]),
            env={**p.env, **slot.env},
            api_key=p.backends.get("agent_key") or None,
            max_turns=int(s["agent.max_turns"]) or None,
            max_budget_usd=budget_usd or None,
            commands=tuple(x for x in (build_cmd, test_cmd, reproducer or "") if x),
            files=hint_files(slot.worktree, c.in_app_files),
        )
        outcome: AgentOutcome = agent.run(job)
        _record(p, c, outcome)
        refused: str | None = None
        head = diff = ""
        summary = None
        if outcome.status == "changed":
            changes = fix_repos.collect(slot)  # the core's change and each module's
            diff = fix_repos.combined_diff(changes)
            try:
                summary = policy.check_diff(diff)
                refused = fix_repos.single_change(changes)
            except PolicyViolation as exc:
                refused = f"the patch was refused by the patch policy: {exc}"
            if refused is None and summary is not None:
                a = c.analysis
                finish = CliFinish(
                    root_cause=a.root_cause if a else "(no analysis ran)",
                    summary=f"{outcome.backend} agent: {outcome.summary or '(no summary)'}",
                    fault_location=a.fault_location if a else "",
                    kind="fix",
                    confidence=a.confidence if a else None,
                )
                head, module_heads = fix_repos.commit_fix(
                    slot, changes, commit_message(c.group, finish, c.run_id, c.pass_no), p.identity
                )
            else:
                slot.reset_to_base()
    if outcome.status != "changed":
        reason = _reason(outcome, c.pass_no)
        log.info("group %s: %s", c.group_id, reason, extra=extra)
        return give_up(p, c.run_id, c.branch, reason)
    if refused is not None or summary is None:
        log.warning("group %s: %s", c.group_id, refused, extra=extra)
        return give_up(p, c.run_id, c.branch, refused or "the patch was refused")
    fix = {
        "root_cause": c.analysis.root_cause if c.analysis else None,
        "summary": outcome.summary,
        "kind": "fix",
        "confidence": c.analysis.confidence if c.analysis else None,
        "fault_location": c.analysis.fault_location if c.analysis else None,
        "head": head,
        "repo": changes[0].key if changes else "",
        "module_heads": module_heads,
        "module_bases": module_bases,
        "files": [x.path for x in summary.files],
        "changed_lines": summary.changed_lines,
        "pass": c.pass_no,
        "agent": outcome.backend,
    }
    with write_transaction(p.engine) as conn:
        artifacts.save(
            conn,
            p.blobs,
            "patch",
            diff.encode("utf-8"),
            name=f"run-{c.run_id}-pass-{c.pass_no}.diff",
            group_id=c.group_id,
            run_id=c.run_id,
        )
        runs.add_result(conn, c.run_id, fix=fix)
        runs.update_run(conn, c.run_id, status="building", stage="build", actor=ctx.worker_id)
    log.info(
        "group %s: %s change committed on %s as %s",
        c.group_id,
        outcome.backend,
        c.branch,
        head[:12],
        extra=extra,
    )
    return fix_repos.committed(head, module_heads, module_bases, diff)
