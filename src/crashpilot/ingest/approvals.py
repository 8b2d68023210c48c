"""Approval files of the request-queue folder: ``approvals/approval_<request_id>.json``.

``{"status": "approved"}`` or ``{"status": "rejected"}`` (an optional ``"reason"``) decides the
local pull request of the group the request's crash went to, exactly like ``crashpilot approve``
/ ``crashpilot reject``. A decision is applied once: a group whose pull request is no longer open
is left alone, and a file that cannot be applied is reported once in the log (the file is
untrusted input and is never deleted). Pull requests on a forge (GitHub ...) are decided there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.errors import CrashpilotError
from crashpilot.git import Identity
from crashpilot.handoff import approve, reject
from crashpilot.ingest.queue_folder import SOURCE_PREFIX, _safe_id
from crashpilot.store import runs
from crashpilot.store.schema import crash_reports

log = logging.getLogger(__name__)

__all__ = ["Approvals", "Decision"]

APPROVAL_GLOB = "approval_*.json"
ACTOR = "approval-file"


@dataclass(frozen=True)
class Decision:
    request_id: str
    group_id: int
    status: str  # approved | rejected
    pr_id: int


class Approvals:
    """Reads ``<folder>/approvals`` and applies the decisions it finds."""

    def __init__(
        self, folder: str | Path, engine: Engine, repo: Path, identity: Identity, modules: Sequence[Path] = ()
    ) -> None:
        self.folder = Path(folder) / "approvals"
        self.engine = engine
        self.repo = repo
        self.identity = identity
        self.modules = tuple(modules)
        self._reported: set[tuple[str, str]] = set()

    def _once(self, path: Path, why: str) -> None:
        key = (path.name, why)
        if key not in self._reported:
            self._reported.add(key)
            log.warning("approval %s not applied: %s", path.name, why)

    def _group_of(self, request_id: str) -> int | None:
        with self.engine.connect() as conn:
            gid = conn.execute(
                sa.select(crash_reports.c.group_id)
                .where(crash_reports.c.source == f"{SOURCE_PREFIX}{request_id}")
                .order_by(crash_reports.c.id)
                .limit(1)
            ).scalar_one_or_none()
        return int(gid) if gid is not None else None

    def scan(self) -> list[Decision]:
        """Apply every approval file whose group has an open local pull request."""
        done: list[Decision] = []
        if not self.folder.is_dir():
            return done
        for path in sorted(self.folder.glob(APPROVAL_GLOB)):
            request_id = _safe_id(path.name[len("approval_") : -len(".json")])
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError) as exc:
                self._once(path, f"unreadable ({type(exc).__name__})")
                continue
            status = data.get("status") if isinstance(data, dict) else None
            if status not in ("approved", "rejected"):
                self._once(path, 'status must be "approved" or "rejected"')
                continue
            group_id = self._group_of(request_id)
            if group_id is None:
                continue  # the request is not taken in yet
            with self.engine.connect() as conn:
                pr = runs.latest_pr(conn, group_id)
            if pr is None or pr["status"] != "open":
                continue  # nothing to decide yet, or decided already
            reason = data.get("reason") if isinstance(data.get("reason"), str) else None
            try:
                if status == "approved":
                    approve(
                        self.engine, self.repo, group_id, self.identity, actor=ACTOR, modules=self.modules
                    )
                else:
                    why = (
                        f"rejected by approval file: {reason[:500]}"
                        if reason
                        else "rejected by approval file"
                    )
                    reject(self.engine, self.repo, group_id, actor=ACTOR, reason=why, modules=self.modules)
            except CrashpilotError as exc:
                self._once(path, str(exc).splitlines()[0])
                continue
            log.info("approval %s: group %s pull request %s %s", path.name, group_id, pr["id"], status)
            done.append(Decision(request_id, group_id, str(status), int(pr["id"])))
        return done
