"""The interfaces stages depend on. Backends satisfy these; stages never import a backend."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from crashpilot.backends.models.types import Message, Reply, ToolSpec
from crashpilot.models import CrashReport


@runtime_checkable
class Parser(Protocol):
    """A crash-text format: ``NAME``, ``sniff`` and ``parse``."""

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
