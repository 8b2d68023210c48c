"""One wrapper around the git CLI: every git call crashpilot makes goes through :class:`Git`.

Each call is a subprocess (via :func:`crashpilot.proc.run`) with a timeout; a failing call raises
:class:`~crashpilot.errors.CommandFailed` with git's output. Paths are passed after ``--`` and
ref names are refused when they start with ``-`` (crash text can end up in a branch name).
``env=None`` lets git inherit the worker's environment (git is trusted, and may need the SSH
agent to push); the bot identity for commits is forced through ``GIT_AUTHOR_*`` /
``GIT_COMMITTER_*`` which win over any configured or inherited identity.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crashpilot.errors import CommandFailed
from crashpilot.proc import Result, run

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 120.0
_SEP = "\x1f"
_REC = "\x1e"

__all__ = ["BlameLine", "Commit", "Git", "Identity", "NumStat"]


@dataclass(frozen=True)
class Identity:
    """Who a commit is by (the bot, usually)."""

    name: str
    email: str


@dataclass(frozen=True)
class NumStat:
    """One row of ``git diff --numstat``; ``added``/``deleted`` are None for a binary file."""

    path: str
    added: int | None
    deleted: int | None
    old_path: str | None = None


@dataclass(frozen=True)
class Commit:
    sha: str
    author_name: str
    author_email: str
    date: str  # ISO 8601, author date
    subject: str


@dataclass(frozen=True)
class BlameLine:
    line: int  # line number in the blamed revision
    sha: str
    author_name: str
    author_email: str
    author_time: int  # unix seconds
    summary: str
    text: str


def _ref(name: str) -> str:
    if not name or name.startswith("-") or any(c in name for c in "\0\n\r "):
        raise CommandFailed(["git"], None, f"refusing suspicious ref name {name!r}")
    return name


class Git:
    """git commands run in ``root`` (a work tree, or any folder inside one)."""

    def __init__(
        self, root: str | Path, *, timeout: float = DEFAULT_TIMEOUT, env: Mapping[str, str] | None = None
    ) -> None:
        self.root = Path(root)
        self.timeout = timeout
        self.env = dict(env) if env is not None else None

    # -- plumbing -------------------------------------------------------------------------------

    def run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> Result:
        """Run ``git <args>`` in the root; raise :class:`CommandFailed` on failure when ``check``."""
        env: dict[str, str] | None = self.env
        if extra_env:
            env = {**(self.env if self.env is not None else os.environ), **extra_env}
        cmd = ["git", "-c", "core.quotepath=off", *args]
        res = run(cmd, cwd=self.root, timeout=timeout or self.timeout, env=env, input=input)
        if check:
            res.check()
        return res

    def _out(self, *args: str) -> str:
        return self.run(*args).stdout

    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        branch: str = "main",
        timeout: float = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> Git:
        """Create a new repository at ``path`` (used by tests and the demo)."""
        Path(path).mkdir(parents=True, exist_ok=True)
        repo = cls(path, timeout=timeout, env=env)
        repo.run("init", "-q", "-b", _ref(branch))
        return repo

    # -- where and what -------------------------------------------------------------------------

    def toplevel(self) -> Path:
        return Path(self._out("rev-parse", "--show-toplevel").strip())

    def rev_parse(self, rev: str = "HEAD") -> str:
        return self._out("rev-parse", "--verify", "--quiet", _ref(rev) + "^{commit}").strip()

    def head(self) -> str:
        return self.rev_parse("HEAD")

    def current_branch(self) -> str | None:
        res = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return res.stdout.strip() if res.returncode == 0 else None

    def branch_exists(self, name: str) -> bool:
        res = self.run("show-ref", "--verify", "--quiet", f"refs/heads/{_ref(name)}", check=False)
        return res.returncode == 0

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        res = self.run("merge-base", "--is-ancestor", _ref(ancestor), _ref(descendant), check=False)
        if res.returncode in (0, 1):
            return res.returncode == 0
        res.check()
        return False  # pragma: no cover - check() raised

    def ls_files(self, paths: Sequence[str] = ()) -> list[str]:
        out = self._out("ls-files", "-z", "--", *paths)
        return [p for p in out.split("\0") if p]

    def status(self) -> list[str]:
        """``git status --porcelain`` lines (empty when the work tree is clean)."""
        out = self._out("status", "--porcelain", "--untracked-files=all")
        return [line for line in out.splitlines() if line]

    def is_clean(self) -> bool:
        return not self.status()

    # -- branches and worktrees -----------------------------------------------------------------

    def create_branch(self, name: str, start: str = "HEAD", *, force: bool = False) -> None:
        self.run("branch", *(["--force"] if force else []), "--", _ref(name), _ref(start))

    def checkout(self, name: str, *, create_from: str | None = None, force: bool = False) -> None:
        """Check a branch out; with ``create_from`` create (or reset) it at that revision first."""
        flags = ["--force"] if force else []
        if create_from is not None:
            self.run("checkout", "-q", *flags, "-B", _ref(name), _ref(create_from))
        else:
            self.run("checkout", "-q", *flags, _ref(name))

    def delete_branch(self, name: str, *, force: bool = False) -> None:
        self.run("branch", "-D" if force else "-d", "--", _ref(name))

    def worktree_add(
        self, path: str | Path, branch: str, *, base: str | None = None, force: bool = False
    ) -> None:
        """Add a worktree at ``path`` on ``branch`` (created from ``base`` when given)."""
        args = ["worktree", "add", "-q"] + (["--force"] if force else [])
        if base is not None:
            args += ["-B", _ref(branch), str(path), _ref(base)]
        else:
            args += [str(path), _ref(branch)]
        self.run(*args)

    def worktree_add_detached(self, path: str | Path, rev: str = "HEAD") -> None:
        self.run("worktree", "add", "-q", "--detach", str(path), _ref(rev))

    def worktree_remove(self, path: str | Path, *, force: bool = True) -> None:
        self.run("worktree", "remove", *(["--force"] if force else []), str(path))

    def worktree_prune(self) -> None:
        self.run("worktree", "prune")

    def worktree_list(self) -> list[dict[str, str]]:
        """One dict per worktree: ``worktree`` (path), ``HEAD``, and ``branch`` or ``detached``."""
        items: list[dict[str, str]] = []
        for block in self._out("worktree", "list", "--porcelain").split("\n\n"):
            entry: dict[str, str] = {}
            for line in block.splitlines():
                key, _, value = line.partition(" ")
                entry[key] = value
            if entry:
                items.append(entry)
        return items

    def reset_hard(self, rev: str = "HEAD") -> None:
        self.run("reset", "-q", "--hard", _ref(rev))

    def clean(self, *, ignored: bool = True, exclude: Iterable[str] = ()) -> None:
        """Remove untracked files and folders (and ignored ones unless ``ignored=False``)."""
        args = ["clean", "-q", "-ff", "-d"] + (["-x"] if ignored else [])
        for pattern in exclude:
            args += ["-e", pattern]
        self.run(*args)

    # -- changes --------------------------------------------------------------------------------

    def add(self, paths: Sequence[str]) -> None:
        self.run("add", "--", *paths)

    def stage_all(self) -> None:
        """Stage every change, new and deleted files included (what an agent left behind)."""
        self.run("add", "-A")

    def commit(
        self,
        message: str,
        identity: Identity,
        *,
        all: bool = True,
        allow_empty: bool = False,
    ) -> str:
        """Commit (staging everything first when ``all``) as ``identity``; returns the new sha."""
        if all:
            self.stage_all()
        who = {
            "GIT_AUTHOR_NAME": identity.name,
            "GIT_AUTHOR_EMAIL": identity.email,
            "GIT_COMMITTER_NAME": identity.name,
            "GIT_COMMITTER_EMAIL": identity.email,
        }
        args = ["-c", f"user.name={identity.name}", "-c", f"user.email={identity.email}"]
        args += ["commit", "-q", "--no-verify", "-F", "-"] + (["--allow-empty"] if allow_empty else [])
        self.run(*args, input=message, extra_env=who)
        return self.head()

    def diff(self, base: str | None = None, *, cached: bool = False, paths: Sequence[str] = ()) -> str:
        """Unified diff (text) of the work tree (or index with ``cached``) against ``base``."""
        args = ["diff", "--no-color", "--no-ext-diff", "--binary"]
        args += ["--cached"] if cached else []
        args += [_ref(base)] if base else []
        return self._out(*args, "--", *paths)

    def numstat(self, base: str | None = None, *, cached: bool = False) -> list[NumStat]:
        args = ["diff", "--numstat", "-z", "-M"] + (["--cached"] if cached else [])
        args += [_ref(base)] if base else []
        fields = self._out(*args).split("\0")
        rows: list[NumStat] = []
        i = 0
        while i < len(fields):
            head = fields[i]
            if not head:
                i += 1
                continue
            added, deleted, path = head.split("\t", 2)
            old: str | None = None
            if path == "":  # a rename: old and new paths follow as separate fields
                old, path = fields[i + 1], fields[i + 2]
                i += 2
            rows.append(
                NumStat(
                    path=path,
                    added=None if added == "-" else int(added),
                    deleted=None if deleted == "-" else int(deleted),
                    old_path=old,
                )
            )
            i += 1
        return rows

    def apply_check(self, patch: str) -> None:
        """Raise :class:`CommandFailed` when ``patch`` does not apply to the work tree."""
        self.run("apply", "--check", "-", input=patch)

    def apply(self, patch: str, *, index: bool = False) -> None:
        self.run("apply", *(["--index"] if index else []), "-", input=patch)

    def merge(
        self, branch: str, *, into: str, identity: Identity, no_ff: bool = True, message: str | None = None
    ) -> str:
        """Merge ``branch`` into ``into`` (checked out here); aborts and raises on conflict."""
        self.checkout(into)
        who = {"GIT_COMMITTER_NAME": identity.name, "GIT_COMMITTER_EMAIL": identity.email}
        who |= {"GIT_AUTHOR_NAME": identity.name, "GIT_AUTHOR_EMAIL": identity.email}
        args = ["merge", "-q", "--no-edit", "--no-ff" if no_ff else "--ff"]
        args += ["-m", message] if message else []
        res = self.run(*args, "--", _ref(branch), check=False, extra_env=who)
        if not res.ok:
            self.run("merge", "--abort", check=False)
            res.check()
        return self.head()

    # -- history --------------------------------------------------------------------------------

    def show(self, rev: str, path: str | None = None) -> str:
        """A file's content at ``rev`` (with ``path``), or the commit with its patch."""
        if path is not None:
            return self._out("show", f"{_ref(rev)}:{path}")
        return self._out("show", "--no-color", _ref(rev), "--")

    def log(self, path: str | None = None, *, rev: str = "HEAD", max_count: int = 20) -> list[Commit]:
        fmt = _SEP.join(["%H", "%an", "%ae", "%aI", "%s"]) + _REC
        args = ["log", f"--max-count={max_count}", f"--format={fmt}", _ref(rev), "--"]
        return _commits(self._out(*args, *([path] if path else [])))

    def log_lines(
        self, path: str, start: int, end: int, *, rev: str = "HEAD", max_count: int = 10
    ) -> list[Commit]:
        """Commits that touched lines ``start..end`` of ``path`` (``git log -L``), newest first."""
        fmt = _SEP.join(["%H", "%an", "%ae", "%aI", "%s"]) + _REC
        spec = f"-L{int(start)},{int(end)}:{path}"
        out = self._out("log", f"--max-count={max_count}", f"--format={fmt}", "--no-patch", spec, _ref(rev))
        return _commits(out)

    def blame(self, path: str, start: int, end: int, *, rev: str = "HEAD") -> list[BlameLine]:
        out = self._out("blame", "--porcelain", f"-L{int(start)},{int(end)}", _ref(rev), "--", path)
        return _parse_blame(out)


