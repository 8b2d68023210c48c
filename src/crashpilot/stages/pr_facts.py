"""What a pull request says, gathered from the store: the group, its newest report, the run.

:func:`gather` reads; :func:`body_facts` turns the rows into a
:class:`~crashpilot.backends.forges.body.BodyFacts` (pure, tested without a database). One body
renderer serves the local and the GitHub forge alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot import __version__
from crashpilot.backends.forges.body import BodyFacts, Check
from crashpilot.git import NumStat
from crashpilot.store.schema import crash_reports, exchanges

__all__ = ["area_of", "body_facts", "frames_of", "gather", "summary_of"]

_SIDES = (("base", "base build"), ("fix", "fixed build"))


def frames_of(parsed: Mapping[str, Any] | None, limit: int = 40) -> list[str]:
    """The crashing thread's frames as one line each: ``function (file:line)``."""
    thread = (parsed or {}).get("crashing_thread") or {}
    out = []
    for frame in (thread.get("frames") or [])[:limit]:
        if not isinstance(frame, Mapping):
            continue
        name = str(frame.get("function") or frame.get("address") or "?")
        where = str(frame.get("file") or frame.get("module") or "")
        if where and frame.get("line"):
            where += f":{frame['line']}"
        out.append(f"{name} ({where})" if where else name)
    return out


def summary_of(group: Mapping[str, Any], first_frame: str | None) -> str:
    """The crash in a few words: the group's title, else kind + top frame ("SIGSEGV in X::Y")."""
    if group.get("title"):
        return str(group["title"])
    kind = str(group.get("crash_kind") or "crash")
    return f"{kind} in {first_frame}" if first_frame else kind


def area_of(path: str) -> str:
    """The folder a changed file sits in (``src/server/game/Groups/Group.cpp`` -> ``Groups``)."""
    parent = PurePosixPath(path).parent.name
    return parent or PurePosixPath(path).stem


def _checks(verify: Mapping[str, Any]) -> list[Check]:
    out = []
    for side_key, side in _SIDES:
        data = verify.get(side_key) or {}
        if not data:
            continue
        label = side + (" (cached for this base commit)" if data.get("cached") else "")
        for name in ("build", "tests", "reproducer"):
            step = data.get(name)
            if not step:
                continue
            if not step.get("configured", True):
                state = "not configured"
            elif name == "reproducer":
                state = "CRASHED" if step.get("crashes") else ("no crash" if step.get("ok") else "hung")
            else:
                state = "ok" if step.get("ok") else "FAILED"
            out.append(Check(label, name, state, str(step.get("summary") or "")))
    return out


def body_facts(
    group: Mapping[str, Any],
    run: Mapping[str, Any],
    *,
    frames: Sequence[str] = (),
    diff: str = "",
    diff_stats: Sequence[NumStat] = (),
    model: str | None = None,
    review_hint: str = "",
) -> BodyFacts:
    """The facts of the pull request for ``group``'s ``run`` (rows as the store returns them)."""
    result = run.get("result") or {}
    analysis, fix, verify = result.get("analysis") or {}, result.get("fix") or {}, result.get("verify") or {}
    level = str(run.get("verification") or verify.get("level") or "builds-only")
    cost = run.get("cost")
    fault = str(fix.get("fault_location") or analysis.get("fault_location") or "")
    if fault and analysis.get("fault_in_stack") is False:
        fault += " (not on the crashing stack)"
    confidence = fix.get("confidence")
    return BodyFacts(
        group_id=group["id"],
        summary=summary_of(group, frames[0] if frames else None),
        occurrences=int(group.get("count") or 0),
        signature=str(group.get("signature") or ""),
        frames=list(frames),
        root_cause=str(fix.get("root_cause") or analysis.get("root_cause") or ""),
        change=str(fix.get("summary") or ""),
        diff_stats=list(diff_stats),
        verification_level=level,
        checks=_checks(verify),
        model=model,
        cost_usd=float(cost) if cost is not None else None,
        crashpilot_version=__version__,
        crash_kind=group.get("crash_kind"),
        first_seen=group.get("first_seen"),
        last_seen=group.get("last_seen"),
        revisions=[str(r) for r in group.get("revisions") or []],
        diff=diff,
        fault_location=fault,
        change_kind=str(fix.get("kind") or ""),
        confidence=float(confidence) if isinstance(confidence, int | float) else None,
        tokens=(int(run.get("input_tokens") or 0), int(run.get("output_tokens") or 0)),
        review_hint=review_hint,
    )


def gather(conn: Connection, group_id: int, run_id: int) -> tuple[list[str], str | None]:
    """The newest report's top frames and the model(s) the run talked to (None when none)."""
    parsed = conn.execute(
        sa.select(crash_reports.c.parsed)
        .where(crash_reports.c.group_id == group_id, crash_reports.c.status == "grouped")
        .order_by(crash_reports.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    names = sorted(
        {
            f"{row.provider}:{row.model}" if row.provider else str(row.model)
            for row in conn.execute(
                sa.select(exchanges.c.provider, exchanges.c.model)
                .where(exchanges.c.run_id == run_id, exchanges.c.model.is_not(None))
                .distinct()
            )
        }
    )
    return frames_of(parsed), (", ".join(names) or None)
