"""ThreadSanitizer reports (``WARNING: ThreadSanitizer: <kind> (pid=N)``).

The first stack is the current access (the crashing thread); the second access ("Previous write
of size 4 ...", for a heap-use-after-free the free) goes to ``extra["other_access_stack"]``,
thread-creation stacks to ``extra["thread_creation_stacks"]``, mutex-creation stacks to
``extra["mutex_stacks"]``, the heap block's allocation stack to ``extra["alloc_stack"]``.
"""

from __future__ import annotations

import re
from typing import Any

from crashpilot.formats import sanitizer_common as sc
from crashpilot.models import CrashReport, Thread

NAME = "tsan"

_ACCESS = re.compile(
    r"^(?:Atomic )?(Read|Write) of size (\d+) at (0x[0-9a-fA-F]+) by (main thread|thread T\d+)"
)
_THREAD_NAME = re.compile(r"Thread T(\d+) '([^']*)'")


def _drop_paren_tail(text: str) -> str:
    text = text.rstrip()
    if text.endswith(")") and "(" in text:
        return text[: text.rfind("(")].rstrip()
    return text


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = ("WARNING: ThreadSanitizer:",)


def sniff(text: str) -> int:
    return 85 if "WARNING: ThreadSanitizer:" in text else 0


def parse(text: str) -> list[CrashReport]:
    return sc.parse_any(text)


def read_segment(seg: sc.Segment) -> CrashReport:
    rest = sc.banner_rest(seg.lines[0], "ThreadSanitizer: ")
    rest = _drop_paren_tail(rest)  # "(pid=79171)"
    kind = _drop_paren_tail(rest) or rest or "unknown"  # "lock-order-inversion (potential deadlock)"
    extra: dict[str, Any] = {}
    crashing: sc.Block | None = None
    header = ""
    for block in seg.blocks:
        h = block.header
        low = h.lower()
        if low.startswith("previous ") and "other_access_stack" not in extra:
            extra["other_access"] = h.rstrip(":")
            extra["other_access_stack"] = seg.frames_json(block)
        elif low.startswith("location is") and "allocated by" in low:
            extra["location"] = h.rstrip(":")
            extra["alloc_stack"] = seg.frames_json(block)
        elif low.startswith("thread t") and " created by " in low:
            extra.setdefault("thread_creation_stacks", []).append(
                {"thread": h.rstrip(":"), "frames": seg.frames_json(block)}
            )
        elif low.startswith("mutex ") and low.rstrip(":").endswith("created at"):
            extra.setdefault("mutex_stacks", []).append(
                {"mutex": h.rstrip(":"), "frames": seg.frames_json(block)}
            )
        elif crashing is None:
            crashing = block
            header = h
        else:
            extra.setdefault("other_stacks", []).append(
                {"header": h.rstrip(":"), "frames": seg.frames_json(block)}
            )
    if "location" not in extra:
        located = seg.line_starting("Location is ")
        if located is not None:
            extra["location"] = located.rstrip(":")
    thread_idx = sc.thread_index(header) if header else None
    thread_name = None
    am = _ACCESS.match(header)
    if am:
        extra["access"] = am.group(1).upper()
        extra["access_size"] = int(am.group(2))
        extra["address"] = am.group(3).lower()
        thread_name = "main thread" if am.group(4) == "main thread" else None
    for created in extra.get("thread_creation_stacks", []):
        nm = _THREAD_NAME.match(created["thread"])
        if nm and thread_idx is not None and nm.group(1) == str(thread_idx):
            thread_name = nm.group(2)
    frames = seg.frames(crashing) if crashing else []
    message = rest + (f"\n{header.rstrip(':')}" if header else "")
    sc.finish_extra(seg, frames, extra)
    return CrashReport(
        format=NAME,
        crash_kind=kind,
        message=message,
        crashing_thread=Thread(thread_idx, thread_name, tuple(frames)),
        extra=extra,
    )
