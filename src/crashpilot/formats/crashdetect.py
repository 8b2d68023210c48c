"""The SA-MP / open.mp crashdetect plugin's native backtrace.

    [19:26:29] [debug] Server crashed due to an unknown error
    [19:26:29] [debug] Native backtrace:
    [19:26:29] [debug] #0 f7acf8b6 in _Z13GetStackTraceRSt6vectorI10StackFrameSaIS0_EEPv () in plugins/crashdetect.so
    [19:26:29] [debug] #6 f5d69045 in subhook_install () in plugins/PawnPlus.so

Every line may carry a ``[time]`` and ``[debug]`` prefix; names are Itanium-mangled (demangled
here with one ``c++filt`` call); the plugin's own handler frames come first (marked runtime by
the module list).
"""

from __future__ import annotations

import re

from crashpilot.errors import ParseError
from crashpilot.formats._linux_common import HEAD, demangle_reports, signal_name
from crashpilot.formats.frames import function_name, hex_address
from crashpilot.models import CrashReport, Frame, Thread

NAME = "crashdetect"

_PREFIX = re.compile(r"^(?:\s*\[[^\]\n]{0,60}\])*\s*")
_FRAME = re.compile(r"^#(?P<n>\d+)\s+(?P<addr>[0-9a-fA-F]{6,16})\s+in\s+(?P<sym>.*?)\s+(?:in|from)\s+(?P<module>\S[^\n]*?)\s*$")
_CRASHED = re.compile(r"^Server (?:crashed|received signal)[^\n]*")
_NATIVE = "Native backtrace:"


def _strip(line: str) -> str:
    return line[_PREFIX.match(line).end():] if line.startswith(("[", " ")) else line  # type: ignore[union-attr]


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = ("Native backtrace:",)
MARKERS_WITHIN = HEAD  # sniff() reads only the first HEAD characters


def sniff(text: str) -> int:
    head = text[:HEAD]
    if _NATIVE in head and ("[debug]" in head or "crashdetect" in head or "Server crashed" in head):
        return 95
    if _NATIVE in head:
        return 70
    return 0


def _frame(m: re.Match[str], raw: str) -> Frame:
    sym = m.group("sym").strip()
    func = None if sym.startswith("??") or not sym else (sym if sym.startswith("_Z") else function_name(sym))
    if func and func.startswith("_Z"):
        func = func.split(" ", 1)[0].removesuffix("()")
    return Frame(function=func, module=m.group("module"), address=hex_address(m.group("addr")), raw=raw.strip())


def _build(header: str | None, frames: list[Frame]) -> CrashReport:
    kind = None
    if header:
        sig = signal_name(header) if "SIG" in header else None
        kind = sig
    extra: dict[str, object] = {}
    if any(f.function is None for f in frames):
        extra["needs_symbols"] = True
    return CrashReport(format=NAME, crash_kind=kind, message=header, crashing_thread=Thread(None, None, tuple(frames)),
                       extra=extra)


def parse(text: str) -> list[CrashReport]:
    reports: list[CrashReport] = []
    header: str | None = None
    frames: list[Frame] | None = None
    for raw in text.split("\n"):
        line = _strip(raw)
        if line.startswith("Server "):
            m = _CRASHED.match(line)
            if m:
                if frames:
                    reports.append(_build(header, frames))
                    frames = None
                header = m.group(0).strip()
                continue
        if line.startswith(_NATIVE):
            if frames:
                reports.append(_build(header, frames))
                header = None
            frames = []
            continue
        if frames is not None and line.startswith("#"):
            fm = _FRAME.match(line[:8000])
            if fm:
                frames.append(_frame(fm, line))
    if frames:
        reports.append(_build(header, frames))
    if not reports:
        raise ParseError("no crashdetect native backtrace found")
    return demangle_reports(reports)
