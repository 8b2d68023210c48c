"""ANALYSE: gather what a human would, and decide whether a fix is attempted.

This version writes the triage brief for every new group and hands the group to a human
(ABSTAIN -> NEEDS_HUMAN): the model-driven analysis and fix loop are not built yet, and
crashpilot says so instead of guessing. The brief is stored as an artifact and as a file
``<home>/briefs/group-<id>.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from crashpilot.flow import Outcome
from crashpilot.worker import StageResult
from crashpilot.stages import brief
from crashpilot.store import artifacts
from crashpilot.store.blobs import BlobStore
from crashpilot.store.groups import get_group
from crashpilot.store.reports import get_report

log = logging.getLogger(__name__)

NO_MODEL = "no model is configured (model.name): crashpilot wrote this triage brief instead of a fix"
NOT_YET = "automatic root-cause analysis is not available in this version: crashpilot wrote this triage brief instead"


def run(job: Any, ctx: Any) -> StageResult:
    settings = ctx.settings
    home: Path = settings.home
    blobs = BlobStore(home / "blobs")
    with ctx.engine.connect() as conn:
        group = get_group(conn, job.group_id, report_limit=1)
        if group is None:
            raise LookupError(f"group {job.group_id} does not exist")
        reports = group.get("reports") or []
        newest = get_report(conn, reports[0]["id"]) if reports else None
    parsed = (newest or {}).get("parsed") or {}
    repo = settings.repo if settings.repo is not None and (settings.repo / ".git").exists() else None
    reason = NOT_YET if settings["model.name"] else NO_MODEL
    text = brief.render(group, parsed, repo, reason)
    target = home / "briefs" / f"group-{group['id']}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    with ctx.engine.begin() as conn:
        artifacts.save(conn, blobs, "brief", text.encode("utf-8"), name=target.name, group_id=group["id"])
    log.info("group %s: triage brief written to %s", group["id"], target, extra={"group": group["id"], "stage": "analyse"})
    return StageResult(Outcome.ABSTAIN, reason=f"{reason}; brief: {target}")
