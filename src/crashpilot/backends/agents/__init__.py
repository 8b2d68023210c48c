"""External coding-agent CLIs as FIX backends: Claude Code, OpenAI Codex, Aider.

Each runs headless in the run's worktree; crashpilot then takes ``git diff``, applies the patch
policy and builds and verifies by itself (see :mod:`.base`). Backends register in the
``crashpilot.agents`` entry-point group; :func:`agent_class` finds one by name, built-in or
third-party. ``builtin`` (crashpilot's own tool loop, :mod:`crashpilot.agent`) is not here:
the FIX stage runs it directly.

    agent = make_agent("claude-code", model="sonnet")
    outcome = agent.run(AgentRun(worktree, agent_task(brief, policy, build=...), policy,
                                 timeout=1800, env=os.environ, api_key=key))
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from crashpilot.backends.agents.base import AgentOutcome, AgentReport, AgentRun, AgentStatus, CliAgent
from crashpilot.backends.agents.prompt import agent_task, policy_rules
from crashpilot.errors import ConfigError

ENTRY_POINT_GROUP = "crashpilot.agents"

# Used when the package's entry points are not installed (a source checkout).
BUILTIN = {
    "claude-code": "crashpilot.backends.agents.claude_code:ClaudeCodeAgent",
    "codex": "crashpilot.backends.agents.codex:CodexAgent",
    "aider": "crashpilot.backends.agents.aider:AiderAgent",
}

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "AgentOutcome",
    "AgentReport",
    "AgentRun",
    "AgentStatus",
    "CliAgent",
    "agent_class",
    "agent_task",
    "available",
    "make_agent",
    "policy_rules",
]


def available() -> list[str]:
    """The agent backend names a settings file may choose (besides ``builtin``)."""
    return sorted(set(BUILTIN) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def agent_class(name: str) -> Any:
    """The backend class registered as ``name``; ConfigError names the choices otherwise."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    target = BUILTIN.get(name)
    if target is None:
        raise ConfigError(
            f"unknown agent backend {name!r}; choose builtin or one of {', '.join(available())}"
        )
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)


def make_agent(name: str, **options: Any) -> Any:
    """An instance of backend ``name`` (options: executable, model, key_env, extra_args)."""
    return agent_class(name)(**options)
