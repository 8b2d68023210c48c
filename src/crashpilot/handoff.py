"""Hand-off on the embedded default: local pull requests, approved or rejected by a human.

PUBLISH records the verified fix (already committed on ``crashpilot/<group-id>`` by the bot) as a
local pull request through a :class:`Forge`; :class:`LocalForge` is the built-in one. Nothing here
merges by itself: :func:`approve` (``crashpilot approve GROUP``) merges the branch into the base
branch, :func:`reject` (``crashpilot reject GROUP``) drops the branch. Either one wakes the
group's TRACK job, which ends the flow in FIXED or REJECTED.

Merging never disturbs the user's checkout: when the base branch is checked out (and clean) in
the project repository the merge happens there; when another branch is checked out it happens
in a temporary worktree and the base ref is moved with a compare-and-swap ``update-ref``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashpilot.errors import CrashpilotError
from crashpilot.git import Git, Identity
from crashpilot.store import runs
from crashpilot.store.db import utcnow, write_transaction
from crashpilot.store.events import record_event
from crashpilot.store.group_status import set_group_status
from crashpilot.store.schema import crash_groups, jobs, pull_requests

log = logging.getLogger(__name__)

__all__ = ["Forge", "LocalForge", "approve", "reject"]


class Forge(Protocol):
    """Where a verified fix becomes a pull request."""

    kind: str

    def open(
        self,
        conn: Connection,
        *,
        group_id: int,
        run_id: int,
        branch: str,
        base: str,
        head_sha: str,
        verification: str,
        title: str,
        body: str,
        actor: str | None,
    ) -> str:
        """Open (record) the pull request; returns its URL or local reference."""
        ...


class LocalForge:
    """Pull requests as rows in the crashpilot database; the branch stays in the project repo."""

    kind = "local"

    def open(
        self,
        conn: Connection,
        *,
        group_id: int,
        run_id: int,
        branch: str,
        base: str,
        head_sha: str,
        verification: str,
        title: str,
        body: str,
        actor: str | None,
    ) -> str:
        """The group's open pull request of ``branch`` brought up to date, or a new one (never two)."""
        current = runs.latest_pr(conn, group_id)
        if current is not None and current["status"] == "open" and current["branch"] == branch:
            _refresh_pr(
                conn,
                int(current["id"]),
                run_id=run_id,
                base=base,
                head_sha=head_sha,
                verification=verification,
                title=title,
                body=body,
                actor=actor,
            )
            return f"local:{current['id']}"
        pr_id = runs.open_pr(
            conn,
            group_id=group_id,
            run_id=run_id,
            branch=branch,
            base=base,
            head_sha=head_sha,
            verification=verification,
            title=title,
            body=body,
            actor=actor,
        )
        return f"local:{pr_id}"


def _refresh_pr(
    conn: Connection,
    pr_id: int,
    *,
    run_id: int | None,
    base: str,
    head_sha: str,
    verification: str | None,
    title: str,
    body: str,
    actor: str | None = None,
) -> None:
    """Bring an open local pull request up to date with a new push of its branch (same id)."""
    row = conn.execute(sa.select(pull_requests.c.head_sha).where(pull_requests.c.id == pr_id)).first()
    if row is None:
        raise LookupError(f"no pull request {pr_id}")
    conn.execute(
        pull_requests.update()
        .where(pull_requests.c.id == pr_id)
        .values(
            run_id=run_id,
            base=base,
            head_sha=head_sha,
            verification=verification,
            title=title,
            body=body,
            updated_at=utcnow(),
        )
    )
    if row.head_sha != head_sha:
        gid = conn.execute(
            sa.select(pull_requests.c.group_id).where(pull_requests.c.id == pr_id)
        ).scalar_one()
        record_event(
            conn, "group", int(gid), "pr_updated", None, "open", actor, {"pr": pr_id, "head": head_sha}
        )


