"""Dumps in intake: a minidump or core file becomes finished crash reports.

``symbolize_dump`` calls :func:`crashpilot.symbolize.dump_to_reports` (stackwalker / gdb, per
revision symbol store) and passes every report through :func:`crashpilot.formats.finish`, the
same in-app marking and signature as a text report. It raises ``ParseError`` when the file is
neither a minidump nor a core, or is broken; intake quarantines it with that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crashpilot.formats import finish
from crashpilot.models import CrashReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SymbolOptions:
    """Where symbols and tools for dumps are (settings ``symbols.*``)."""

    folder: Path | None = None  # per-revision symbol store; None = none
    stackwalker: str | None = None  # path or name; None = look on PATH
    gdb: str = "gdb"
    binary: Path | None = None  # a fixed binary for every core file (one-build setups)
    timeout: float = 120.0


DEFAULT_SYMBOLS = SymbolOptions()


def symbolize_dump(
    path: Path,
    *,
    revision: str | None,
    symbols: SymbolOptions = DEFAULT_SYMBOLS,
    repo: str | Path | None = None,
    in_app_paths: Sequence[str] = (),
) -> list[CrashReport]:
    """The finished reports of the dump at ``path`` (ParseError when it cannot be read)."""
    from crashpilot.symbolize import dump_to_reports  # imported on the first dump: keeps idle RSS low

    reports = dump_to_reports(
        path,
        revision=revision,
        symbols_dir=symbols.folder,
        binary=symbols.binary,
        timeout=symbols.timeout,
        stackwalker=symbols.stackwalker or None,
        gdb=symbols.gdb or None,
    )
    return [finish(r, repo, in_app_paths) for r in reports]


def has_usable_stack(report: CrashReport) -> bool:
    """True when the report names at least one function (a stack a human or a model can use)."""
    return any(f.function for f in report.frames)
