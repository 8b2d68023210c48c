"""A fix in a slot of several repositories (core + modules): collect, commit and drop it per repository.

The agent edits files by paths relative to the core's root; a module's files live in the module's
own worktree inside the slot (:mod:`crashpilot.slots`). :func:`collect` stages every repository
and returns the change of each one that changed, its diff's paths prefixed with the module's
folder so the patch policy and the pull request see core-relative paths. :func:`commit_fix`
commits the one changed repository on the fix branch (bot identity) and removes the branch from
the repositories the fix does not touch, so a module-only fix leaves no branch in the core. A fix
changing several repositories at once is refused by :func:`single_change` (one pull request per
group, and a pull request lives in one repository).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from crashpilot.flow import Outcome
from crashpilot.git import Git, Identity
from crashpilot.slots import Slot
from crashpilot.stages.setup import Pipeline, drop_branch
from crashpilot.store import runs
from crashpilot.store.db import write_transaction
from crashpilot.worker import StageResult

log = logging.getLogger(__name__)

__all__ = [
    "FixRefs",
    "RepoChange",
    "collect",
    "combined_diff",
    "commit_fix",
    "committed",
    "drop_branches",
    "fix_slot",
    "single_change",
]


@dataclass(frozen=True)
class RepoChange:
    """The staged change of one repository of the slot (``key`` "" is the core)."""

    key: str
    git: Git
    base: str
    diff: str  # paths relative to the core's root


def _diff(git: Git, base: str, key: str) -> str:
    prefix = f"{key}/" if key else ""
    return git.run(
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--binary",
        "--cached",
        f"--src-prefix=a/{prefix}",
        f"--dst-prefix=b/{prefix}",
        base,
        "--",
    ).stdout


def collect(slot: Slot) -> list[RepoChange]:
    """Stage everything in every repository of the slot; the repositories that changed, core first."""
    out: list[RepoChange] = []
    for key, git, base in slot.checkouts():
        git.stage_all()
        diff = _diff(git, base, key)
        if diff.strip():
            out.append(RepoChange(key, git, base, diff))
    return out


def combined_diff(changes: Sequence[RepoChange]) -> str:
    return "".join(c.diff for c in changes)


def single_change(changes: Sequence[RepoChange]) -> str | None:
    """Why the change cannot become one pull request, or None when it is in one repository."""
    if not changes:
        return "the fix agent finished without changing any file"
    if len(changes) == 1:
        return None
    names = ", ".join(c.key or "the core" for c in changes)
    return (
        f"the fix changes files in several repositories ({names}); a group gets one pull request, "
        "in one repository: change only the repository that owns the fault"
    )


def commit_fix(
    slot: Slot, changes: Sequence[RepoChange], message: str, identity: Identity
) -> tuple[str, dict[str, str]]:
    """Commit the change on the slot's branch; returns (core head, {module: head}).

    Repositories without a change are left detached at their base and lose the branch.
    """
    changed = {c.key for c in changes}
    heads: dict[str, str] = {}
    for key, git, base in slot.checkouts():
        if key in changed:
            heads[key] = git.commit(message, identity, all=False)
            continue
        git.run("checkout", "-q", "--force", "--detach", base)
        if git.branch_exists(slot.branch):
            git.delete_branch(slot.branch, force=True)
        heads[key] = git.head()
    core = heads.pop("")
    return core, heads


def drop_branches(p: Pipeline, run_id: int, branch: str, modules: Sequence[str] | None = None) -> None:
    """End a run that produced nothing to review: the branch goes from the core and every module."""
    keys = list(p.settings["project.modules"]) if modules is None else list(modules)
    for key in keys:
        path = p.repo / str(key).strip("/")
        if (path / ".git").exists():
            git = Git(path)
            if git.branch_exists(branch):
                git.delete_branch(branch, force=True)
    drop_branch(p, run_id, branch)


def payload_bases(payload: Any) -> dict[str, str] | None:
    """The module bases a run fixed on its first FIX pass (None before that)."""
    bases = payload.get("module_bases")
    return {str(k): str(v) for k, v in bases.items()} if isinstance(bases, dict) else None


@dataclass(frozen=True)
class FixRefs:
    """Where a run's committed fix is: what BUILD and VERIFY read from their job's payload."""

    run_id: int
    branch: str
    base_sha: str
    head: str
    module_heads: dict[str, str]

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> FixRefs:
        return cls(
            int(payload["run_id"]),
            str(payload["branch"]),
            str(payload["base_sha"]),
            str(payload["head"]),
            {str(k): str(v) for k, v in dict(payload.get("module_heads") or {}).items()},
        )


@contextmanager
def fix_slot(
    p: Pipeline, payload: Mapping[str, Any], *, stage: str, status: str, actor: str
) -> Iterator[tuple[FixRefs, Slot]]:
    """Mark the run as in ``stage`` and hold a slot with the fix's branch in every repository."""
    refs = FixRefs.of(payload)
    with write_transaction(p.engine) as conn:
        runs.update_run(conn, refs.run_id, status=status, stage=stage, actor=actor)
    with p.slots().acquire(
        refs.branch, refs.base_sha, module_bases=payload_bases(payload), create=False
    ) as slot:
        yield refs, slot


def committed(head: str, module_heads: dict[str, str], module_bases: Any, diff: str) -> StageResult:
    """FIX's result once its change is committed: the next stage builds these heads."""
    return StageResult(
        Outcome.OK,
        payload={
            "head": head,
            "module_heads": module_heads,
            "module_bases": module_bases,
            "feedback": None,
            "feedback_stage": None,
            "previous_diff": diff,
        },
    )
