"""macOS crash reports (the text ``.crash`` format of ReportCrash / Console.app).

    Exception Type:        EXC_BAD_ACCESS (SIGSEGV)
    Crashed Thread:        9
    Thread 9 Crashed:
    0   worldserver      0x000000010b8c3f3e Object::GetUInt32Value(unsigned short) const + 14 (Object.h:123)
    1   worldserver      0x000000010b8c3f00 0x10b000000 + 9453312

Reads every thread, takes the crashed one, the signal (or exception type) as crash kind, the
application-specific assertion message when there is one. The JSON ``.ips`` format of macOS 12+
is not read here.
"""

from __future__ import annotations

import re

from crashpilot.errors import ParseError
from crashpilot.formats._linux_common import HEAD, find_assertion, signal_name
from crashpilot.formats._scan import line_search
from crashpilot.formats.frames import function_name, hex_address
from crashpilot.models import CrashReport, Frame, Thread

NAME = "macos_crash"

_THREAD = re.compile(r"^Thread (?P<n>\d+)(?P<crashed> Crashed)?:(?::\s*(?P<name>.*))?\s*$")
_FRAME = re.compile(r"^(?P<n>\d+)\s+(?P<module>\S(?:.*?\S)?)\s+(?P<addr>0x[0-9a-fA-F]+)\s+(?P<sym>\S.*?)\s*$")
_OFFSET = re.compile(r"\s+\+\s+(?P<off>\d+)(?:\s+\((?P<loc>[^()]*)\))?$")
_BASE_PLUS = re.compile(r"^0x[0-9a-fA-F]+$")
_FIELD = re.compile(r"^(?P<key>Exception Type|Crashed Thread|Termination Signal|Exception Codes|Version|Process):\s+(?P<val>.*?)\s*$")


_CRASHED_M = re.compile(r"^Thread \d+ Crashed:", re.M)


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = ("Crashed:",)
MARKERS_WITHIN = HEAD  # sniff() reads only the first HEAD characters


def sniff(text: str) -> int:
    head = text[:HEAD]
    crashed = line_search(_CRASHED_M, head, "Crashed:") is not None
    if crashed and ("Exception Type:" in head or "Crashed Thread:" in head):
        return 95
    return 75 if crashed else 0


def _frame(m: re.Match[str]) -> Frame:
    sym = m.group("sym")
    file = None
    line: int | None = None
    off = _OFFSET.search(sym)
    offset: str | None = None
    if off:
        loc = off.group("loc")
        if loc and ":" in loc:
            f, _, ln = loc.rpartition(":")
            if ln.isdigit():
                file, line = f, int(ln)
        offset = off.group("off")
        sym = sym[: off.start()]
    sym = sym.strip()
    if _BASE_PLUS.match(sym):  # "0x10b000000 + 9453312": load address + offset, no symbol
        return Frame(module=m.group("module"), address=hex_address(m.group("addr")),
                     module_offset=hex(int(offset)) if offset else None, raw=m.group(0).strip())
    return Frame(function=function_name(sym) if sym != "???" else None, module=m.group("module"), file=file, line=line,
                 address=hex_address(m.group("addr")), raw=m.group(0).strip())


def parse(text: str) -> list[CrashReport]:
    fields: dict[str, str] = {}
    threads: list[Thread] = []
    crashed: int | None = None
    current: tuple[int, str | None] | None = None
    frames: list[Frame] = []

    def close() -> None:
        if current is not None:
            threads.append(Thread(current[0], current[1], tuple(frames)))

    for raw in text.split("\n"):
        line = raw.rstrip()
        if line.startswith("Thread "):
            t = _THREAD.match(line)
            if t:
                close()
                current, frames = (int(t.group("n")), (t.group("name") or None)), []
                if t.group("crashed"):
                    crashed = int(t.group("n"))
                continue
        if current is not None and line[:1].isdigit():
            fm = _FRAME.match(line[:8000])
            if fm:
                frames.append(_frame(fm))
                continue
        if not line.strip():
            close()
            current, frames = None, []
            continue
        f = _FIELD.match(line[:2000])
        if f and f.group("key") not in fields:
            fields[f.group("key")] = f.group("val")
    close()
    if crashed is None and fields.get("Crashed Thread", "").split(" ")[0].isdigit():
        crashed = int(fields["Crashed Thread"].split(" ")[0])
    chosen = next((t for t in threads if t.index == crashed and t.frames), None)
    if chosen is None:
        chosen = next((t for t in threads if t.frames), None)
    if chosen is None:
        raise ParseError("no crashed thread found in macOS crash report")
    exc = fields.get("Exception Type", "")
    kind = signal_name(exc) if "SIG" in exc else None
    if kind is None and fields.get("Termination Signal"):
        kind = signal_name(fields["Termination Signal"]) or fields["Termination Signal"]
    kind = kind or (exc.split(" ")[0] or None)
    extra: dict[str, object] = {}
    if exc:
        extra["exception_type"] = exc
    if fields.get("Exception Codes"):
        extra["exception_codes"] = fields["Exception Codes"]
    if fields.get("Process"):
        extra["process"] = fields["Process"]
    message = fields.get("Exception Codes")
    location = None
    assertion = find_assertion(text)
    if assertion is not None:
        kind, message, location = assertion.kind, assertion.message or message, assertion.location
        extra["signal"] = signal_name(exc) if "SIG" in exc else None
    others = tuple(t for t in threads if t is not chosen)
    return [CrashReport(format=NAME, crash_kind=kind, message=message, crashing_thread=chosen, threads=others,
                        assert_location=location, extra=extra)]
