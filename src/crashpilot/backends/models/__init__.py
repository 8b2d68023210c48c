"""Model backends: a provider-neutral conversation, and the SDKs that speak it.

Nothing here imports an SDK until a backend class is asked for, so stages can import the types
cheaply. Backends register in the ``crashpilot.models`` entry-point group; :func:`model_class`
finds one by name, built-in or third-party.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from crashpilot.backends.models.budget import Budget, BudgetUsage
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.backends.models.types import (
    Exchange,
    Message,
    Reply,
    StopReason,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from crashpilot.errors import ConfigError

ENTRY_POINT_GROUP = "crashpilot.models"

# The built-in backends, used when the package's entry points are not installed (a source checkout).
BUILTIN = {
    "anthropic": "crashpilot.backends.models.anthropic:AnthropicModel",
    "openai": "crashpilot.backends.models.openai:OpenAIModel",
}

__all__ = [
    "BUILTIN",
    "Budget",
    "BudgetUsage",
    "Exchange",
    "Message",
    "Reply",
    "RetryPolicy",
    "StopReason",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "available",
    "model_class",
]


def available() -> list[str]:
    """The provider names a settings file may choose."""
    names = set(BUILTIN) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def model_class(provider: str) -> Any:
    """The backend class registered as ``provider``; ConfigError names the choices otherwise."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == provider:
            return ep.load()
    target = BUILTIN.get(provider)
    if target is None:
        raise ConfigError(f"unknown model provider {provider!r}; choose one of {', '.join(available())}")
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)