def _open_pr(engine: Engine, group_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        pr = runs.latest_pr(conn, group_id)
    if pr is None:
        raise CrashpilotError(f"group {group_id} has no pull request")
    if pr["status"] != "open":
        raise CrashpilotError(f"the pull request of group {group_id} is already {pr['status']}")
    return pr


def _wake_track(conn: Connection, group_id: int) -> None:
    conn.execute(
        jobs.update()
        .where(jobs.c.group_id == group_id, jobs.c.stage == "track", jobs.c.status == "queued")
        .values(not_before=utcnow(), updated_at=utcnow())
    )


def _merge(repo: Path, branch: str, base: str, identity: Identity, message: str) -> str:
    git = Git(repo)
    if git.current_branch() == base:
        if not git.is_clean():
            raise CrashpilotError(
                f"{base} is checked out in {repo} with uncommitted changes: commit or stash them, then approve again"
            )
        return git.merge(branch, into=base, identity=identity, no_ff=True, message=message)
    old = git.rev_parse(base)
    with tempfile.TemporaryDirectory(prefix="crashpilot-merge-") as tmp:
        wt = Path(tmp) / "wt"
        git.worktree_add_detached(wt, old)
        try:
            side = Git(wt)
            who = {
                "GIT_COMMITTER_NAME": identity.name,
                "GIT_COMMITTER_EMAIL": identity.email,
                "GIT_AUTHOR_NAME": identity.name,
                "GIT_AUTHOR_EMAIL": identity.email,
            }
            res = side.run("merge", "-q", "--no-ff", "-m", message, "--", branch, check=False, extra_env=who)
            if not res.ok:
                side.run("merge", "--abort", check=False)
                res.check()
            new = side.head()
        finally:
            git.worktree_remove(wt, force=True)
    git.run("update-ref", "-m", f"crashpilot: merge {branch}", f"refs/heads/{base}", new, old)
    return new


def _repo_of(repo: Path, modules: Sequence[Path], branch: str, head_sha: str) -> Path:
    """The repository (core or module) whose ``branch`` is the pull request's."""
    for candidate in (repo, *modules):
        git = Git(candidate)
        if (candidate / ".git").exists() and git.branch_exists(branch) and git.rev_parse(branch) == head_sha:
            return candidate
    for candidate in modules:  # moved: approve() below names it
        if (candidate / ".git").exists() and Git(candidate).branch_exists(branch):
            return candidate
    return repo


def approve(
    engine: Engine,
    repo: Path,
    group_id: int,
    identity: Identity,
    *,
    actor: str = "cli",
    modules: Sequence[Path] = (),
) -> dict[str, Any]:
    """Merge the group's open pull request into its base branch; returns the pull request.

    ``modules`` are the project's module repositories: a pull request whose branch is in one of
    them is merged there.
    """
    pr = _open_pr(engine, group_id)
    repo = _repo_of(repo, modules, pr["branch"], pr["head_sha"])
    git = Git(repo)
    if not git.branch_exists(pr["branch"]):
        raise CrashpilotError(f"branch {pr['branch']} is gone from {repo}; reject the pull request instead")
    head = git.rev_parse(pr["branch"])
    if head != pr["head_sha"]:
        raise CrashpilotError(
            f"branch {pr['branch']} moved to {head[:12]} since crashpilot verified {pr['head_sha'][:12]}; not merging unverified code"
        )
    message = f"Merge {pr['branch']}: {pr['title']}\n\nApproved local pull request {pr['id']} (verification: {pr['verification']})."
    merged = _merge(repo, pr["branch"], pr["base"], identity, message)
    git.delete_branch(pr["branch"], force=True)  # merged just now
    with write_transaction(engine) as conn:
        runs.set_pr_status(conn, pr["id"], "merged", merged_sha=merged, actor=actor)
        set_group_status(
            conn,
            group_id,
            "fixed",
            reason=f"pull request {pr['id']} merged into {pr['base']} as {merged[:12]}",
            actor=actor,
        )
        if pr["run_id"] is not None:
            runs.finish_run(conn, pr["run_id"], "merged", actor=actor)
        _wake_track(conn, group_id)
    log.info(
        "group %s: pull request %s merged into %s", group_id, pr["id"], pr["base"], extra={"group": group_id}
    )
    return {**pr, "status": "merged", "merged_sha": merged}


def reject(
    engine: Engine,
    repo: Path,
    group_id: int,
    *,
    actor: str = "cli",
    reason: str | None = None,
    modules: Sequence[Path] = (),
) -> dict[str, Any]:
    """Close the group's open pull request and delete its branch; the group keeps its history."""
    pr = _open_pr(engine, group_id)
    repo = _repo_of(repo, modules, pr["branch"], pr["head_sha"])
    git = Git(repo)
    if git.branch_exists(pr["branch"]):
        git.delete_branch(pr["branch"], force=True)
    why = reason or "rejected by a reviewer"
    with write_transaction(engine) as conn:
        runs.set_pr_status(conn, pr["id"], "rejected", actor=actor, reason=why)
        set_group_status(conn, group_id, "rejected", reason=f"pull request {pr['id']}: {why}", actor=actor)
        conn.execute(crash_groups.update().where(crash_groups.c.id == group_id).values(branch=None))
        if pr["run_id"] is not None:
            runs.finish_run(conn, pr["run_id"], "rejected", actor=actor)
        _wake_track(conn, group_id)
    return {**pr, "status": "rejected"}


def pr_status(engine: Engine, group_id: int) -> str | None:
    with engine.connect() as conn:
        pr = runs.latest_pr(conn, group_id)
    return None if pr is None else str(pr["status"])
