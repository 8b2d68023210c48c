"""Run a minidump stackwalker and merge its stack with what the pure reader found.

Two stackwalkers are known, by their documented command lines and outputs:

- Breakpad's ``minidump_stackwalk [-m] <dump> [symbol-path ...]``: text (or ``-m`` machine)
  output, read by :mod:`crashpilot.formats.stackwalk`. Its "Loaded modules" list marks each
  module whose symbols it looked for and did not find: ``(WARNING: No symbols, <file>, <id>)``.
- rust-minidump's ``minidump-stackwalk --json --symbols-path <dir> ... <dump>``: JSON with
  ``crash_info``, ``crashing_thread``, ``threads[].frames[]`` and ``modules[]`` (each with
  ``missing_symbols``); its human output (without ``--json``) reads like Breakpad's text.

The walker runs with a timeout and a scrubbed environment. Its failure is not an error of the
dump: the caller falls back to the pure reader's report and says why.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashpilot import proc
from crashpilot.errors import CommandFailed, ParseError
from crashpilot.formats import cdb as cdb_format
from crashpilot.formats import stackwalk as stackwalk_format
from crashpilot.formats._windows_common import (
    CODE_BY_KIND,
    first_unsymbolized_app_frame,
    kind_for,
    kind_from_name,
    needs_symbols,
    normalize_code,
    strip_args,
)
from crashpilot.formats.minidump import NAME as MINIDUMP
from crashpilot.formats.minidump import MinidumpInfo, module_json
from crashpilot.models import CrashReport, Frame, Thread

log = logging.getLogger(__name__)

BREAKPAD, RUST, CDB = "minidump_stackwalk", "minidump-stackwalk", "cdb"
_NO_SYMBOLS = re.compile(r"\(WARNING: (No|Corrupt) symbols, ([^,()\n]*), ([0-9A-Fa-f]*)\)")
_MODULE_LINE = re.compile(r"^0x[0-9a-fA-F]+ - 0x[0-9a-fA-F]+  (\S+)")


@dataclass(frozen=True)
class Stackwalker:
    """An installed stackwalker: its path and which of the two it is (``kind``)."""

    path: str
    kind: str  # BREAKPAD, RUST or CDB


def find_stackwalker(configured: str | Path | None = None) -> Stackwalker | None:
    """The configured stackwalker (a path or a name on PATH), else Breakpad's, rust-minidump's, cdb."""
    if configured:
        found = shutil.which(str(configured))
        if found is None:
            return None
        name = Path(found).name.lower()
        kind = RUST if "minidump-stackwalk" in name else CDB if name.startswith("cdb") else BREAKPAD
        return Stackwalker(found, kind)
    for name, kind in ((BREAKPAD, BREAKPAD), (RUST, RUST), (CDB, CDB)):
        found = shutil.which(name)
        if found:
            return Stackwalker(found, kind)
    return None


def stackwalk_command(walker: Stackwalker, dump: Path, symbol_paths: list[Path]) -> list[str]:
    if walker.kind == RUST:
        cmd = [walker.path, "--json"]
        for p in symbol_paths:
            cmd += ["--symbols-path", str(p)]
        return [*cmd, str(dump)]
    if walker.kind == CDB:  # Windows debugger: open the dump, analyse, quit
        sympath = ";".join(str(p) for p in symbol_paths)
        return [walker.path, "-z", str(dump), *(["-y", sympath] if sympath else []), "-c", "!analyze -v; q"]
    return [walker.path, str(dump), *(str(p) for p in symbol_paths)]


def missing_symbols_in_text(text: str) -> list[dict[str, str]]:
    """Modules a Breakpad-style text output says it had no (or corrupt) symbols for."""
    out = []
    for line in text.split("\n"):
        m = _NO_SYMBOLS.search(line)
        if m:
            mod = _MODULE_LINE.match(line)
            out.append({
                "name": mod.group(1) if mod else m.group(2).strip(),
                "debug_file": m.group(2).strip(),
                "debug_id": m.group(3),
                "problem": "corrupt symbols" if m.group(1) == "Corrupt" else "no symbols",
            })  # fmt: skip
    return out


def _json_frame(raw: dict[str, Any]) -> list[Frame]:
    """One JSON frame, preceded by the frames inlined into it (innermost first)."""
    module = raw.get("module") or None
    function = raw.get("function") or None
    real = Frame(
        function=strip_args(function) if function else None,
        module=module,
        file=raw.get("file") or None,
        line=raw["line"] if isinstance(raw.get("line"), int) else None,
        address=raw.get("offset") or None,
        module_offset=raw.get("module_offset") if module else None,
        raw=f"{module or ''}!{function or ''}",
    )
    inlined = [
        Frame(
            function=strip_args(i["function"]) if i.get("function") else None,
            module=module,
            file=i.get("file") or None,
            line=i["line"] if isinstance(i.get("line"), int) else None,
            inlined=True,
        )
        for i in raw.get("inlines") or []
        if isinstance(i, dict)
    ]
    return [*inlined, real]


def parse_rust_json(text: str) -> tuple[CrashReport, list[dict[str, str]]]:
    """rust-minidump ``--json`` output -> (report, modules with missing symbols)."""
    try:
        doc = json.loads(text)
        crash = doc.get("crash_info") or {}
        threads = []
        for n, t in enumerate(doc.get("threads") or []):
            frames = [f for raw in t.get("frames") or [] for f in _json_frame(raw)]
            threads.append(Thread(index=n, name=t.get("thread_name") or None, frames=tuple(frames)))
        index = (doc.get("crashing_thread") or {}).get("threads_index", crash.get("crashing_thread"))
        missing = [
            {"name": m.get("filename") or "", "debug_file": m.get("debug_file") or "", "debug_id": m.get("debug_id") or "",
             "problem": "corrupt symbols" if m.get("corrupt_symbols") else "no symbols"}
            for m in doc.get("modules") or []
            if m.get("missing_symbols") or m.get("corrupt_symbols")
        ]  # fmt: skip
    except (ValueError, AttributeError, TypeError, KeyError) as exc:
        raise ParseError(f"minidump-stackwalk JSON output is not what its schema says: {exc}") from exc
    chosen = next((t for t in threads if t.index == index), threads[0] if threads else Thread())
    reason = crash.get("type") or None
    address = crash.get("address") or None
    kind, code = _kind(reason)
    extra: dict[str, object] = {}
    if reason:
        extra["crash_reason"] = reason
    if address:
        extra["crash_address"] = address
    if crash.get("assertion"):
        extra["assertion"] = crash["assertion"]
    report = CrashReport(
        format=MINIDUMP,
        crash_kind=kind,
        exception_code=code,
        message=f"{reason} at {address}" if reason and address else reason,
        crashing_thread=chosen,
        threads=tuple(t for t in threads if t is not chosen),
        first_app_frame=first_unsymbolized_app_frame(chosen.frames),
        extra=extra,
    )
    return report, missing


def _kind(reason: str | None) -> tuple[str | None, str | None]:
    """(crash kind, exception code) for a crash type such as ``EXCEPTION_ACCESS_VIOLATION_READ``."""
    if not reason:
        return None, None
    first = reason.split()[0].split("/")[0].strip()
    if first.lower().startswith("0x"):
        code = normalize_code(first)
        return kind_for(code) or first, code
    kind = kind_from_name(first) if first.upper().startswith(("EXCEPTION_", "STATUS_")) else first
    return kind, CODE_BY_KIND.get(kind)


def run_stackwalker(
    walker: Stackwalker, dump: Path, symbol_paths: list[Path], timeout: float
) -> tuple[CrashReport, list[dict[str, str]]]:
    """Run ``walker`` on ``dump``; (report, modules without symbols). Raises CommandFailed / ParseError."""
    cmd = stackwalk_command(walker, dump, symbol_paths)
    result = proc.run(cmd, timeout=timeout, env=proc.clean_env(os.environ))
    if result.timed_out:
        raise CommandFailed(cmd, None, f"timed out after {timeout:g}s")
    if result.returncode != 0 or not result.stdout.strip():
        raise CommandFailed(cmd, result.returncode, result.stderr[-2000:])
    if walker.kind == RUST and result.stdout.lstrip().startswith("{"):
        return parse_rust_json(result.stdout)
    if walker.kind == CDB:
        report = cdb_format.parse(result.stdout)[0]
        unnamed = sorted({f.module for f in report.frames if f.module and not f.function})
        return report, [
            {"name": m, "debug_file": m, "debug_id": "", "problem": "no symbols"} for m in unnamed
        ]
    return parse_stackwalk_text(result.stdout)


def parse_stackwalk_text(text: str) -> tuple[CrashReport, list[dict[str, str]]]:
    """Breakpad text / ``-m`` output (or rust-minidump human output) -> (report, missing symbols)."""
    reports = stackwalk_format.parse(text)
    report = reports[0]
    missing = missing_symbols_in_text(text)
    if not missing:  # -m output has no warnings: a module with unnamed frames had no symbols
        seen = {f.module for f in report.frames if f.module and not f.function}
        missing = [
            {"name": m, "debug_file": m, "debug_id": "", "problem": "no symbols"} for m in sorted(seen)
        ]
    return report, missing


def merge(
    walked: CrashReport, info: MinidumpInfo, missing: list[dict[str, str]], walker: Stackwalker
) -> CrashReport:
    """The stackwalker's stack with the pure reader's facts; ``format`` becomes ``minidump``."""
    extra = dict(walked.extra)
    extra.update(
        os=info.os,
        cpu=info.cpu,
        modules=[module_json(m) for m in info.modules],
        missing_symbols=missing,
        symbolized_by=walker.kind,
    )
    if info.crashing_thread_id is not None:
        extra["crashing_thread_id"] = info.crashing_thread_id
    if needs_symbols(walked.frames) or any(
        m["name"] in {f.module for f in walked.frames[:1]} for m in missing
    ):
        extra["needs_symbols"] = True
    else:
        extra.pop("needs_symbols", None)
    return walked.with_(format=MINIDUMP, extra=extra)
