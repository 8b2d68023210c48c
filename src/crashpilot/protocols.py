"""The interfaces stages depend on. Backends satisfy these; stages never import a backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from crashpilot.backends.forges.types import PullRequest, PullRequestState
from crashpilot.backends.models.types import Message, Reply, ToolSpec
from crashpilot.models import CrashReport

if TYPE_CHECKING:  # not at run time: crashpilot.backends.agents imports crashpilot.agent, which imports us
    from crashpilot.backends.agents.base import AgentOutcome, AgentRun


@runtime_checkable
class Parser(Protocol):
    """A crash-text format: ``NAME``, ``sniff`` and ``parse``.

    Optional, not part of the protocol check: ``MARKERS`` (literals, one of which is in every text
    ``sniff`` scores above 0; a leading ``"\\n"`` means at a line start) and ``MARKERS_WITHIN``
    (they lie in the first N characters). With them, ``formats.rank`` skips the sniff when no
    marker occurs; without them the parser is always sniffed.
    """

    NAME: str

    def sniff(self, text: str) -> int:
        """How sure this parser is that ``text`` is its format: 0 (no) to 100 (certain)."""
        ...

    def parse(self, text: str) -> list[CrashReport]:
        """Every report found in ``text``; raises ParseError when nothing usable is there."""
        ...


# -- models ------------------------------------------------------------------------------------
# The conversation types live in crashpilot.backends.models.types (importing them loads no SDK).


@runtime_checkable
class Model(Protocol):
    """A chat model that can call tools: ``name`` (the model), ``provider`` and ``complete``."""

    name: str
    provider: str

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int) -> Reply:
        """The model's next turn; raises TransientError (after our retries), PermanentError, BudgetExceeded."""
        ...


# -- forges ------------------------------------------------------------------------------------
# The pull-request types live in crashpilot.backends.forges.types (importing them loads no SDK).


@runtime_checkable
class Forge(Protocol):
    """Where a fix becomes a pull request. No method merges, and none writes the base branch."""

    name: str

    def push(self, worktree: Path, branch: str, base: str) -> str:
        """Push ``branch`` of the repo at ``worktree`` to the forge's remote; returns the pushed sha. Refuses ``branch == base``."""
        ...

    def find_pr(self, branch: str) -> PullRequest | None:
        """The open pull request whose head is ``branch``, or None."""
        ...

    def open_pr(self, branch: str, base: str, title: str, body: str) -> PullRequest:
        """The open pull request for ``branch``: the existing one if there is one, else a new one (never two)."""
        ...

    def pr_state(self, pr: PullRequest) -> PullRequestState:
        """open / merged / closed, and whether reviewers ask for changes (with their comments' text)."""
        ...

    def comment(self, pr: PullRequest, text: str) -> None:
        """Add a conversation comment to the pull request."""
        ...


# -- agent CLIs --------------------------------------------------------------------------------


@runtime_checkable
class Agent(Protocol):
    """An external coding agent run headless in a worktree (Claude Code, Codex, Aider ...)."""

    name: str

    def run(self, job: AgentRun) -> AgentOutcome:
        """Run the agent, take its ``git diff`` and check it with the policy; never raises for an agent failure."""
        ...
