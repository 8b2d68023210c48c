"""VERIFY: tests that passed on the base must still pass; the reproducer must crash on the base
build and must not crash on the fix, each run k times.

Base and branch are built in the same slot (incrementally: only what the checkout changed is
rebuilt); the base's results are cached per base commit and commands. "Crashes" means what
:mod:`crashpilot.crashcheck` says: ended by a signal, or printed a sanitizer or assertion report.
The verification level is stated as it is:

- ``reproduced-and-fixed``  the reproducer crashed on the base and never on the fix, tests did not regress;
- ``tests-pass``            the tests pass on the fix (no reproducer, or it did not crash on the base);
- ``builds-only``           it builds; nothing else could be checked.

A reproducer that still crashes, or tests that passed on the base and fail on the fix, send the
run back to FIX with the evidence (bounded like every retry).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from crashpilot.flow import Outcome
from crashpilot.slots import Slot
from crashpilot.stages import checks, fix_repos
from crashpilot.stages.setup import Pipeline, last_attempt
from crashpilot.store import runs
from crashpilot.store.db import write_transaction
from crashpilot.worker import StageResult

log = logging.getLogger(__name__)

LEVELS = ("reproduced-and-fixed", "tests-pass", "builds-only")


def _cache_file(p: Pipeline, base_sha: str, module_bases: dict[str, str] | None = None) -> Path:
    s = p.settings
    parts: list[Any] = [
        base_sha,
        s["build.command"],
        s["test.command"],
        s["reproduce.command"],
        s["reproduce.runs"],
    ]
    if module_bases:
        parts.append(sorted(module_bases.items()))
    key = json.dumps(parts)
    return p.home / "verify-cache" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _check(p: Pipeline, slot: Slot, rev: str, module_revs: dict[str, str] | None = None) -> dict[str, Any]:
    """Build, test and reproduce at ``rev`` of the core and ``module_revs`` (default: their bases)."""
    revs = module_revs or {}
    for key, git, base in slot.checkouts():
        git.run("checkout", "-q", "--force", "--detach", rev if key == "" else revs.get(key, base))
    env = p.env
    out: dict[str, Any] = {"revision": rev, "build": checks.build(p.settings, slot, env).to_json()}
    if out["build"]["ok"]:
        out["tests"] = checks.tests(p.settings, slot, env).to_json()
        out["reproducer"] = checks.reproduce(p.settings, slot, env).to_json()
    return out


def base_results(p: Pipeline, slot: Slot, base_sha: str) -> dict[str, Any]:
    cache = _cache_file(p, base_sha, {m.key: m.base for m in slot.modules})
    try:
        cached: dict[str, Any] = json.loads(cache.read_text(encoding="utf-8"))
        return {**cached, "cached": True}
    except (OSError, ValueError):
        pass
    result = _check(p, slot, base_sha)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result), encoding="utf-8")
    return result


def judge(base: dict[str, Any], fix: dict[str, Any]) -> tuple[str | None, str]:
    """The verification level, or None and the reason the fix failed verification."""
    if not fix["build"]["ok"]:
        return None, f"the fix does not build in a clean slot: {fix['build']['summary']}"
    b_tests, f_tests = base.get("tests") or {}, fix["tests"]
    b_repro, f_repro = base.get("reproducer") or {}, fix["reproducer"]
    if f_repro["configured"] and f_repro["crashes"]:
        return (
            None,
            f"the reproducer still crashes with the fix: {f_repro['summary']}\n{f_repro['output'][-2000:]}",
        )
    if f_tests["configured"] and not f_tests["ok"] and b_tests.get("ok", False):
        return (
            None,
            f"tests that passed on the base fail with the fix: {f_tests['summary']}\n{f_tests['output'][-2000:]}",
        )
    if f_repro["configured"] and b_repro.get("crashes", 0) > 0 and f_repro["ok"]:
        return "reproduced-and-fixed", "the reproducer crashed on the base and no longer crashes"
    if f_tests["configured"] and f_tests["ok"]:
        why = (
            "no reproducer is configured"
            if not f_repro["configured"]
            else "the reproducer did not crash on the base"
        )
        return "tests-pass", f"the tests pass ({why})"
    return "builds-only", "it builds; no passing tests or reproducer to check it further"


def run(job: Any, ctx: Any) -> StageResult:
    p = Pipeline(ctx)
    payload = job.payload
    with fix_repos.fix_slot(p, payload, stage="verify", status="verifying", actor=ctx.worker_id) as (
        refs,
        slot,
    ):
        base = base_results(p, slot, refs.base_sha)
        fix = _check(p, slot, refs.head, refs.module_heads)
    run_id, branch = refs.run_id, refs.branch
    level, why = judge(base, fix)
    evidence = {"base": base, "fix": fix, "level": level, "why": why}
    with write_transaction(p.engine) as conn:
        runs.add_result(conn, run_id, verify=evidence)
        if level is not None:
            runs.update_run(conn, run_id, verification=level, actor=ctx.worker_id)
    log.info(
        "group %s: verify: %s (%s)",
        job.group_id,
        level or "FAILED",
        why.splitlines()[0],
        extra={"group": job.group_id, "run": run_id, "stage": "verify"},
    )
    if level is None:
        reason = why.splitlines()[0]
        if last_attempt(p.settings, payload):
            fix_repos.drop_branches(p, run_id, branch)
            reason += f" (after {payload.get('fix_passes')} fix attempt(s); a human takes over)"
        return StageResult(
            Outcome.FAILED, payload={"feedback": why, "feedback_stage": "VERIFY"}, reason=reason
        )
    return StageResult(Outcome.OK, payload={"verification": level})
