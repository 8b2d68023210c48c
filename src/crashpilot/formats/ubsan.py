"""UndefinedBehaviorSanitizer reports (``file:line:col: runtime error: <message>``).

With ``print_stacktrace=1`` a stack follows the line; without it the line's own location is the
crash location: a frame with file/line and no function, which becomes the first app frame.
``note:`` lines (often pointing into a system header) are kept in ``extra["notes"]``, never used
as the location. The crash kind is the UBSan check that fired, derived from the message.
"""

from __future__ import annotations

import re
from typing import Any

from crashpilot.formats import sanitizer_common as sc
from crashpilot.models import CrashReport, Frame, Thread

NAME = "ubsan"

_MARK = ": runtime error: "
_LOCATION = re.compile(r":\d+(?::\d+)?: runtime error: ")
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")
_NOISE = re.compile(r"0x[0-9a-fA-F]+|'[^']*'|-?\b\d+\b")

# (words in the message, the -fsanitize check that prints it), first match wins.
_CHECKS: tuple[tuple[str, str], ...] = (
    ("passed as argument", "nonnull-attribute"),
    ("returned from function declared to never return null", "returns-nonnull-attribute"),
    ("null pointer returned from function", "returns-nonnull-attribute"),
    ("unsigned integer overflow", "unsigned-integer-overflow"),
    ("signed integer overflow", "signed-integer-overflow"),
    ("negation of", "signed-integer-overflow"),
    ("division by zero", "integer-divide-by-zero"),
    ("division of", "signed-integer-overflow"),
    ("shift exponent", "shift-exponent"),
    ("left shift of", "shift-base"),
    ("out of bounds for type", "bounds"),
    ("misaligned address", "alignment"),
    ("with insufficient space for an object of type", "object-size"),
    ("null pointer of type", "null"),
    ("member access within null pointer", "null"),
    ("member call on null pointer", "null"),
    ("reference binding to null pointer", "null"),
    ("null pointer", "null"),
    ("applying non-zero offset", "pointer-overflow"),
    ("applying zero offset to null pointer", "pointer-overflow"),
    ("pointer index expression", "pointer-overflow"),
    ("addition of unsigned offset", "pointer-overflow"),
    ("subtraction of unsigned offset", "pointer-overflow"),
    ("which is not a valid value for type 'bool'", "bool"),
    ("which is not a valid value for type", "enum"),
    ("is outside the range of representable values", "float-cast-overflow"),
    ("implicit conversion", "implicit-conversion"),
    ("through pointer to incorrect function type", "function"),
    ("does not point to an object of type", "vptr"),
    ("which does not point to an object", "vptr"),
    ("variable length array bound", "vla-bound"),
    ("execution reached an unreachable program point", "unreachable"),
    ("reached the end of a value-returning function", "return"),
    ("passing zero to", "builtin"),
    ("assumption is violated", "alignment"),
    ("invalid ObjC cast", "objc-cast"),
)


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = (
    "SUMMARY: UndefinedBehaviorSanitizer",
    "ERROR: UndefinedBehaviorSanitizer:",
    ": runtime error: ",
)


def sniff(text: str) -> int:
    if "UndefinedBehaviorSanitizer" in text and (  # the shared word first: one scan when absent
        "SUMMARY: UndefinedBehaviorSanitizer" in text or "ERROR: UndefinedBehaviorSanitizer:" in text
    ):
        return 85
    if _MARK in text and _LOCATION.search(text[:65536]):
        return 75
    return 0


def parse(text: str) -> list[CrashReport]:
    return sc.parse_any(text)


def check_name(message: str) -> str:
    """The UBSan check behind a runtime-error message (``null pointer passed as ...`` -> ``nonnull-attribute``)."""
    for words, check in _CHECKS:
        if words in message:
            return check
    short = _NOISE.sub("", message.split(":", 1)[0].split(",", 1)[0])
    short = " ".join(short.split())
    return short or "undefined-behavior"


def _location(left: str) -> tuple[str | None, int | None]:
    """``/lib/http1.c:887:27`` (maybe after a log prefix) -> (``/lib/http1.c``, 887)."""
    dm = _DRIVE.search(left)
    token = left[dm.start() :] if dm else left.rsplit(None, 1)[-1] if left.strip() else ""
    path = token
    nums: list[str] = []
    for _ in range(2):
        head, sep, tail = path.rpartition(":")
        if sep and tail.isdigit() and head:
            nums.append(tail)
            path = head
        else:
            break
    if not path or path.startswith("<unknown"):
        return None, None
    return path, int(nums[-1]) if nums else None


def read_segment(seg: sc.Segment) -> CrashReport:
    first = seg.lines[0][:8192]
    extra: dict[str, Any] = {}
    location: Frame | None = None
    if _MARK in first:
        left, _, message = first.partition(_MARK)
        message = message.strip()
        path, line = _location(left)
        kind = check_name(message)
        if path:
            location = Frame(file=path, line=line, raw=first.strip())
    else:  # "==1==ERROR: UndefinedBehaviorSanitizer: SEGV on unknown address ..."
        message = sc.strip_pid(first).split("UndefinedBehaviorSanitizer: ", 1)[-1].strip()
        kind = message.split()[0] if message else "undefined-behavior"
    notes = [ln.strip() for ln in seg.lines[1:] if ": note: " in ln]
    if notes:
        extra["notes"] = notes
    frames = seg.frames(seg.blocks[0]) if seg.blocks else []
    if location is not None:
        extra["location"] = location.to_json()
    first_app = None
    signature = ""
    if not frames and location is not None:
        # No stack: the runtime-error line is the crash location and the first app frame.
        frames = [location]
        first_app = location.with_(in_app=True)
        name = re.split(r"[\\/]", location.file or "")[-1]
        signature = f"{kind} | {name}:{location.line}" if location.line else f"{kind} | {name}"
    sc.finish_extra(seg, frames, extra)
    return CrashReport(
        format=NAME,
        crash_kind=kind,
        message=message,
        crashing_thread=Thread(None, None, tuple(frames)),
        first_app_frame=first_app,
        signature=signature,
        extra=extra,
    )
