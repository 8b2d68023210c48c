"""WheatyExceptionReport crash logs (TrinityCore, AzerothCore, cmangos on Windows).

A log holds a ``Revision:`` banner, hardware/OS blocks, ``Exception code:``, an optional
``Assertion message:``, ``Fault address:``, registers, one ``Call stack:`` block per thread (the
crashing thread first) and then ``Local Variables And Parameters``, which repeats every stack
with a dump of locals and is most of a multi-megabyte file: it is never scanned when the plain
stacks come before it. Pasted copies are often fragments (only the ``Call stack:`` block).
"""

from __future__ import annotations

import re

from crashpilot.errors import ParseError
from crashpilot.formats._scan import line_finditer, line_search
from crashpilot.formats._windows_common import (
    first_unsymbolized_app_frame,
    kind_for,
    needs_symbols,
    normalize_code,
)
from crashpilot.formats.frames import hex_address, module_name, split_offset
from crashpilot.models import CrashReport, Frame, Thread

NAME = "wheaty"

_LOCALS_MARK = "Local Variables And Parameters"
_CALL_STACK = re.compile(r"^[ \t>]*Call stack:[ \t]*$", re.M)
_HEADER = re.compile(r"^[ \t]*Address[ \t]+Frame[ \t]+Function[ \t]+SourceFile", re.M)
_FRAME = re.compile(
    r"[ \t]*([0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})[ \t]+([0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})[ \t]+(\S[^\n]*)"
)
_UNSYMBOLIZED = re.compile(r"^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{8,16})[ \t]+(.*)$")
_LINE_SUFFIX = re.compile(r"[ \t]line[ \t]+(\d+)$")
_OFFSET_GAP = re.compile(r"\+[0-9A-Fa-f]+([ \t]+)")
_REVISION = re.compile(r"^[ \t]*Revision:[ \t]*([^\n]*)$", re.M)
_REV_HASH = re.compile(r"\brev\.?\s+([0-9a-fA-F]{7,40})(\+?)(?=[\s(]|$)")
_BARE_HASH = re.compile(r"(?<![\w.])([0-9a-f]{7,40})(\+?)(?=[\s(]|$)")
_BUILD = re.compile(r"\(((?:Win32|Win64|x64|x86|ARM64)[^()]*)\)\s*$")
_EXCEPTION = re.compile(r"^[ \t]*Exception code:[ \t]*([0-9A-Fa-f]{8})[ \t]*([^\n]*)$", re.M)
_ASSERT_MSG = re.compile(r"^[ \t]*Assertion message:[ \t]*([^\n]*)$", re.M)
_FAULT = re.compile(
    r"^[ \t]*Fault address:[ \t]+([0-9A-Fa-f]{8,16})[ \t]+([0-9A-Fa-f]{2}):([0-9A-Fa-f]{8,16})[ \t]*([^\n]*)$",
    re.M,
)
_CPP_INFO = re.compile(r"^[ \t]*Uncaught C\+\+ exception info:[ \t]*([^\n]*)$", re.M)
_ASSERT_LOC = re.compile(r"^[ \t]*(\S[^\n]*?):(\d+) in (\S[^\n]*?) ASSERTION FAILED", re.M)
_REPORT_START = re.compile(r"^[ \t]*Revision:[^\n]*\n[ \t]*Date ", re.M)
_FILENAME = re.compile(
    r"^(?P<hash>[0-9a-fA-F]{7,40}|unknown|Archived|[^_]*)(?P<dirty>\+?)_.+_\[[\d_\-]+\]\.(?:txt|dmp)$"
)
_DISPATCHER = ("KiUserExceptionDispatch", "RtlDispatchException", "RtlRaiseException")


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = (
    "SourceFile",
    "Call stack:",
    "Exception code:",
    "WheatyExceptionReport",
    "* Hardware ***",
)
MARKERS_WITHIN = 65536  # sniff() reads only the first 65536 characters


def sniff(text: str) -> int:
    head = text[:65536]
    score = 0
    if line_search(_HEADER, head, "SourceFile"):
        score = 90
    elif "Call stack:" in head and _FRAME.search(head):
        score = 50
    exception = "Exception" in head  # the shared word first: one scan rules out two markers
    if exception and "Exception code:" in head and "Fault address:" in head:
        score = max(score, 80) + 10
    if (exception and "WheatyExceptionReport" in head) or "* Hardware ***" in head:  # (and "*** Hardware ***")
        score += 5
    return min(score, 100)


def revision_from_filename(name: str) -> tuple[str | None, bool]:
    """The build hash and dirty flag a Wheaty log's file name carries.

    ``3f33f776e3ba+_worldserver.exe_[2025_10_30_17_10_47].txt`` -> (``3f33f776e3ba``, True);
    ``e34c629a654c_worldserver.exe_[7-10_18-36-20].txt`` -> (``e34c629a654c``, False);
    ``unknown_worldserver.exe_[...]`` or any other name -> (None, False).
    """
    base = re.split(r"[\\/]", name.strip())[-1]
    m = _FILENAME.match(base)
    if not m or not re.fullmatch(r"[0-9a-fA-F]{7,40}", m.group("hash")):
        return None, False
    return m.group("hash").lower(), bool(m.group("dirty"))


def parse(text: str) -> list[CrashReport]:
    starts = [m.start() for m in line_finditer(_REPORT_START, text, "Revision:")] if text.count("Revision:") > 1 else []
    if len(starts) > 1:
        pieces = [text[a:b] for a, b in zip([0, *starts[1:]], [*starts[1:], len(text)], strict=True)]
    else:
        pieces = [text]
    reports = []
    for piece in pieces:
        try:
            reports.append(_parse_one(piece))
        except ParseError:
            if len(pieces) == 1:
                raise
    if not reports:
        raise ParseError("no WheatyExceptionReport call stack or exception found")
    return reports


