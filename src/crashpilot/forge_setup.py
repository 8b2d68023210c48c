"""The forges of a project, built from settings: one per repository (core and modules).

``forge.kind = "local"`` needs nothing: pull requests are rows in the database and branches stay
in the repositories (:class:`crashpilot.handoff.LocalForge`). Any other kind names a backend of
the ``crashpilot.forges`` entry-point group (``github`` is built in); it is made once per
repository that has a forge repository (``forge.repo`` for the core, ``forge.module_repos`` for
modules), with the token the caller read from the environment (``GITHUB_TOKEN``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crashpilot.backends.forges import forge_class
from crashpilot.errors import ConfigError
from crashpilot.projects import CORE, RepoMap
from crashpilot.protocols import Forge

log = logging.getLogger(__name__)

__all__ = ["Forges", "make_forges"]


@dataclass
class Forges:
    """The remote forge of each repository key ("" = core); empty for the local forge."""

    kind: str = "local"
    by_repo: dict[str, Forge] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # redacted from every pull request text

    def for_repo(self, key: str) -> Forge | None:
        """The forge of repository ``key``; None means local pull requests."""
        if self.kind == "local":
            return None
        forge = self.by_repo.get(key)
        if forge is None:
            where = "the core (forge.repo)" if key == CORE else f"module {key} (forge.module_repos)"
            raise ConfigError(f"forge.kind is {self.kind} but no forge repository is set for {where}")
        return forge

    def close(self) -> None:
        for forge in self.by_repo.values():
            closer = getattr(forge, "close", None)
            if callable(closer):
                closer()


def make_forges(settings: Any, tokens: Mapping[str, str], repos: RepoMap | None = None) -> Forges:
    """The forges the settings ask for; ``tokens`` holds ``GITHUB_TOKEN`` (read by the caller)."""
    kind = str(settings["forge.kind"] or "local")
    if kind == "local":
        return Forges()
    token = tokens.get(f"{kind.upper()}_TOKEN") or ""
    cls = forge_class(kind)
    out = Forges(kind=kind, secrets=(token,) if token else ())
    names: dict[str, str] = {}
    if settings["forge.repo"]:
        names[CORE] = str(settings["forge.repo"])
    if repos is not None:
        for ref in repos.modules.values():
            if ref.forge_repo:
                names[ref.key] = ref.forge_repo
    if CORE not in names:
        raise ConfigError(f"forge.kind is {kind}: set forge.repo to owner/name")
    for key, name in names.items():
        options: dict[str, Any] = {"timeout": float(settings["forge.timeout"])}
        if settings["forge.base_url"]:
            options["base_url"] = str(settings["forge.base_url"])
        if settings["forge.push_url"] and key == CORE:
            options["push_url"] = str(settings["forge.push_url"])
        out.by_repo[key] = cls(name, token, **options)
        log.info("forge %s: %s for %s", kind, name, key or "the core")
    return out
