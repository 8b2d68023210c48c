"""Visual Studio "Call Stack" window copies, in any UI language.

    >   world.exe!Object::GetUInt32Value(unsigned int index)  Zeile 340 + 0x3 Bytes C++
        world.exe!Item::GetStackCount()  Line 184 + 0x18 bytes C++
        kernel32.dll!7505339a()
        [Frames below may be incorrect and/or missing, no symbols loaded for kernel32.dll]

``>`` marks the frame the debugger stopped in; ``module!address()`` frames have no symbols;
bracketed lines (``[External Code]``, warnings) are not frames. The window shows line numbers but
no file names. It does not say why the program stopped: the crash kind is ``debugger-stop``
unless a frame names the cause (assert, abort, throw).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from crashpilot.errors import ParseError
from crashpilot.formats._linux_common import HEAD
from crashpilot.formats.frames import function_name, hex_address
from crashpilot.models import CrashReport, Frame, Thread

NAME = "vs_callstack"

# "Line" in the Visual Studio UI languages.
_LINE_WORDS = "Line|Zeile|Ligne|L\u00ednea|Linea|Riga|Linha|Wiersz|\u0158\u00e1dek|\u0421\u0442\u0440\u043e\u043a\u0430|\u884c|Satir|Sat\u0131r"
_FRAME = re.compile(r"^\s*(?P<cur>>)?\s*(?:\[Inline Frame\]\s*|\[Inlineframe\]\s*)?(?P<module>[A-Za-z0-9_.\-]+\.(?:exe|dll|sys|so|EXE|DLL))!(?P<rest>\S.*)$")
_LANG_TAIL = re.compile(r"\s+(?:C\+\+|C#|C|Asm|Unknown|Unbekannt|Inconnu|Desconocido|Sconosciuto|Desconhecido)\s*$")
_LINE_TAIL = re.compile(r"\s+(?:" + _LINE_WORDS + r")\s+(?P<line>\d+)(?:\s*\+\s*0x[0-9a-fA-F]+\s*\w*)?\s*$")
_ADDR_ONLY = re.compile(r"^(?P<addr>[0-9a-fA-F]{6,16})\(\)\s*$")
_ASSERT_FUNCS = re.compile(r"^(?:_wassert|_assert|__debugbreak|DebugBreak|_CrtDbgReport\w*|_CrtDbgBreak)$")
_ABORT_FUNCS = re.compile(r"^(?:abort|raise|terminate|std::terminate)$")
_THROW_FUNCS = re.compile(r"^(?:_CxxThrowException|RaiseException|__CxxThrowException@8)$")


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = (".exe!", ".dll!", ".sys!", ".so!", ".EXE!", ".DLL!")
MARKERS_WITHIN = HEAD  # sniff() reads only the first HEAD characters


def _lines_with_bang(head: str, max_lines: int) -> Iterator[str]:
    """The lines among the first ``max_lines`` of ``head`` that hold a ``!``, found by str.find
    (as ``[ln for ln in head.split("\\n")[:max_lines] if "!" in ln]`` without splitting every line)."""
    line_no, counted = 0, 0
    pos = head.find("!")
    while pos >= 0:
        line_no += head.count("\n", counted, pos)
        counted = pos
        if line_no >= max_lines:
            return
        start = head.rfind("\n", 0, pos) + 1
        end = head.find("\n", pos)
        if end < 0:
            yield head[start:]
            return
        yield head[start:end]
        pos = head.find("!", end + 1)


def sniff(text: str) -> int:
    head = text[:HEAD]
    if "!" not in head:  # every frame line holds module!function
        return 0
    hits = 0
    lined = False
    for line in _lines_with_bang(head, 3000):
        m = _FRAME.match(line[:4000])
        if m:
            hits += 1
            lined = lined or bool(_LINE_TAIL.search(_LANG_TAIL.sub("", m.group("rest"))))
    if hits >= 2 and lined:
        return 85
    if hits >= 3:
        return 50
    return 0


def _frame(m: re.Match[str]) -> Frame:
    rest = _LANG_TAIL.sub("", m.group("rest").rstrip())
    line: int | None = None
    lt = _LINE_TAIL.search(rest)
    if lt:
        line = int(lt.group("line"))
        rest = rest[: lt.start()]
    rest = rest.strip()
    a = _ADDR_ONLY.match(rest)
    if a:
        return Frame(module=m.group("module"), address=hex_address(a.group("addr")), raw=m.group(0).strip())
    return Frame(function=function_name(rest), module=m.group("module"), line=line, raw=m.group(0).strip(),
                 inlined="[Inline" in m.group(0))


def parse(text: str) -> list[CrashReport]:
    reports: list[CrashReport] = []
    frames: list[Frame] = []
    current: int | None = None
    for raw in text.split("\n"):
        if "!" not in raw:
            continue
        m = _FRAME.match(raw[:8000])
        if not m:
            continue
        if m.group("cur") and frames and current is not None:
            reports.append(_build(frames, current))
            frames, current = [], None
        if m.group("cur"):
            current = len(frames)
        frames.append(_frame(m))
    if frames:
        reports.append(_build(frames, current))
    if not reports:
        raise ParseError("no Visual Studio call-stack frames found")
    return reports


def _build(frames: list[Frame], current: int | None) -> CrashReport:
    kind = "debugger-stop"
    for f in frames[:10]:
        fn = f.function or ""
        if _ASSERT_FUNCS.match(fn):
            kind = "assertion"
            break
        if _ABORT_FUNCS.match(fn):
            kind = "abort"
            break
        if _THROW_FUNCS.match(fn):
            kind = "exception"
            break
    extra: dict[str, object] = {}
    if current:
        extra["current_frame"] = current
    if any(f.function is None for f in frames):
        extra["needs_symbols"] = True
    return CrashReport(format=NAME, crash_kind=kind, crashing_thread=Thread(None, None, tuple(frames)), extra=extra)