def _parse_frame(line: str) -> Frame | None:
    m = _FRAME.match(line)
    if not m:
        return None
    address, rest = m.group(1), m.group(3).rstrip()
    un = _UNSYMBOLIZED.match(rest)
    if un:
        path = un.group(3).strip() or None
        return Frame(
            module=module_name(path) if path else None,
            address=hex_address(address),
            module_offset=f"{un.group(1)}:{un.group(2)}",
            raw=line.strip(),
        )
    file: str | None = None
    lineno: int | None = None
    src = _LINE_SUFFIX.search(rest)
    if src:
        # "Name+A6  D:\path\file.cpp line 713": the function ends at the first "+hex" followed by
        # spaces (Wheaty writes two; prefer that gap, a template name may hold single spaces).
        gaps = list(_OFFSET_GAP.finditer(rest, 0, src.start()))
        gap = next((g for g in gaps if len(g.group(1)) >= 2), gaps[0] if gaps else None)
        if gap is not None and rest[gap.end() : src.start()].strip():
            file, lineno = rest[gap.end() : src.start()].strip(), int(src.group(1))
            rest = rest[: gap.start(1)]
    function, _offset = split_offset(rest)
    if not function:
        return None
    return Frame(function=function, file=file, line=lineno, address=hex_address(address), raw=line.strip())


def _stacks(region: str) -> list[list[Frame]]:
    """Every ``Call stack:`` block (or, for a bare fragment, the frame lines) in ``region``."""
    marks = [m.end() for m in line_finditer(_CALL_STACK, region, "Call stack:")]
    if not marks:
        marks = [0]
    stacks: list[list[Frame]] = []
    for i, start in enumerate(marks):
        end = marks[i + 1] if i + 1 < len(marks) else len(region)
        frames: list[Frame] = []
        started = False
        for line in region[start:end].split("\n"):
            frame = _parse_frame(line)
            if frame is not None:
                frames.append(frame)
                started = True
            elif started and line.strip():
                break  # anything else after the frames ends the block ("----", "====", locals)
        if frames:
            stacks.append(frames)
    return stacks


def _pick_crashing(stacks: list[list[Frame]], fault: str | None) -> int:
    if fault:
        for i, frames in enumerate(stacks):
            if frames[0].address == fault:
                return i
    for i, frames in enumerate(stacks):
        if any(f.function and f.function.startswith(_DISPATCHER) for f in frames):
            return i
    return 0


def _parse_one(text: str) -> CrashReport:
    cut = text.find(_LOCALS_MARK)
    region = text if cut < 0 else text[:cut]
    stacks = _stacks(region)
    if not stacks and cut >= 0:
        stacks = _stacks(text[cut:])
    head = region[:65536] if stacks else text[:65536]
    exc = line_search(_EXCEPTION, head, "Exception code:")
    if not stacks and not exc:
        raise ParseError("no WheatyExceptionReport call stack or exception found")

    extra: dict[str, object] = {}
    code = normalize_code(exc.group(1)) if exc else None
    code_name = exc.group(2).strip() if exc else ""
    kind = kind_for(code, code_name) if exc else None
    message: str | None = None
    if exc and code_name and kind != code_name:
        message = code_name
    cpp = line_search(_CPP_INFO, head, "Uncaught C++ exception info:")
    if cpp and cpp.group(1).strip():
        message = cpp.group(1).strip()

    assert_location: Frame | None = None
    am = line_search(_ASSERT_MSG, head, "Assertion message:")
    if am:
        fault_at = line_search(_FAULT, head, "Fault address:", am.end())
        block = head[am.start() : fault_at.start() if fault_at else am.end() + 4000]
        message = block.split(":", 1)[1].strip() or message
        loc = line_search(_ASSERT_LOC, block, " ASSERTION FAILED")
        if loc:
            assert_location = Frame(
                function=loc.group(3).strip(), file=loc.group(1).strip(), line=int(loc.group(2)), in_app=True
            )
        kind = "assertion"

    fault = line_search(_FAULT, head, "Fault address:")
    fault_addr: str | None = None
    if fault:
        fault_addr = hex_address(fault.group(1))
        extra["fault_address"] = fault_addr
        extra["fault_module"] = fault.group(4).strip() or None
        extra["fault_module_offset"] = f"{fault.group(2)}:{fault.group(3)}"

    revision: str | None = None
    rev = line_search(_REVISION, head, "Revision:")
    if rev:
        line = rev.group(1)
        extra["revision_line"] = line.strip()
        hm = _REV_HASH.search(line) or _BARE_HASH.search(line)
        if hm:
            revision = hm.group(1).lower()
            if hm.group(2):
                extra["dirty_build"] = True
        bm = _BUILD.search(line)
        if bm:
            extra["build"] = bm.group(1).strip()

    index = _pick_crashing(stacks, fault_addr) if stacks else 0
    frames = tuple(stacks[index]) if stacks else ()
    if len(stacks) > 1:
        extra["thread_count"] = len(stacks)
    if needs_symbols(frames):
        extra["needs_symbols"] = True
        extra["hint"] = "needs symbols (RelWithDebInfo build / PDB)"

    return CrashReport(
        format=NAME,
        crash_kind=kind,
        exception_code=code,
        message=message,
        revision=revision,
        crashing_thread=Thread(index=index if stacks else None, frames=frames),
        threads=tuple(Thread(index=i, frames=tuple(s)) for i, s in enumerate(stacks)),
        assert_location=assert_location,
        first_app_frame=first_unsymbolized_app_frame(frames),
        extra=extra,
    )
