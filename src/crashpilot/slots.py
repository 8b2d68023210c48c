"""Build slots: a fixed number of reusable (worktree, build folder) pairs per host.

A slot is a folder ``<slots_dir>/slot-<i>/`` holding ``src/`` (a git worktree of the project
repository) and ``build/`` (its build folder, kept job after job so builds are incremental).
``with slots.acquire(branch, base) as slot:`` waits for a free slot, checks ``branch`` out in
its worktree (created from ``base`` when missing), removes whatever the previous job left
(tracked changes and untracked files; ignored build outputs stay), and hands back the paths
and the extra environment for the build (ccache settings). On exit HEAD is detached, so an idle
slot never holds a branch another slot may need.

The per-host limit is a lock file per slot (``fcntl.flock``): every process on the host that
points at the same ``slots_dir`` shares the same N slots, and the kernel frees a slot when its
holder dies. A slot last used for the same branch is preferred (its build is the most reusable).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from crashpilot.errors import CommandFailed, CrashpilotError
from crashpilot.git import Git

log = logging.getLogger(__name__)

__all__ = ["Slot", "SlotTimeout", "Slots"]


class SlotTimeout(CrashpilotError):
    """No build slot became free in time."""


@dataclass(frozen=True)
class Slot:
    index: int
    path: Path  # the slot folder
    worktree: Path  # git worktree with ``branch`` checked out
    build_dir: Path  # persistent build folder for this worktree
    branch: str
    base: str
    env: Mapping[str, str] = field(default_factory=dict)  # extra variables for build commands

    @property
    def git(self) -> Git:
        return Git(self.worktree)


class Slots:
    """N build slots of ``repo`` under ``slots_dir`` (see module doc)."""

    def __init__(
        self,
        repo: str | Path,
        slots_dir: str | Path,
        count: int,
        *,
        ccache: bool | None = None,
        ccache_dir: str | Path | None = None,
        git_timeout: float = 300.0,
        poll_interval: float = 0.2,
    ) -> None:
        if count < 1:
            raise ValueError("a worker needs at least one build slot")
        self.repo = Git(repo, timeout=git_timeout)
        self.dir = Path(slots_dir)
        self.count = count
        self.git_timeout = git_timeout
        self.poll_interval = poll_interval
        self.use_ccache = shutil.which("ccache") is not None if ccache is None else ccache
        self.ccache_dir = Path(ccache_dir) if ccache_dir is not None else self.dir / "ccache"

    def slot_path(self, index: int) -> Path:
        return self.dir / f"slot-{index}"

    def _order(self, branch: str) -> list[int]:
        def last_branch(i: int) -> str:
            try:
                return (self.slot_path(i) / "last-branch").read_text().strip()
            except OSError:
                return ""

        preferred = [i for i in range(self.count) if last_branch(i) == branch]
        return preferred + [i for i in range(self.count) if i not in preferred]

    def _try_lock(self, index: int) -> IO[str] | None:
        self.slot_path(index).mkdir(parents=True, exist_ok=True)
        fh = open(self.dir / f"slot-{index}.lock", "a+")  # noqa: SIM115 - held for the slot's life
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return None
        return fh

    def _lock_any(self, branch: str, wait: float | None) -> tuple[int, IO[str]]:
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            for i in self._order(branch):
                fh = self._try_lock(i)
                if fh is not None:
                    return i, fh
            if deadline is not None and time.monotonic() >= deadline:
                raise SlotTimeout(f"no build slot free after {wait:.0f}s ({self.count} slots in {self.dir})")
            time.sleep(self.poll_interval)

    @contextlib.contextmanager
    def acquire(self, branch: str, base: str, *, wait: float | None = None) -> Iterator[Slot]:
        """Hold a slot with ``branch`` checked out and clean; ``wait`` None waits for ever."""
        self.dir.mkdir(parents=True, exist_ok=True)
        index, lock = self._lock_any(branch, wait)
        try:
            slot = self._prepare(index, branch, base)
            log.info("build slot %d holds %s", index, branch)
            try:
                yield slot
            finally:
                self._release(slot)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            lock.close()

    def _worktree(self, index: int, base: str) -> Git:
        wt = self.slot_path(index) / "src"
        known = {Path(w["worktree"]).resolve() for w in self.repo.worktree_list()}
        if wt.resolve() in known and (wt / ".git").exists():
            return Git(wt, timeout=self.git_timeout)
        self.repo.worktree_prune()
        if wt.exists():
            shutil.rmtree(wt)
        self.repo.worktree_add_detached(wt, base)
        return Git(wt, timeout=self.git_timeout)

    def _prepare(self, index: int, branch: str, base: str) -> Slot:
        path = self.slot_path(index)
        git = self._worktree(index, base)
        # We hold the slot: a git lock file left here is from a holder that died.
        gitdir = Path(git.run("rev-parse", "--absolute-git-dir").stdout.strip())
        (gitdir / "index.lock").unlink(missing_ok=True)
        git.run("reset", "-q", "--hard")
        git.clean(ignored=False)
        if self.repo.branch_exists(branch):
            git.run("checkout", "-q", "--force", "--ignore-other-worktrees", branch)
        else:
            git.run("checkout", "-q", "--force", "-b", branch, base)
        git.clean(ignored=False)
        if not git.is_clean():
            raise CommandFailed(["git", "status"], None, f"slot {index} is not clean after reset")
        build = path / "build"
        build.mkdir(exist_ok=True)
        (path / "last-branch").write_text(branch + "\n")
        return Slot(index, path, git.root, build, branch, base, self._env(path))

    def _env(self, slot_path: Path) -> dict[str, str]:
        if not self.use_ccache:
            return {}
        self.ccache_dir.mkdir(parents=True, exist_ok=True)
        return {
            # Paths under the slot (its worktree and the headers its build folder generates)
            # are hashed relative to the compiler's cwd, so every slot hits the same entries.
            "CCACHE_BASEDIR": str(slot_path.resolve()),
            "CCACHE_DIR": str(self.ccache_dir.resolve()),
            "CCACHE_NOHASHDIR": "1",
            "CMAKE_C_COMPILER_LAUNCHER": "ccache",
            "CMAKE_CXX_COMPILER_LAUNCHER": "ccache",
        }

    def _release(self, slot: Slot) -> None:
        try:
            slot.git.run("checkout", "-q", "--detach")
        except CommandFailed as exc:  # the next acquire resets the slot anyway
            log.warning("slot %d: could not detach HEAD: %s", slot.index, exc)
