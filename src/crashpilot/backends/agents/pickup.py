"""What an external agent left in a worktree: take it as one diff, or put the worktree back.

An agent CLI edits files directly, may create new ones, and may commit although it was told
not to. :func:`take_diff` undoes any commit it made (``reset --soft`` to the base, the changes
stay), then stages everything (new files included), reads ``git diff --cached <base>`` and
unstages again, so the worktree looks exactly as the agent left it and the diff covers it all.
:func:`restore` puts the worktree back to the base: tracked files reset, untracked files the
agent created removed. Ignored files (the slot's build folder) are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from crashpilot.git import Git

log = logging.getLogger(__name__)

__all__ = ["Pickup", "restore", "take_diff"]


@dataclass(frozen=True)
class Pickup:
    """The change found in the worktree. ``commits_undone`` counts commits the agent made."""

    diff: str
    changed_files: tuple[str, ...]
    commits_undone: int


def take_diff(git: Git, base: str) -> Pickup:
    """The whole change against ``base`` (commits, staged, unstaged and new files), left unstaged."""
    head = git.head()
    undone = 0
    if head != base:
        undone = int(git.run("rev-list", "--count", f"{base}..{head}").stdout.strip() or "0")
        log.warning("the agent made %d commit(s); undoing them and keeping the changes", undone)
        git.run("reset", "-q", "--soft", base)
    git.stage_all()
    try:
        diff = git.diff(base, cached=True)
        names = git.run("diff", "--cached", "--name-only", "-z", base).stdout
    finally:
        git.run("reset", "-q")
    files = tuple(sorted(n for n in names.split("\0") if n))
    return Pickup(diff=diff, changed_files=files, commits_undone=undone)


def restore(git: Git, base: str) -> None:
    """Put the worktree back at ``base``: no commit, no change, no new untracked file."""
    git.run("reset", "-q", "--hard", base)
    git.clean(ignored=False)
