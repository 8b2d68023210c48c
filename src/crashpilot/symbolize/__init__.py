"""Dumps and cores to stacks: the one entry point intake calls for a binary crash file.

:func:`dump_to_reports` reads the file's magic number and sends a minidump (``MDMP``) to the
pure reader plus a stackwalker when one is installed, and an ELF core file to gdb with the
binary of the crash's build revision. Symbols are looked up per revision in a symbol store
(:mod:`crashpilot.symbolize.symbols`); what could not be symbolized is said in the report
(``extra["needs_symbols"]``, ``extra["missing_symbols"]``, ``extra["symbol_notes"]``), and
module + offset frames are kept.

The reports are not finished: intake passes each through :func:`crashpilot.formats.finish`
(in-app marking, first app frame, signature) as it does for text reports.
"""

from __future__ import annotations

import logging
from pathlib import Path

from crashpilot.errors import CommandFailed, ParseError
from crashpilot.formats.minidump import MAGIC as MINIDUMP_MAGIC
from crashpilot.formats.minidump import read_minidump, to_report
from crashpilot.models import CrashReport
from crashpilot.symbolize.core import core_to_reports
from crashpilot.symbolize.elfcore import is_core
from crashpilot.symbolize.stackwalk import find_stackwalker, merge, run_stackwalker
from crashpilot.symbolize.symbols import breakpad_roots, breakpad_symbol_file, find_revision_dir

__all__ = ["dump_to_reports", "minidump_to_reports", "core_to_reports"]

log = logging.getLogger(__name__)


def dump_to_reports(
    path: Path,
    *,
    revision: str | None,
    symbols_dir: Path | None,
    binary: Path | None = None,
    timeout: float = 120,
    stackwalker: str | Path | None = None,
    gdb: str | None = None,
) -> list[CrashReport]:
    """Reports for the minidump or core file at ``path``; ParseError when it is neither or is broken.

    ``revision`` picks the symbol store folder (never "the latest"); ``binary`` overrides the
    store for a core file; ``stackwalker`` / ``gdb`` name the tool when it is not on PATH.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise ParseError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head.startswith(MINIDUMP_MAGIC):
        return minidump_to_reports(
            path, revision=revision, symbols_dir=symbols_dir, timeout=timeout, stackwalker=stackwalker
        )
    if is_core(head):
        return core_to_reports(
            path, revision=revision, symbols_dir=symbols_dir, binary=binary, timeout=timeout, gdb=gdb
        )
    raise ParseError(f"{path.name}: neither a minidump (MDMP) nor an ELF core file")


def minidump_to_reports(
    path: Path,
    *,
    revision: str | None,
    symbols_dir: Path | None,
    timeout: float = 120,
    stackwalker: str | Path | None = None,
) -> list[CrashReport]:
    """The stackwalker's stack when one is installed and works, else the pure reader's report."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read {path}: {exc.strerror or exc}") from exc
    info = read_minidump(data)
    lookup = find_revision_dir(symbols_dir, revision)
    notes = [lookup.note]
    roots = breakpad_roots(lookup.path) if lookup.path is not None else []
    walker = find_stackwalker(stackwalker)
    if walker is not None:
        try:
            walked, missing = run_stackwalker(walker, path, roots, timeout)
        except (CommandFailed, ParseError) as exc:
            why = _why(exc)
            log.warning("stackwalker %s failed on %s: %s", walker.kind, path.name, why)
            notes.append(f"{walker.kind} failed: {why}")
        else:
            report = merge(walked, info, missing, walker)
            return [report.with_(revision=revision, extra={**report.extra, "symbol_notes": notes})]
    elif stackwalker:
        notes.append(f"stackwalker {stackwalker} not found: only the crashing instruction is known")
    else:
        notes.append(
            "no stackwalker installed (minidump_stackwalk, minidump-stackwalk or cdb): "
            "only the crashing instruction is known"
        )
    symbolized = {
        m.basename
        for m in info.modules
        if m.debug_file and m.debug_id and breakpad_symbol_file(roots, m.debug_file, m.debug_id)
    }
    report = to_report(info, symbolized=symbolized)
    return [report.with_(revision=revision, extra={**report.extra, "symbol_notes": notes})]


def _why(exc: Exception) -> str:
    """One line saying why a tool failed: its exit code and first output line, or the timeout."""
    if isinstance(exc, CommandFailed):
        first = next((line.strip() for line in exc.output.splitlines() if line.strip()), "")
        code = f"exit code {exc.returncode}" if exc.returncode is not None else ""
        return ", ".join(p for p in (code, first[:200]) if p) or "no output"
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
