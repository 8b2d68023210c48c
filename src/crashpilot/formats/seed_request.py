"""Request files of the design crashpilot replaced: ``crash_analysis_queue/requests/request_*.json``.

``{"request_id", "timestamp", "status": "pending", "crash": {"crash_id", "exception_code",
"crash_location", "error_message"}, "request_type", "priority"}`` — one crash, already reduced to
a location string such as ``Spell.cpp:1234``, ``Unit::DealDamage`` or ``Unit::DealDamage at
Unit.cpp:812``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from crashpilot.errors import ParseError
from crashpilot.models import CrashReport, Frame, Thread

NAME = "seed_request"

_CODES = {
    "C0000005": "ACCESS_VIOLATION",
    "C00000FD": "STACK_OVERFLOW",
    "C0000094": "INTEGER_DIVIDE_BY_ZERO",
    "C0000095": "INTEGER_OVERFLOW",
    "80000003": "BREAKPOINT",
    "C0000409": "STACK_BUFFER_OVERRUN",
    "C0000374": "HEAP_CORRUPTION",
    "C000001D": "ILLEGAL_INSTRUCTION",
}
_FILE_LINE = re.compile(r"(?P<file>[^\s:()]+\.(?:c|cc|cpp|cxx|h|hh|hpp|hxx|inl))(?:[:(]\s*(?:line\s*)?(?P<line>\d+)\)?)?", re.I)


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = ('"request_id"',)


def sniff(text: str) -> int:
    head = text.lstrip()[:4096]
    if head.startswith("{") and '"request_id"' in head and '"crash"' in head:
        return 95
    return 0


def read(text: str) -> dict[str, Any]:
    """The request object, checked for the fields crashpilot needs."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(f"request file is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("crash"), dict) or not data.get("request_id"):
        raise ParseError("request file lacks request_id or crash")
    return data


def location_frame(location: str) -> Frame | None:
    location = location.strip()
    if not location or location.lower() in ("unknown", "n/a", "none"):
        return None
    function = None
    m = re.match(r"^(?P<fn>[A-Za-z_~][\w:~<>,* ]*?)(?:\(.*?\))?(?:\s+(?:at|in)\s+(?P<rest>.+))?$", location)
    if m and not _FILE_LINE.fullmatch(location):
        function = m.group("fn").strip() or None
        location = m.group("rest") or ""
    fm = _FILE_LINE.search(location)
    file = fm.group("file") if fm else None
    line = int(fm.group("line")) if fm and fm.group("line") else None
    if not function and not file:
        return None
    return Frame(function=function, file=file, line=line, raw=location)


def parse(text: str) -> list[CrashReport]:
    data = read(text)
    crash = data["crash"]
    code = str(crash.get("exception_code") or "").strip().upper().removeprefix("0X") or None
    kind = _CODES.get(code or "", None) or (str(crash.get("exception_code")) if code else None)
    frame = location_frame(str(crash.get("crash_location") or ""))
    message = crash.get("error_message")
    return [
        CrashReport(
            format=NAME,
            crash_kind=kind,
            exception_code=code if code and re.fullmatch(r"[0-9A-F]{8}", code) else None,
            message=str(message) if message else None,
            crashing_thread=Thread(frames=(frame,) if frame else ()),
            extra={
                "request_id": str(data["request_id"]),
                "crash_id": crash.get("crash_id"),
                "request_type": data.get("request_type"),
                "priority": data.get("priority"),
            },
        )
    ]
