"""Forge backends: where a verified fix becomes a pull request (GitHub, later GitLab, Gitea ...).

Nothing here imports an SDK until a backend class is asked for. Backends register in the
``crashpilot.forges`` entry-point group; :func:`forge_class` finds one by name, built-in or
third-party. The ``local`` forge (pull requests recorded in the database) lives with the stages.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from crashpilot.backends.forges.types import Feedback, PRStatus, PullRequest, PullRequestState
from crashpilot.errors import ConfigError

ENTRY_POINT_GROUP = "crashpilot.forges"

# The built-in backends, used when the package's entry points are not installed (a source checkout).
BUILTIN = {
    "github": "crashpilot.backends.forges.github:GitHubForge",
}

__all__ = [
    "BUILTIN",
    "Feedback",
    "PRStatus",
    "PullRequest",
    "PullRequestState",
    "available",
    "forge_class",
]


def available() -> list[str]:
    """The forge names a settings file may choose (besides ``local``)."""
    names = set(BUILTIN) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def forge_class(kind: str) -> Any:
    """The backend class registered as ``kind``; ConfigError names the choices otherwise."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == kind:
            return ep.load()
    target = BUILTIN.get(kind)
    if target is None:
        raise ConfigError(f"unknown forge {kind!r}; choose one of {', '.join(available())}")
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)
