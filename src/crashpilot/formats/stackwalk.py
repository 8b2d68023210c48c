"""Breakpad ``minidump_stackwalk`` output (text and ``-m`` machine-readable) and the very similar
human output of rust-minidump's ``minidump-stackwalk``.

Text: ``Crash reason:`` / ``Crash address:`` / optional ``Assertion:``, then ``Thread N (crashed)``
(rust-minidump: ``Thread N <name> (crashed)``) with frames `` 0  module!function [file : line +
0xoff]``, ``module!function + 0xoff``, ``module + 0xoff`` or a bare ``0xaddress``, each followed by
register lines and a ``Found by:`` line. Machine output: ``Crash|reason|address|thread`` and
``thread|frame|module|function|file|line|offset`` lines.
"""

from __future__ import annotations

import re

from crashpilot.errors import ParseError
from crashpilot.formats._scan import line_finditer, line_search, prefix_search
from crashpilot.formats._windows_common import (
    CODE_BY_KIND,
    first_unsymbolized_app_frame,
    kind_for,
    kind_from_name,
    needs_symbols,
    normalize_code,
    strip_args,
)
from crashpilot.formats.frames import hex_address, new_frame, split_offset
from crashpilot.models import CrashReport, Frame, Thread

NAME = "minidump_stackwalk"

_REASON = re.compile(r"^Crash reason:[ \t]+([^\n]*)", re.M)
_ADDRESS = re.compile(r"^Crash address:[ \t]+(0x[0-9a-fA-F]+)", re.M)
_ASSERTION = re.compile(r"^Assertion:[ \t]+([^\n]*)", re.M)
_THREAD = re.compile(r"Thread (\d+)(?:[ \t]+([^\n]*))?")
_STATE = re.compile(r"\((crashed|requesting thread|requested dump, did not crash)\)$")
_FRAME = re.compile(r"[ \t]*(\d+)  (\S[^\n]*)")
_SOURCE = re.compile(r" \[([^\[\]]*?) : (\d+)(?: \+ 0x[0-9a-fA-F]+)?\]$")
_FOUND_BY = re.compile(r"[ \t]+Found by:[ \t]*([^\n]*)")
_MACHINE_CRASH = re.compile(r"^Crash\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)$", re.M)
_MACHINE_FRAME = re.compile(r"^(\d+)\|(\d+)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)$", re.M)
_TEXT_START = re.compile(r"^Operating system:", re.M)
_MACHINE_START = re.compile(r"^OS\|", re.M)
_PC = re.compile(r"(?<![\w])(?:eip|rip|pc)[ \t]*=[ \t]*0x([0-9a-fA-F]+)")
_HEX_REASON = re.compile(r"0x[0-9a-fA-F]{1,8}")
_SNIFF_THREAD = re.compile(r"^Thread \d+[^\n]*\((?:crashed|requesting thread|requested dump)", re.M)


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = ("Crash reason:", "\nThread ", "Found by:", "\nCrash|")
MARKERS_WITHIN = 65536  # sniff() reads only the first 65536 characters


def sniff(text: str) -> int:
    head = text[:65536]
    score = 0
    crash = "Crash" in head  # the shared word first: one scan rules out two markers
    if crash and "Crash reason:" in head:
        score += 45
    # (line_search: a ^-anchored regex scan of 64 KB is slow)
    if prefix_search(_SNIFF_THREAD, head, "Thread "):
        score += 40
    if "Found by:" in head:
        score += 15
    if crash and prefix_search(_MACHINE_CRASH, head, "Crash|"):
        started = prefix_search(_MACHINE_START, head, "OS|") or line_search(_MACHINE_FRAME, head, "|")
        score = max(score, 70 + (25 if started else 0))
    return min(score, 100)


def parse(text: str) -> list[CrashReport]:
    machine = line_search(_MACHINE_CRASH, text, "Crash|") is not None and "Crash reason:" not in text
    if machine:
        starts = [m.start() for m in line_finditer(_MACHINE_START, text, "OS|")]
    else:
        starts = [m.start() for m in line_finditer(_TEXT_START, text, "Operating system:")]
    bounds = [0, *starts[1:], len(text)] if len(starts) > 1 else [0, len(text)]
    reports = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        piece = text[a:b]
        try:
            reports.append(_parse_machine(piece) if machine else _parse_text(piece))
        except ParseError:
            if len(bounds) == 2:
                raise
    if not reports:
        raise ParseError("no minidump_stackwalk crash or thread found")
    return reports


def _kind(reason: str | None) -> tuple[str | None, str | None]:
    """(crash kind, exception code) from a crash reason such as ``EXCEPTION_ACCESS_VIOLATION_WRITE``."""
    if not reason:
        return None, None
    first = reason.split()[0].split("/")[0].strip()
    if _HEX_REASON.fullmatch(first):
        code = normalize_code(first)
        return kind_for(code) or first, code
    kind = kind_from_name(first) if first.upper().startswith(("EXCEPTION_", "STATUS_")) else first
    return kind, CODE_BY_KIND.get(kind)


