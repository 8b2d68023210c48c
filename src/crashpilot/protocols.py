"""The interfaces stages depend on. Backends satisfy these; stages never import a backend."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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
