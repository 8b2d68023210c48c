"""Assertion and abort messages, with the stack some of them print after the message.

Styles: TrinityCore ``<file>:<line> in <func> ASSERTION FAILED:`` (+ old cores' ACE stack trace),
AzerothCore's ``#---#`` framed ``>> ASSERTION FAILED`` block, glibc ``assert()``, HAProxy
``BUG_ON`` with its ``call trace``, Icinga-style ``file:line: assertion failed:``, and
``std::terminate`` messages. The message's location becomes ``assert_location``; a stack printed
after it (gdb, sanitizer, ACE, ``backtrace_symbols``, HAProxy) is the crashing thread.
"""

from __future__ import annotations

import re

from crashpilot.errors import ParseError
from crashpilot.formats import gdb
from crashpilot.formats._linux_common import (
    ASSERTION_MARKERS,
    HEAD,
    Assertion,
    backtrace_symbols_frame,
    demangle_reports,
    find_assertion,
    find_assertions,
    find_revision,
    signal_name,
)
from crashpilot.formats.frames import function_name, hex_address
from crashpilot.models import CrashReport, Frame, Thread

NAME = "assert"

_SANITIZER_BANNER = re.compile(r"(?:ERROR|WARNING): (?:Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer:")
_HAPROXY = re.compile(
    r"^\s*\|\s*(?P<addr>0x[0-9a-fA-F]+)\s+\[[0-9a-fA-F ]*\]:\s+(?P<sym>[^\s+]+?)"
    r"(?:\+(?P<off>0x[0-9a-fA-F]+)(?:/(?P<size>0x[0-9a-fA-F]+))?)?\s*$"
)
_ACE_ADDR = re.compile(r"^\s*\[(?P<addr>0x[0-9a-fA-F]+)\]\s*$")
_ACE_FUNC = re.compile(r"^\s*(?P<func>[^\s\[\]][^\[\]]*?)\+(?P<off>0x[0-9a-fA-F]+) \[(?P<addr>0x[0-9a-fA-F]+)\]\s*$")
_CAUGHT = re.compile(r"(?:Caught|terminated by|received) (?:signal )?(SIG[A-Z]+)")
# HAProxy's own dump helpers that may sit above the function that hit BUG_ON.
_HAPROXY_DUMP = frozenset({"ha_backtrace", "ha_dump_backtrace", "ha_thread_dump", "ha_panic", "debug_handler",
                           "ha_thread_dump_one", "ha_stuck_warning", "ha_task_dump", "dump_crash_context"})
_MAX_STACK_LINES = 400


# Literals one of which is in every text sniff() claims; see _prescan.
MARKERS: tuple[str, ...] = ASSERTION_MARKERS
MARKERS_WITHIN = HEAD  # sniff() reads only the first HEAD characters


def sniff(text: str) -> int:
    head = text[:HEAD]
    found = find_assertion(head)
    if found is None:
        return 0
    if found.style == "terminate":
        return 60
    if found.style == "glibc" and "Sanitizer:" in head and _SANITIZER_BANNER.search(head, found.end):
        return 90  # the assertion came first; the sanitizer only reports the abort it caused
    return 85 if found.style in ("glibc", "icinga") else 90


def _haproxy_frame(m: re.Match[str], line: str) -> Frame:
    sym = m.group("sym")
    module = None
    if ":" in sym:
        module, sym = sym.rsplit(":", 1)
    unresolved = m.group("size") is None and sym == "main"  # "main+0x..." is HAProxy's fallback
    return Frame(
        function=None if unresolved or not sym else sym,
        module=module or None,
        address=hex_address(m.group("addr")),
        raw=line.strip(),
    )


def _stack_line(line: str) -> Frame | None:
    stripped = line.strip()
    if not stripped:
        return None
    # Each shape is tried only when the line starts / ends with the character it needs (most lines
    # of a log after an assertion are none of them); the order of the attempts is unchanged.
    first, last = stripped[0], stripped[-1]
    if first == "|":
        m = _HAPROXY.match(line)
        if m:
            return _haproxy_frame(m, line)
    if last == "]":
        m = _ACE_ADDR.match(line) if first == "[" else None
        if m:
            return Frame(address=hex_address(m.group("addr")), raw=stripped)
        m = _ACE_FUNC.match(line)
        if m:
            addr = hex_address(m.group("addr"))
            return Frame(function=function_name(m.group("func")), address=None if addr == "0x0" else addr,
                         raw=stripped)
    if first == "#":
        g = gdb._FRAME.match(stripped)
        if g:
            return gdb.parse_frame_text(int(g.group("n")), g.group("addr"), g.group("rest"), stripped)
    return backtrace_symbols_frame(line) if last == "]" else None


def _read_stack(text: str, start: int, stop: int) -> tuple[list[Frame], dict[str, object], str | None]:
    """Frames printed between ``start`` and ``stop``, sanitizer facts, and a signal named there."""
    region = text[start:stop]
    extra: dict[str, object] = {}
    # (the literal each match holds first: a regex without a literal prefix tries every character)
    sig = _CAUGHT.search(region[:20000]) if "SIG" in region[:20000] else None
    signal = signal_name(sig.group(1)) if sig else None
    banner = _SANITIZER_BANNER.search(region) if "Sanitizer:" in region else None
    if banner:
        from crashpilot.formats import sanitizer_common

        try:
            reports = sanitizer_common.parse_any(region)
        except ParseError:
            reports = []
        if reports and reports[0].frames:
            san = reports[0]
            extra["sanitizer"] = {"format": san.format, "crash_kind": san.crash_kind}
            for k, v in san.extra.items():
                extra.setdefault(k, v)
            return list(san.frames), extra, signal
    frames: list[Frame] = []
    misses = 0
    for n, line in enumerate(region.split("\n")):
        if n > _MAX_STACK_LINES:
            break
        f = _stack_line(line)
        if f is None:
            if frames and line.strip():
                misses += 1
                if misses > 3:
                    break
            continue
        misses = 0
        frames.append(f)
    return frames, extra, signal


def _report(text: str, a: Assertion, stop: int, revision: str | None, dirty: bool) -> CrashReport:
    frames, extra, signal = _read_stack(text, a.end, stop)
    if signal:
        extra["signal"] = signal
    extra["assert_style"] = a.style
    for k, v in a.extra:
        extra[k] = v
    location = a.location
    if location is not None and not location.function and a.style == "haproxy":
        # BUG_ON fires inside the function at the top of its call trace (below HAProxy's dump helpers)
        top = next((f for f in frames if f.function and f.function not in _HAPROXY_DUMP), None)
        if top is not None and frames and top is frames[0]:
            location = location.with_(function=top.function)
    if dirty:
        extra["dirty_build"] = True
    if frames and any(f.address and not f.function for f in frames) and not any(f.function for f in frames[:2]):
        extra["needs_symbols"] = True
    return CrashReport(
        format=NAME,
        crash_kind=a.kind,
        message=a.message,
        revision=revision,
        crashing_thread=Thread(None, None, tuple(frames)),
        assert_location=location,
        extra=extra,
    )


def parse(text: str) -> list[CrashReport]:
    found = find_assertions(text)
    if not found:
        raise ParseError("no assertion message found")
    revision, dirty = find_revision(text)
    reports = []
    for i, a in enumerate(found):
        stop = found[i + 1].start if i + 1 < len(found) else len(text)
        reports.append(_report(text, a, stop, revision, dirty))
    return demangle_reports(reports)
