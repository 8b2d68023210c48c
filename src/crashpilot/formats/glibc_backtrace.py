"""glibc abort messages with ``backtrace_symbols()`` stacks, and bare ``backtrace_symbols`` dumps.

    *** stack smashing detected ***: ./prog terminated
    ======= Backtrace: =========
    /lib/x86_64-linux-gnu/libc.so.6(__fortify_fail+0x37)[0x7f3c1a2b3c37]
    ./prog(_ZN3Foo3barEv+0x1a)[0x4005d6]

Old glibc (< 2.26) printed the backtrace and a memory map after ``*** <what> ***`` messages
(stack smashing, fortify buffer overflow, ``*** Error in `prog': double free or corruption``).
Crash handlers of many programs print the same ``backtrace_symbols`` lines.
"""

from __future__ import annotations

import re

from crashpilot.errors import ParseError
from crashpilot.formats._linux_common import (
    BACKTRACE_SYMBOLS,
    HEAD,
    backtrace_symbols_frame,
    demangle_reports,
    signal_name,
)
from crashpilot.models import CrashReport, Frame, Thread

NAME = "glibc_backtrace"

# "*** stack smashing detected ***: ./prog terminated", "*** Error in `./a.out': free(): invalid pointer: 0x... ***"
_HEADER = re.compile(r"^\W{0,6}\*\*\*\s*(?P<what>[^*\n]{3,400}?)\s*\*\*\*(?::\s*(?P<prog>[^\n]*?)\s*(?:terminated)?)?\s*$")
_ERROR_IN = re.compile(r"^Error in [`'](?P<prog>[^'`]*)['`]:\s*(?P<msg>.*?)(?::\s*0x[0-9a-fA-F]+)?$")
_BACKTRACE = re.compile(r"^=+ Backtrace: =+\s*$")
_MEMMAP = re.compile(r"^=+ Memory map: =+\s*$")
_SIGNAL = re.compile(r"\b(SIG[A-Z]{3,6})\b|\bsignal (\d{1,2})\b|\bSegmentation fault\b")
_KINDS = (
    ("stack smashing", "stack-smashing"),
    ("buffer overflow detected", "buffer-overflow"),
    ("double free", "double-free"),
    ("free(): invalid", "invalid-free"),
    ("munmap_chunk(): invalid pointer", "invalid-free"),
    ("corrupted", "heap-corruption"),
    ("malloc(): ", "heap-corruption"),
    ("free(): ", "heap-corruption"),
    ("realloc(): ", "heap-corruption"),
)


def _clean(line: str) -> str:
    """Undo GitHub markdown escapes of ``*`` (``**\\*`` for ``***``)."""
    return line.replace("\\*", "*") if "\\*" in line else line


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = ("======= Backtrace: =========", "[0x")
MARKERS_WITHIN = HEAD  # sniff() reads only the first HEAD characters


def sniff(text: str) -> int:
    head = text[:HEAD]
    if "======= Backtrace: =========" in head:
        return 90
    if "[0x" not in head:  # every backtrace_symbols() line ends with [0xADDR]
        return 0
    run = best = 0
    for line in head.split("\n")[:2000]:
        if line.endswith("]") and BACKTRACE_SYMBOLS.match(line.strip()):
            run += 1
            best = max(best, run)
        elif line.strip():
            run = 0
    if best >= 3:
        return 70 if "***" in head else 60
    return 0


def _kind(what: str) -> str:
    low = what.lower()
    for needle, kind in _KINDS:
        if needle in low:
            return kind
    return "abort"


def _report(lines: list[str], header: str | None) -> CrashReport | None:
    frames: list[Frame] = []
    message = None
    kind = None
    extra: dict[str, object] = {}
    if header is not None:
        h = _HEADER.match(header)
        what = h.group("what").strip() if h else header.strip()
        e = _ERROR_IN.match(what)
        if e:
            what = e.group("msg").strip()
            extra["program"] = e.group("prog")
        elif h and h.group("prog"):
            extra["program"] = h.group("prog")
        message, kind = what, _kind(what)
    for line in lines:
        s = line.strip()
        if _MEMMAP.match(s):
            break
        f = backtrace_symbols_frame(s) if s.endswith("]") else None
        if f is not None:
            frames.append(f)
        elif kind is None and not frames:
            sig = _SIGNAL.search(s)
            if sig:
                kind = signal_name(sig.group(0)) if "Segmentation" not in sig.group(0) else "SIGSEGV"
    if not frames and message is None:
        return None
    if any(f.function is None for f in frames):
        extra["needs_symbols"] = True
    return CrashReport(format=NAME, crash_kind=kind, message=message, crashing_thread=Thread(None, None, tuple(frames)),
                       extra=extra)


def parse(text: str) -> list[CrashReport]:
    lines = [_clean(x) for x in text.split("\n")]
    reports: list[CrashReport] = []
    header: str | None = None
    body: list[str] = []
    seen_frames = False
    for line in lines:
        if "***" in line and _HEADER.match(line.strip()):
            if header is not None or seen_frames:
                r = _report(body, header)
                if r is not None:
                    reports.append(r)
            header, body, seen_frames = line.strip(), [], False
            continue
        if line.rstrip().endswith("]") and not seen_frames and BACKTRACE_SYMBOLS.match(line.strip()):
            seen_frames = True
        body.append(line)
    r = _report(body, header)
    if r is not None:
        reports.append(r)
    reports = [r for r in reports if r.frames or r.message]
    if not reports or not any(r.frames for r in reports):
        raise ParseError("no backtrace_symbols frames found")
    return demangle_reports(reports)
