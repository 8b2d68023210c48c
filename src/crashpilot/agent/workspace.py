"""Where the built-in agent works: one worktree, its patch policy and the actions it may run.

The agent never starts a program on its own. The caller (the FIX stage, holding a build slot)
hands over three callables — build, run the reproducer, run the tests — that run inside the slot
with its timeouts and clean environment; each returns an :class:`ActionResult`. A missing
callable means the tool answers "not configured". :mod:`crashpilot.agent.actions` builds such
callables from plain commands.

Paths the model names are repo-relative. :func:`resolve_inside` refuses anything that leaves the
worktree (absolute paths, ``..``, a symlink pointing out) and anything inside ``.git``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from crashpilot.errors import CrashpilotError
from crashpilot.git import Git
from crashpilot.policy import Policy, glob_match

__all__ = [
    "SECRET_FILE_GLOBS",
    "Action",
    "ActionResult",
    "PathRefused",
    "ToolFailed",
    "Workspace",
    "refuse_secret_file",
    "resolve_inside",
]

# Files whose content is never shown to a model, even when they sit in the worktree.
SECRET_FILE_GLOBS: tuple[str, ...] = (
    ".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "id_rsa*", "id_ed25519*",
    "id_ecdsa*", ".netrc", ".git-credentials", ".pgpass", "*.kdbx", "credentials*.json", "secrets.*",
)  # fmt: skip


class ToolFailed(CrashpilotError):
    """A tool call could not be done as asked; the message goes back to the model as an error."""


class PathRefused(ToolFailed):
    """A path the model named is outside the worktree or otherwise unusable."""


@dataclass(frozen=True)
class ActionResult:
    """What a build / reproducer / test run showed, short enough to hand to the model.

    ``ok`` means success for that action: the build compiled, the tests passed, the reproducer
    did *not* crash. ``summary`` is a few lines (diagnostics, the crash verdict); ``output`` is
    the tail of the output.
    """

    ok: bool
    summary: str
    output: str = ""


Action = Callable[[], ActionResult]


@dataclass(frozen=True)
class Workspace:
    """One worktree the agent may read and edit, under ``policy``; the actions run in its slot."""

    root: Path
    policy: Policy = field(default_factory=Policy)  # the default: no tests, CI or build scripts
    build: Action | None = None
    run_reproducer: Action | None = None
    run_tests: Action | None = None
    git_timeout: float = 30.0
    secrets: Sequence[str] = ()  # replaced by [REDACTED] in every tool result

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())
        if not self.root.is_dir():
            raise PathRefused(f"the worktree {self.root} does not exist")

    @property
    def git(self) -> Git:
        return Git(self.root, timeout=self.git_timeout)


def resolve_inside(root: Path, path: str, *, allow_root: bool = False) -> tuple[str, Path]:
    """``(rel, absolute)`` for a repo-relative ``path``, or :class:`PathRefused` saying why.

    Symlinks are resolved and must stay inside ``root``; ``.git`` is never reachable.
    """
    if not isinstance(path, str):
        raise PathRefused("the path must be a string")
    raw = path.strip()
    if raw in ("", ".", "./"):
        if allow_root:
            return ".", root
        raise PathRefused("a file path is needed, not the repository root")
    if "\0" in raw or "\\" in raw:
        raise PathRefused(f"{raw!r}: not a usable path (NUL or backslash); use / between folders")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or raw.startswith("~"):
        raise PathRefused(f"{raw}: absolute paths are refused; give a path relative to the repository root")
    parts = [p for p in PurePosixPath(raw).parts if p != "."]
    if ".." in parts:
        raise PathRefused(f"{raw}: '..' is refused; every path stays inside the repository")
    if not parts:
        if allow_root:
            return ".", root
        raise PathRefused("a file path is needed, not the repository root")
    rel = "/".join(parts)
    if ".git" in parts:  # the core's, and a module's (nested repository) too
        raise PathRefused(f"{rel}: the .git folder is not part of the source")
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise PathRefused(f"{rel}: resolves outside the repository (a symlink); use the real file's path")
    real_rel = target.relative_to(root).as_posix()
    if ".git" in real_rel.split("/"):
        raise PathRefused(f"{rel}: the .git folder is not part of the source")
    return rel, target


def refuse_secret_file(rel: str) -> None:
    """Raise :class:`PathRefused` when ``rel`` looks like a file that holds credentials."""
    hit = next((g for g in SECRET_FILE_GLOBS if glob_match(rel, g)), None)
    if hit is not None:
        raise PathRefused(f"{rel}: looks like a credentials file ({hit}); its content is never shown")
