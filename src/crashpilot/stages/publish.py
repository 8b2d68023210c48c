"""PUBLISH: the verified fix becomes a pull request (on the embedded default: a local one).

The body a reviewer reads: the crash (signature, kind, occurrences), the analysis, the change
(files, diff), the build / test / reproducer evidence on base and fix, the verification level
as it is, and the model usage. Crash text is untrusted: it is flattened or fenced. Never to the
base branch, never merged here: TRACK waits for ``crashpilot approve`` / ``reject``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from crashpilot.errors import PermanentError
from crashpilot.flow import Outcome
from crashpilot.handoff import Forge, LocalForge
from crashpilot.stages.brief import fenced, one_line
from crashpilot.stages.setup import Pipeline
from crashpilot.store import runs
from crashpilot.store.db import utcnow, write_transaction
from crashpilot.store.groups import get_group
from crashpilot.store.schema import crash_groups
from crashpilot.worker import StageResult

log = logging.getLogger(__name__)

LEVEL_WORDS = {
    "reproduced-and-fixed": "the reproducer crashed on the base build and did not crash on the fixed build in any run",
    "tests-pass": "the tests pass on the fixed build; the crash itself was not reproduced",
    "builds-only": "the fixed build compiles; nothing else could be checked",
}


def _evidence_lines(side: Mapping[str, Any]) -> list[str]:
    out = []
    for key in ("build", "tests", "reproducer"):
        step = side.get(key)
        if not step:
            continue
        if not step.get("configured"):
            state = "not configured"
        elif key == "reproducer":
            state = "CRASHED" if step.get("crashes") else ("no crash" if step.get("ok") else "hung")
        else:
            state = "ok" if step.get("ok") else "FAILED"
        out.append(f"  - {key}: {state}: {one_line(step.get('summary'), 300)}")
    return out


def render_body(group: Mapping[str, Any], run: Mapping[str, Any], diff: str) -> str:
    result = run.get("result") or {}
    analysis, fix, verify = result.get("analysis") or {}, result.get("fix") or {}, result.get("verify") or {}
    level = run.get("verification") or verify.get("level") or "unknown"
    parts = [
        f"Crash group {group['id']}: {one_line(group.get('title') or group.get('signature'), 200)}",
        "",
        f"**Verification: `{level}`** ({LEVEL_WORDS.get(level, 'see the evidence')}).",
        "",
        "## Crash",
        "",
        f"- kind: {one_line(group.get('crash_kind') or '-')}",
        f"- signature: {one_line(group.get('signature'), 300)}",
        f"- seen {group.get('count')} time(s), first {group.get('first_seen')}, last {group.get('last_seen')}",
        "",
        "## Analysis",
        "",
        "Root cause (the model's words):",
        "",
        fenced(str(fix.get("root_cause") or analysis.get("root_cause") or "-")[:3000]),
        "",
        "Fault location"
        + ("" if analysis.get("fault_in_stack", True) else " (not on the crashing stack)")
        + ":",
        "",
        fenced(str(fix.get("fault_location") or analysis.get("fault_location") or "-")[:500]),
        "",
        f"Change kind: {one_line(fix.get('kind'))}, model confidence {float(fix.get('confidence') or 0):.2f}. Summary:",
        "",
        fenced(str(fix.get("summary") or "-")[:3000]),
        "",
        "## Change",
        "",
        f"{len(fix.get('files') or [])} file(s), {fix.get('changed_lines', 0)} changed line(s): "
        + ", ".join(one_line(f, 120) for f in fix.get("files") or []),
        "",
        fenced(diff[:20_000], "diff"),
        "",
        "## Evidence",
        "",
        "- base build"
        + (" (cached for this base commit)" if (verify.get("base") or {}).get("cached") else "")
        + ":",
        *_evidence_lines(verify.get("base") or {}),
        "- fixed build:",
        *_evidence_lines(verify.get("fix") or {}),
        "",
        f"Model: {run.get('input_tokens', 0)} input + {run.get('output_tokens', 0)} output tokens over "
        f"{fix.get('pass', 1)} fix pass(es).",
        "",
        f"Review: `crashpilot approve {group['id']}` merges the branch, `crashpilot reject {group['id']}` drops it.",
    ]
    return "\n".join(parts) + "\n"


def run(job: Any, ctx: Any) -> StageResult:
    p = Pipeline(ctx)
    payload = job.payload
    run_id, branch, head = int(payload["run_id"]), str(payload["branch"]), str(payload["head"])
    with write_transaction(p.engine) as conn:
        runs.update_run(conn, run_id, status="publishing", stage="publish", actor=ctx.worker_id)
    with p.engine.connect() as conn:
        group = get_group(conn, job.group_id, report_limit=0)
        run_row = runs.get_run(conn, run_id)
    if group is None or run_row is None:
        raise PermanentError(f"group {job.group_id} or run {run_id} is gone")
    diff = str(payload.get("previous_diff") or "")
    level = str(run_row.get("verification") or payload.get("verification") or "builds-only")
    title = f"Fix {one_line(group.get('title') or group.get('signature'), 80)}"
    body = render_body(group, run_row, diff)
    forge: Forge = p.backends.get("forge") or LocalForge()
    with write_transaction(p.engine) as conn:
        ref = forge.open(
            conn,
            group_id=group["id"],
            run_id=run_id,
            branch=branch,
            base=p.base_branch,
            head_sha=head,
            verification=level,
            title=title,
            body=body,
            actor=ctx.worker_id,
        )
        conn.execute(
            crash_groups.update()
            .where(crash_groups.c.id == group["id"])
            .values(branch=branch, pr_url=ref, updated_at=utcnow())
        )
        runs.update_run(conn, run_id, status="pr_open", stage="track", actor=ctx.worker_id)
    log.info(
        "group %s: pull request %s (%s) for %s",
        group["id"],
        ref,
        level,
        branch,
        extra={"group": group["id"], "run": run_id, "stage": "publish"},
    )
    return StageResult(
        Outcome.OK, payload={"pr": ref}, reason=f"pull request {ref} ({level}) waits for review"
    )
