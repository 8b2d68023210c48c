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

Projects of several repositories (:mod:`crashpilot.projects`): for each module folder (a git
repository of its own nested in the core's tree, e.g. ``modules/mod-playerbots``) the slot also
holds a worktree of that module's repository at the same relative path inside the core worktree,
prepared the same way (``branch`` from the module's base commit), so a build in the slot sees
core + modules as the user's checkout does and paths stay relative to the core's root. With
``create=False`` a repository that has no ``branch`` is left detached at its base (BUILD and
VERIFY: a fix changes one repository; the others stay at their base).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from crashpilot.errors import CommandFailed, ConfigError, CrashpilotError
from crashpilot.git import Git

log = logging.getLogger(__name__)

__all__ = ["ModuleCheckout", "Slot", "SlotTimeout", "Slots"]


class SlotTimeout(CrashpilotError):
    """No build slot became free in time."""


@dataclass(frozen=True)
class ModuleCheckout:
    """A module's worktree inside a slot: ``key`` is its folder relative to the core's root."""

    key: str
    worktree: Path
    base: str  # the module's base commit (sha)

    @property
    def git(self) -> Git:
        return Git(self.worktree)


@dataclass(frozen=True)
class Slot:
    index: int
    path: Path  # the slot folder
    worktree: Path  # git worktree with ``branch`` checked out
    build_dir: Path  # persistent build folder for this worktree
    branch: str
    base: str
    env: Mapping[str, str] = field(default_factory=dict)  # extra variables for build commands
    modules: tuple[ModuleCheckout, ...] = ()

    @property
    def git(self) -> Git:
        return Git(self.worktree)

    def checkouts(self) -> list[tuple[str, Git, str]]:
        """(key, git, base) of every repository in the slot: the core ("") first, then the modules."""
        return [("", self.git, self.base), *((m.key, m.git, m.base) for m in self.modules)]

    def reset_to_base(self) -> None:
        """Every repository of the slot back to its base commit (on its branch), untracked files gone."""
        exclude = [f"/{m.key}/" for m in self.modules]
        for key, git, base in self.checkouts():
            git.reset_hard(base)
            git.clean(ignored=False, exclude=exclude if key == "" else ())


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
        modules: Sequence[str] = (),
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
        self.modules = tuple(str(m).strip("/") for m in modules)

    def module_bases(self) -> dict[str, str]:
        """Each module's base: the commit its repository (the user's clone) has checked out now."""
        out: dict[str, str] = {}
        for key in self.modules:
            path = self.repo.root / key
            if not (path / ".git").exists():
                raise ConfigError(f"project.modules: {key} is not a git repository in {self.repo.root}")
            out[key] = Git(path, timeout=self.git_timeout).rev_parse("HEAD")
        return out

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
    def acquire(
        self,
        branch: str,
        base: str,
        *,
        wait: float | None = None,
        module_bases: Mapping[str, str] | None = None,
        create: bool = True,
    ) -> Iterator[Slot]:
        """Hold a slot with ``branch`` checked out and clean; ``wait`` None waits for ever.

        ``module_bases`` (module folder -> commit) defaults to :meth:`module_bases`. With
        ``create`` False a repository without ``branch`` stays detached at its base.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        bases = dict(module_bases) if module_bases is not None else self.module_bases()
        if missing := sorted(set(self.modules) - set(bases)):
            raise ConfigError(f"no base commit for module(s) {', '.join(missing)}")
        index, lock = self._lock_any(branch, wait)
        try:
            slot = self._prepare(index, branch, base, bases, create)
            log.info("build slot %d holds %s", index, branch)
            try:
                yield slot
            finally:
                self._release(slot)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            lock.close()

    def _worktree(self, repo: Git, wt: Path, base: str) -> Git:
        known = {Path(w["worktree"]).resolve() for w in repo.worktree_list()}
        if wt.resolve() in known and (wt / ".git").exists():
            return Git(wt, timeout=self.git_timeout)
        repo.worktree_prune()
        if wt.exists():
            shutil.rmtree(wt)
        wt.parent.mkdir(parents=True, exist_ok=True)
        repo.worktree_add_detached(wt, base)
        return Git(wt, timeout=self.git_timeout)

    def _checkout(self, git: Git, branch: str, base: str, create: bool, exclude: Sequence[str]) -> None:
        # We hold the slot: a git lock file left here is from a holder that died.
        gitdir = Path(git.run("rev-parse", "--absolute-git-dir").stdout.strip())
        (gitdir / "index.lock").unlink(missing_ok=True)
        git.run("reset", "-q", "--hard")
        git.clean(ignored=False, exclude=exclude)
        if git.branch_exists(branch):
            git.run("checkout", "-q", "--force", "--ignore-other-worktrees", branch)
        elif create:
            git.run("checkout", "-q", "--force", "-b", branch, base)
        else:
            git.run("checkout", "-q", "--force", "--detach", base)
        git.clean(ignored=False, exclude=exclude)
        # A module folder the core does not ignore shows up as untracked in the core: not a change.
        dirty = [line for line in git.status() if not any(line == f"?? {e.strip('/')}/" for e in exclude)]
        if dirty:
            raise CommandFailed(["git", "status"], None, f"{git.root} is not clean after reset: {dirty[:5]}")

    def _prepare(self, index: int, branch: str, base: str, bases: Mapping[str, str], create: bool) -> Slot:
        path = self.slot_path(index)
        git = self._worktree(self.repo, path / "src", base)
        self._checkout(git, branch, base, create, [f"/{key}/" for key in self.modules])
        mods: list[ModuleCheckout] = []
        for key in self.modules:
            repo = Git(self.repo.root / key, timeout=self.git_timeout)
            mgit = self._worktree(repo, git.root / key, bases[key])
            self._checkout(mgit, branch, bases[key], create, ())
            mods.append(ModuleCheckout(key, mgit.root, bases[key]))
        build = path / "build"
        build.mkdir(exist_ok=True)
        (path / "last-branch").write_text(branch + "\n")
        return Slot(index, path, git.root, build, branch, base, self._env(path), tuple(mods))

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
        for key, git, _ in slot.checkouts():
            try:
                git.run("checkout", "-q", "--detach")
            except CommandFailed as exc:  # the next acquire resets the slot anyway
                log.warning("slot %d: could not detach HEAD of %s: %s", slot.index, key or "the core", exc)