def _commits(out: str) -> list[Commit]:
    commits = []
    for rec in out.split(_REC):
        rec = rec.strip("\n")
        if not rec:
            continue
        sha, name, email, date, subject = rec.split(_SEP, 4)
        commits.append(Commit(sha, name, email, date, subject))
    return commits


def _parse_blame(out: str) -> list[BlameLine]:
    """Parse ``git blame --porcelain``: headers are given once per commit, then reused."""
    info: dict[str, dict[str, str]] = {}
    lines: list[BlameLine] = []
    current: str | None = None
    final_line = 0
    for raw in out.split("\n"):
        if raw.startswith("\t"):
            if current is None:
                continue
            meta = info[current]
            lines.append(
                BlameLine(
                    line=final_line,
                    sha=current,
                    author_name=meta.get("author", ""),
                    author_email=meta.get("author-mail", "").strip("<>"),
                    author_time=int(meta.get("author-time", "0")),
                    summary=meta.get("summary", ""),
                    text=raw[1:],
                )
            )
            continue
        parts = raw.split(" ")
        if len(parts) >= 3 and len(parts[0]) >= 40 and all(c in "0123456789abcdef" for c in parts[0]):
            current = parts[0]
            final_line = int(parts[2])
            info.setdefault(current, {})
        elif current is not None and parts[0]:
            key, _, value = raw.partition(" ")
            info[current][key] = value
    return lines