def _frame(body: str, raw: str) -> Frame:
    file: str | None = None
    line: int | None = None
    src = _SOURCE.search(body)
    if src:
        file, line = src.group(1).strip() or None, int(src.group(2))
        body = body[: src.start()]
    if body.startswith("0x") and " " not in body:
        return Frame(address=hex_address(body), raw=raw)
    if "!" in body:
        module, symbol = body.split("!", 1)
        function, _off = split_offset(symbol)
        return Frame(function=strip_args(function) or None, module=module or None, file=file, line=line, raw=raw)
    module, off = split_offset(body)
    return Frame(module=module or None, module_offset=off, file=file, line=line, raw=raw)


def _parse_text(text: str) -> CrashReport:
    reason_m = line_search(_REASON, text, "Crash reason:")
    reason = reason_m.group(1).strip() if reason_m else None
    if reason == "":
        reason = None
    address_m = line_search(_ADDRESS, text, "Crash address:")
    assertion_m = line_search(_ASSERTION, text, "Assertion:")

    threads: list[Thread] = []
    crashed: int | None = None
    current: list[Frame] = []
    trust: list[str] = []
    scanned: dict[int, list[int]] = {}
    index: int | None = None
    name: str | None = None

    def close() -> None:
        if index is not None:
            threads.append(Thread(index=index, name=name, frames=tuple(current)))
            bad = [i for i, t in enumerate(trust) if "scan" in t]
            if bad:
                scanned[index] = bad

    for line in text.split("\n"):
        if line.startswith("Thread "):
            tm = _THREAD.match(line)
            if tm:
                close()
                index, rest = int(tm.group(1)), (tm.group(2) or "").rstrip()
                state = _STATE.search(rest)
                if state:
                    rest = rest[: state.start()]
                    if state.group(1) == "crashed" or crashed is None:
                        crashed = index
                name = rest.strip() or None
                current, trust = [], []
                continue
        if index is None:
            continue
        fm = _FRAME.match(line)
        if fm and not line.lstrip().startswith(("Found by", "eip", "rip")) and "=" not in fm.group(2)[:6]:
            current.append(_frame(fm.group(2).rstrip(), line.strip()))
            trust.append("")
            continue
        if current and current[-1].address is None and "=" in line:
            pc = _PC.search(line)
            if pc:
                current[-1] = current[-1].with_(address=hex_address(pc.group(1)))
                continue
        fb = _FOUND_BY.match(line)
        if fb and current:
            trust[-1] = fb.group(1).strip()
            if "inlin" in fb.group(1):
                current[-1] = current[-1].with_(inlined=True)
            continue
        if line.startswith(("Loaded modules:", "Unloaded modules:")):
            close()
            index = None
    close()
    if not threads and reason is None:
        raise ParseError("no minidump_stackwalk crash reason or thread found")

    chosen = next((t for t in threads if t.index == crashed), threads[0] if threads else Thread())
    extra: dict[str, object] = {}
    if reason:
        extra["crash_reason"] = reason
    if address_m:
        extra["crash_address"] = address_m.group(1)
    if assertion_m:
        extra["assertion"] = assertion_m.group(1).strip()
    if chosen.name:
        extra["thread_name"] = chosen.name
    if chosen.index in scanned:
        extra["scanned_frames"] = scanned[chosen.index]  # found by stack scanning: unreliable
    return _report(reason, address_m.group(1) if address_m else None, chosen, tuple(threads), extra)


def _parse_machine(text: str) -> CrashReport:
    crash = line_search(_MACHINE_CRASH, text, "Crash|")
    reason = crash.group(1).strip() or None if crash else None
    address = crash.group(2).strip() or None if crash else None
    crashed = int(crash.group(3).strip()) if crash and crash.group(3).strip().isdigit() else None
    by_thread: dict[int, list[Frame]] = {}
    for raw in text.split("\n"):  # one line at a time: a ^-anchored finditer tries every character
        # _MACHINE_FRAME on one line: seven |-separated fields, the first two decimal numbers
        fields = raw.split("|")
        if len(fields) != 7 or not (fields[0].isdecimal() and fields[1].isdecimal()):
            continue
        tid, _, module, function, file, line, offset = fields
        offset = offset.strip()
        frame = new_frame(
            function=strip_args(function) if function else None,
            module=module or None,
            file=file or None,
            line=int(line) if line.isdigit() else None,
            module_offset=offset or None if module and not function else None,
            address=hex_address(offset) if not module and offset else None,
            raw=raw,
        )
        by_thread.setdefault(int(tid), []).append(frame)
    if not by_thread and crash is None:
        raise ParseError("no minidump_stackwalk Crash| line or frames found")
    threads = tuple(Thread(index=t, frames=tuple(f)) for t, f in sorted(by_thread.items()))
    chosen = next((t for t in threads if t.index == crashed), threads[0] if threads else Thread())
    extra: dict[str, object] = {}
    if reason:
        extra["crash_reason"] = reason
    if address:
        extra["crash_address"] = address
    return _report(reason, address, chosen, threads, extra)


def _report(
    reason: str | None,
    address: str | None,
    chosen: Thread,
    threads: tuple[Thread, ...],
    extra: dict[str, object],
) -> CrashReport:
    kind, code = _kind(reason)
    if needs_symbols(chosen.frames):
        extra["needs_symbols"] = True
    message = f"{reason} at {address}" if reason and address else reason
    return CrashReport(
        format=NAME,
        crash_kind=kind,
        exception_code=code,
        message=message,
        crashing_thread=chosen,
        threads=threads,
        first_app_frame=first_unsymbolized_app_frame(chosen.frames),
        extra=extra,
    )
