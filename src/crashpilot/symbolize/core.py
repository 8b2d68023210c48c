"""Linux core files to reports: gdb on the core with the binary of the core's build revision.

The binary comes from the caller (``binary=``) or from the symbol store folder of the
revision (see :mod:`crashpilot.symbolize.symbols`). gdb runs in batch mode with no init
files, no auto-loaded scripts, no debuginfod, a timeout and a scrubbed environment::

    gdb -batch -nx -iex 'set auto-load off' ... -ex 'thread apply all bt full' <binary> <core>

and its output goes through the gdb text parser. Without a binary (or when gdb fails) the
report holds what the core says by itself (:mod:`crashpilot.symbolize.elfcore`): the signal,
the command, and the crashing instruction as module + offset, with ``needs_symbols``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from crashpilot import proc
from crashpilot.errors import CommandFailed, ParseError
from crashpilot.formats import gdb as gdb_format
from crashpilot.formats._linux_common import SIGNAL_NUMBERS
from crashpilot.models import CrashReport, Frame, Thread
from crashpilot.symbolize.elfcore import CoreInfo, read_core
from crashpilot.symbolize.symbols import debug_dirs, find_binary, find_revision_dir

log = logging.getLogger(__name__)

FORMAT = "core"
_MISMATCH = re.compile(r"core file may not match specified executable|exec file is newer than core", re.I)
_SEGV_CODES = {1: "SEGV_MAPERR", 2: "SEGV_ACCERR"}


def gdb_command(gdb: str, binary: Path, core: Path, debug_directories: list[Path]) -> list[str]:
    dirs = ":".join(str(d) for d in [*debug_directories, Path("/usr/lib/debug")])
    return [
        gdb, "-batch", "-nx",
        "-iex", "set auto-load off",
        "-iex", "set debuginfod enabled off",
        "-iex", f"set debug-file-directory {dirs}",
        "-iex", "set pagination off",
        "-iex", "set width 0",
        "-ex", "thread apply all bt full",
        str(binary), str(core),
    ]  # fmt: skip


def core_to_reports(
    path: Path,
    *,
    revision: str | None,
    symbols_dir: Path | None,
    binary: Path | None = None,
    timeout: float = 120,
    gdb: str | None = None,
) -> list[CrashReport]:
    """Reports for the core file ``path`` (always at least one; raises ParseError for a bad core)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read core file {path}: {exc.strerror or exc}") from exc
    info = read_core(data)
    notes: list[str] = []
    if binary is None:
        lookup = find_revision_dir(symbols_dir, revision)
        notes.append(lookup.note)
        if lookup.path is not None:
            name = info.executable or info.command or ""
            binary = find_binary(lookup.path, name) if name else None
            if binary is None:
                notes.append(f"no binary named {Path(name).name or '?'} in {lookup.path}")
        dirs = [*debug_dirs(lookup.path)] if lookup.path is not None else []
    else:
        notes.append(f"binary given: {binary}")
        dirs = [binary.parent]
    if binary is not None and not binary.is_file():
        notes.append(f"binary {binary} does not exist")
        binary = None
    gdb_path = gdb or shutil.which("gdb")
    if binary is None:
        return [_bare(info, revision, notes)]
    if gdb_path is None:
        notes.append("gdb is not installed")
        return [_bare(info, revision, notes)]
    cmd = gdb_command(gdb_path, binary, path, dirs)
    try:
        result = proc.run(cmd, timeout=timeout, env=proc.clean_env(os.environ), merge_output=True)
    except CommandFailed as exc:
        notes.append(f"gdb could not start: {exc}")
        return [_bare(info, revision, notes)]
    if result.timed_out:
        notes.append(f"gdb timed out after {timeout:g}s")
        return [_bare(info, revision, notes)]
    try:
        reports = gdb_format.parse(result.output)
    except ParseError as exc:
        notes.append(f"gdb output had no backtrace: {exc}")
        return [_bare(info, revision, notes)]
    mismatch = bool(_MISMATCH.search(result.output))
    if mismatch:
        notes.append(f"gdb warned that {binary} may not match the core")
    out = []
    for report in map(_full_thread, reports):
        extra = dict(report.extra)
        extra.update(_facts(info), symbolized_by="gdb", binary=str(binary), symbol_notes=notes)
        if mismatch:
            extra["binary_mismatch"] = True
        missing = _missing_debug_info(result.output)
        if missing:
            extra["missing_symbols"] = missing
        out.append(
            report.with_(
                format=FORMAT,
                revision=revision or report.revision,
                crash_kind=report.crash_kind or _signal(info),
                extra=extra,
            )
        )
    return out


def _full_thread(report: CrashReport) -> CrashReport:
    """When the chosen stack is only gdb's stop line (``#0 ...`` printed on loading the core),
    take the thread of ``thread apply all bt`` whose stack starts at that same frame."""
    first = report.frames[0] if report.frames else None
    if first is None or len(report.frames) > 1 or first.address is None:
        return report
    for thread in report.threads:
        if len(thread.frames) > 1 and thread.frames[0].address == first.address:
            others = tuple(t for t in report.threads if t is not thread)
            return report.with_(crashing_thread=thread, threads=others)
    return report


_NO_DEBUG = re.compile(r"\(No debugging symbols found in ([^)\n]+)\)")


def _missing_debug_info(output: str) -> list[str]:
    return sorted({m.group(1).strip() for m in _NO_DEBUG.finditer(output)})


def _signal(info: CoreInfo) -> str | None:
    return SIGNAL_NUMBERS.get(info.signal, f"signal {info.signal}") if info.signal else None


def _facts(info: CoreInfo) -> dict[str, object]:
    facts: dict[str, object] = {"command": info.command, "executable": info.executable, "pid": info.pid}
    if info.fault_address is not None:
        facts["crash_address"] = f"0x{info.fault_address:x}"
    if info.signal == 11 and info.si_code in _SEGV_CODES:
        facts["crash_reason"] = f"SIGSEGV /{_SEGV_CODES[info.si_code]}"
    return facts


def frame_for(info: CoreInfo, address: int) -> Frame:
    """``address`` as module + offset from the module's lowest mapping, else a bare address."""
    mapping = info.mapping_at(address)
    if mapping is None:
        return Frame(address=f"0x{address:x}", raw=f"0x{address:x}")
    base = min(m.start for m in info.mappings if m.path == mapping.path)
    name = mapping.path.rsplit("/", 1)[-1]
    offset = f"0x{address - base:x}"
    return Frame(module=name, module_offset=offset, address=f"0x{address:x}", raw=f"{name} + {offset}")


def _bare(info: CoreInfo, revision: str | None, notes: list[str]) -> CrashReport:
    frames = (frame_for(info, info.instruction_pointer),) if info.instruction_pointer is not None else ()
    kind = _signal(info)
    extra: dict[str, object] = _facts(info)
    exe = info.executable or info.command
    extra.update(
        needs_symbols=True,
        missing_symbols=[Path(exe).name] if exe else [],
        symbolized_by=None,
        symbol_notes=notes,
    )
    first = (
        frames[0].with_(in_app=True)
        if frames and frames[0].module and exe and frames[0].module == Path(exe).name
        else None
    )
    message = kind
    if kind and info.fault_address is not None and info.signal in (4, 7, 8, 11):
        message = f"{extra.get('crash_reason', kind)} at 0x{info.fault_address:x}"
    return CrashReport(
        format=FORMAT,
        crash_kind=kind,
        message=message,
        revision=revision,
        crashing_thread=Thread(index=1, frames=frames),
        first_app_frame=first,
        extra=extra,
    )
