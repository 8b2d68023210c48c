"""Projects of several git repositories: a core plus modules that are git repositories of their own.

AzerothCore keeps modules such as ``modules/mod-playerbots`` as separate clones inside the core's
tree; TrinityCore forks carry a playerbot module the same way. Settings (flat, lists of strings):

- ``project.modules = ["modules/mod-playerbots"]``: sub-folders of the project repository that
  are git repositories of their own;
- ``forge.module_repos = ["modules/mod-playerbots=owner/mod-playerbots"]``: the forge repository
  (``owner/name``) each module's pull requests go to (default: none, which only the ``local``
  forge accepts).

A repository path (as the crash or the diff names it, relative to the core's root) belongs to the
module whose folder is its longest prefix, else to the core. :func:`RepoMap.owner` answers that;
:func:`RepoMap.target` says where a fix touching some files goes: the one repository owning them
all (a fix spanning repositories cannot become one pull request and is refused).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from crashpilot.errors import ConfigError, PolicyViolation

__all__ = ["CORE", "RepoMap", "RepoRef", "strip_prefix"]

CORE = ""  # the key of the core repository


@dataclass(frozen=True)
class RepoRef:
    """One repository of the project: ``key`` is "" for the core, else the module's folder."""

    key: str
    path: Path  # where its git work tree is on this machine
    forge_repo: str  # owner/name on the forge ("" = the core's forge.repo / none)

    @property
    def is_core(self) -> bool:
        return self.key == CORE

    def relative(self, repo_path: str) -> str:
        """``repo_path`` (relative to the core's root) relative to this repository's root."""
        return strip_prefix(repo_path, self.key)


def _norm(folder: str) -> str:
    text = str(PurePosixPath(folder.replace("\\", "/").strip().strip("/")))
    if text in ("", ".") or text.startswith("../") or text == ".." or PurePosixPath(text).is_absolute():
        raise ConfigError(f"project.modules: {folder!r} must be a folder inside the project repository")
    return text


def strip_prefix(repo_path: str, folder: str) -> str:
    """``repo_path`` with the leading ``folder/`` removed (unchanged for the core, ``folder == ""``)."""
    path = repo_path.replace("\\", "/")
    path = path[2:] if path.startswith("./") else path
    if not folder:
        return path
    prefix = folder.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise ValueError(f"{repo_path!r} is not inside {folder!r}")
    return path[len(prefix) :]


class RepoMap:
    """Which repository owns a path; built from settings by :meth:`from_settings`."""

    def __init__(
        self, root: Path, modules: Iterable[str] = (), module_repos: Iterable[str] = (), core_repo: str = ""
    ):
        self.root = Path(root)
        forge_of: dict[str, str] = {}
        for item in module_repos:
            folder, sep, name = str(item).partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"forge.module_repos: {item!r} must be folder=owner/name")
            forge_of[_norm(folder)] = name.strip()
        keys = [_norm(m) for m in modules]
        if unknown := sorted(set(forge_of) - set(keys)):
            raise ConfigError(
                f"forge.module_repos names folder(s) not in project.modules: {', '.join(unknown)}"
            )
        self.core = RepoRef(CORE, self.root, core_repo)
        self.modules = {k: RepoRef(k, self.root / k, forge_of.get(k, "")) for k in keys}

    @classmethod
    def from_settings(cls, settings: Any, root: Path) -> RepoMap:
        return cls(root, settings["project.modules"], settings["forge.module_repos"], settings["forge.repo"])

    def repos(self) -> list[RepoRef]:
        return [self.core, *self.modules.values()]

    def get(self, key: str) -> RepoRef:
        if key == CORE:
            return self.core
        try:
            return self.modules[key]
        except KeyError:
            raise ConfigError(f"no module {key!r} in project.modules") from None

    def owner(self, repo_path: str) -> RepoRef:
        """The repository holding ``repo_path`` (a path relative to the core's root)."""
        path = repo_path.replace("\\", "/").lstrip("/")
        best: RepoRef | None = None
        for key, ref in self.modules.items():
            if (path == key or path.startswith(key + "/")) and (best is None or len(key) > len(best.key)):
                best = ref
        return best or self.core

    def target(self, files: Sequence[str]) -> RepoRef:
        """The one repository owning every file of a fix; PolicyViolation when they span several."""
        owners = {self.owner(f).key for f in files}
        if len(owners) > 1:
            names = ", ".join(sorted(k or "the core" for k in owners))
            raise PolicyViolation(
                f"the fix changes files of several repositories ({names}): one pull request cannot hold it"
            )
        return self.get(owners.pop()) if owners else self.core
