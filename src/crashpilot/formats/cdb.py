"""CDB / WinDbg ``!analyze -v`` output, with the ``k`` listing that often follows it.

Read: the exception (EXCEPTION_RECORD ``ExceptionCode:``, ``EXCEPTION_CODE:``,
``EXCEPTION_CODE_STR:``, ``FAILURE_EXCEPTION_CODE:`` or the debugger's ``- code c0000005`` event
line), the crashing thread's frames from the ``k`` listing after the analysis when there is one
(it shows inlined frames that ``STACK_TEXT`` omits), else from ``STACK_TEXT``; bucket ids,
``SYMBOL_NAME``, ``PROCESS_NAME`` and the faulting source file/line go to ``extra``. Console
captures hard-wrapped at 80 columns are rejoined first.
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
    strip_args,
)
from crashpilot.formats.frames import hex_address, new_frame, split_offset
from crashpilot.models import CrashReport, Frame, Thread

NAME = "cdb_analyze"

_WRAP_WIDTHS = (79, 80, 100, 120, 132)
_NO_JOIN = re.compile(r"[0-9A-Fa-f`]{8,17}\s+[0-9A-Fa-f`]{8,17}\s|[A-Z][A-Z0-9_]{3,}:|\s*$")
_BANNER = re.compile(r"^\*[ \t]+Exception Analysis[ \t]+\*[ \t]*$", re.M)
_INLINE = re.compile(r"\(Inline(?: Function)?\)")
_PLACEHOLDER = re.compile(r"[-`]{8,17}")
_KEY = re.compile(r"^([A-Z][A-Z0-9_]{2,}):[ \t]*([^\n]*)$", re.M)
_EXC_RECORD = re.compile(r"^[ \t]*ExceptionCode:[ \t]*([0-9A-Fa-f]{8})[ \t]*(?:\(([^)\n]*)\))?", re.M)
_EXC_ADDRESS = re.compile(r"^[ \t]*ExceptionAddress:[ \t]*([0-9A-Fa-f`]+)", re.M)
_EVENT = re.compile(
    r"^\([0-9a-fA-F]+\.[0-9a-fA-F]+\):[ \t]*([^\n]*?)[ \t]+-[ \t]+code[ \t]+([0-9A-Fa-f]{8})", re.M
)
_ATTEMPT = re.compile(r"^[ \t]*(Attempt to (?:read from|write to|execute) address [0-9A-Fa-f`x]+)", re.M)
_K_HEADER = re.compile(r"^[ \t]*(?:#[ \t]+)?(?:ChildEBP|Child-SP)[ \t]+RetAddr\b[^\n]*$", re.M)
_HEXTOK = re.compile(r"[0-9A-Fa-f`]{8,17}")
_FRAME_NO = re.compile(r"[0-9a-fA-F]{2,3}$")
_SOURCE = re.compile(r"[ \t]+\[([^\[\]]+?)[ \t]+@[ \t]+(\d+)\][ \t]*$")
_THREAD_CMD = re.compile(r"~(\d+)s")
_EXTRA_KEYS = (
    "FAILURE_BUCKET_ID",
    "BUCKET_ID",
    "DEFAULT_BUCKET_ID",
    "PRIMARY_PROBLEM_CLASS",
    "BUGCHECK_STR",
    "SYMBOL_NAME",
    "PROCESS_NAME",
    "IMAGE_NAME",
    "MODULE_NAME",
    "FAULTING_THREAD",
    "READ_ADDRESS",
    "WRITE_ADDRESS",
)


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = (
    "STACK_TEXT:",
    "FAULTING_IP:",
    "EXCEPTION_RECORD:",
    "FAILURE_BUCKET_ID:",
    "Exception Analysis",
    "!analyze",
    "RetAddr",
)
MARKERS_WITHIN = 65536  # sniff() reads only the first 65536 characters


def sniff(text: str) -> int:
    head = text[:65536]
    score = 0
    if "STACK_TEXT:" in head:
        score += 50
    if "FAULTING_IP:" in head or "EXCEPTION_RECORD:" in head or "FAILURE_BUCKET_ID:" in head:
        score += 30
    if "Exception Analysis" in head or "!analyze" in head:
        score += 15
    if score == 0 and "!" in head and line_search(_K_HEADER, head, "RetAddr"):
        score = 40
    return min(score, 100)


def unwrap(text: str) -> str:
    """Rejoin lines a console hard-wrapped at a fixed width (80 columns is the common case)."""
    lines = text.split("\n")
    lengths = list(map(len, lines))
    longest = max(lengths, default=0)
    if longest not in _WRAP_WIDTHS or lengths.count(longest) < 2:
        return text
    out: list[str] = []
    buf = ""
    for line in lines:
        if buf:
            if _NO_JOIN.match(line):
                out.append(buf)
                buf = ""
            else:
                line = buf + line
                buf = ""
        if len(line) % longest == 0 and line:
            buf = line
        else:
            out.append(line)
    if buf:
        out.append(buf)
    return "\n".join(out)


def parse(text: str) -> list[CrashReport]:
    text = unwrap(text)
    # Each analysis starts with a box of asterisks around "Exception Analysis".
    starts = (
        [text.rfind("\n****", 0, m.start()) + 1 for m in line_finditer(_BANNER, text, "Exception Analysis")]
        if text.count("Exception Analysis") > 1
        else []
    )
    bounds = [0, *starts[1:], len(text)] if len(starts) > 1 else [0, len(text)]
    reports = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        try:
            reports.append(_parse_one(text[a:b]))
        except ParseError:
            if len(bounds) == 2:
                raise
    if not reports:
        raise ParseError("no CDB analysis or stack found")
    return reports


def _keys(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for m in _KEY.finditer(text):
        found.setdefault(m.group(1), m.group(2).strip())
    return found


def _call_site(site: str) -> dict[str, object]:
    """The fields of one frame from its call-site text (``module!function+0xoff [file @ line]``)."""
    site = site.strip()
    fields: dict[str, object] = {}
    src = _SOURCE.search(site) if site.endswith("]") else None
    if src:
        fields["file"], fields["line"] = src.group(1).strip(), int(src.group(2))
        site = site[: src.start()].strip()
    if site[:2] in ("0x", "0X") or _HEXTOK.fullmatch(site):
        fields["address"] = hex_address(site[2:] if site[:2] in ("0x", "0X") else site)
    elif "!" in site:
        module, symbol = site.split("!", 1)
        fields["function"] = strip_args(split_offset(symbol)[0]) or None
        fields["module"] = module or None
    else:
        module, off = split_offset(site)
        fields["module"] = module or None
        fields["module_offset"] = off.lower() if off else None
    return fields


def _column(token: str) -> bool:
    return bool(_HEXTOK.fullmatch(token) or _PLACEHOLDER.fullmatch(token))


def _frames_after(text: str, start: int, k_style: bool) -> list[tuple[dict[str, object], str | None]]:
    """Frame lines from ``start`` until a line that is not a frame; each with its RetAddr."""
    out: list[tuple[dict[str, object], str | None]] = []
    pos, end = start, len(text)
    while pos < end:
        nl = text.find("\n", pos)
        nl = end if nl < 0 else nl
        stripped = text[pos:nl].strip()
        pos = nl + 1
        if not stripped:
            if out:
                break
            continue
        if stripped.startswith(("WARNING:", "*** ")):
            continue
        inlined = "(Inline" in stripped
        if inlined:
            stripped = _INLINE.sub("--------", stripped)
        tokens = stripped.replace(" : ", " ").split(None, 8)
        if k_style and len(tokens) > 2 and _FRAME_NO.fullmatch(tokens[0]) and _column(tokens[1]):
            tokens = tokens[1:]  # "kn" listings number their frames
        hexes = 0
        while hexes < len(tokens) and _column(tokens[hexes]):
            hexes += 1
        if hexes < 2 or hexes == len(tokens):
            break
        fields = _call_site(" ".join(tokens[hexes:]))
        fields["raw"] = stripped
        fields["inlined"] = inlined
        out.append((fields, hex_address(tokens[1])))
    return out


def _parse_one(text: str) -> CrashReport:
    banner = text.find("Exception Analysis")
    keys = _keys(text[banner:] if banner >= 0 else text)
    extra: dict[str, object] = {k.lower(): keys[k] for k in _EXTRA_KEYS if keys.get(k)}

    code: str | None = None
    description: str | None = None
    rec = line_search(_EXC_RECORD, text, "ExceptionCode:")
    if rec:
        code, description = normalize_code(rec.group(1)), (rec.group(2) or "").strip() or None
    for key in ("EXCEPTION_CODE", "EXCEPTION_CODE_STR", "FAILURE_EXCEPTION_CODE"):
        if code is None and keys.get(key):
            m = re.search(r"(?:0x)?([0-9A-Fa-f]{8})\b", keys[key])
            code = normalize_code(m.group(1)) if m else None
    events = line_finditer(_EVENT, text, "):", 0, text.find("STACK_TEXT:") if "STACK_TEXT:" in text else len(text))
    if code is None and events:
        code = normalize_code(events[-1].group(2))
    if description is None:
        ev = next((e for e in reversed(events) if normalize_code(e.group(2)) == code), None)
        description = ev.group(1).strip() if ev else None
    kind = kind_for(code)
    if kind is None and description:
        kind = re.sub(r"[^A-Za-z0-9]+", "_", description).strip("_").upper() or None

    # Frames: the k listing after the analysis, else STACK_TEXT.
    chosen: list[tuple[dict[str, object], str | None]] = []
    for m in line_finditer(_K_HEADER, text, "RetAddr"):
        listing = _frames_after(text, m.end(), k_style=True)
        if listing:
            chosen = listing
            break
    if not chosen and "STACK_TEXT:" in text:
        chosen = _frames_after(text, text.find("STACK_TEXT:") + len("STACK_TEXT:"), k_style=False)
    if not chosen and code is None:
        raise ParseError("no CDB analysis or stack found")

    # A frame's own address is the return address printed on the frame above it.
    exc_addr = line_search(_EXC_ADDRESS, text, "ExceptionAddress:")
    frames: list[Frame] = []
    prev_ret: str | None = hex_address(exc_addr.group(1)) if exc_addr else None
    for fields, ret in chosen:
        if "address" not in fields:
            fields["address"] = prev_ret
        frames.append(new_frame(**fields))
        if ret is not None or not fields["inlined"]:  # an inlined frame shares its caller's address
            prev_ret = ret
    frames = _attach_source(frames, keys)
    if needs_symbols(frames):
        extra["needs_symbols"] = True

    message_parts = [p for p in (description,) if p]
    attempt = line_search(_ATTEMPT, text, "Attempt to ")
    if attempt:
        message_parts.append(attempt.group(1))
    thread_cmd = _THREAD_CMD.search(keys.get("STACK_COMMAND", ""))
    return CrashReport(
        format=NAME,
        crash_kind=kind,
        exception_code=code,
        message="; ".join(message_parts) or None,
        crashing_thread=Thread(index=int(thread_cmd.group(1)) if thread_cmd else None, frames=tuple(frames)),
        first_app_frame=first_unsymbolized_app_frame(frames),
        extra=extra,
    )


def _attach_source(frames: list[Frame], keys: dict[str, str]) -> list[Frame]:
    """Put FAULTING_SOURCE_FILE / _LINE_NUMBER on the frame SYMBOL_NAME names."""
    path = keys.get("FAULTING_SOURCE_FILE") or keys.get("FAULTING_SOURCE_LINE")
    number = keys.get("FAULTING_SOURCE_LINE_NUMBER", "")
    symbol = keys.get("SYMBOL_NAME", "")
    if not path or not number.isdigit() or "!" not in symbol:
        return frames
    module, function = symbol.split("!", 1)
    function = split_offset(function)[0].lower()
    for i, frame in enumerate(frames):
        if (
            frame.file is None
            and (frame.function or "").lower() == function
            and ((frame.module or "").lower() == module.lower())
        ):
            frames[i] = frame.with_(file=path, line=int(number))
            break
    return frames
