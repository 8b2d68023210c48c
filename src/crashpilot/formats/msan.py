"""MemorySanitizer reports (``WARNING: MemorySanitizer: use-of-uninitialized-value``).

The first stack is where the uninitialized value was used. Origin stacks ("Uninitialized value
was stored to memory at", "... was created by a heap allocation") go to
``extra["origin_stacks"]``; an interceptor line printed before the banner ("Uninitialized bytes
in __interceptor_pwrite at offset 12 inside [...]") goes to ``extra["uninitialized_bytes"]``.
"""

from __future__ import annotations

from typing import Any

from crashpilot.formats import sanitizer_common as sc
from crashpilot.models import CrashReport, Thread

NAME = "msan"

_ORIGIN_HEADERS = ("uninitialized value was", "memory was marked as uninitialized", "uninitialized value is")


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = ("WARNING: MemorySanitizer:",)


def sniff(text: str) -> int:
    return 85 if "WARNING: MemorySanitizer:" in text else 0


def parse(text: str) -> list[CrashReport]:
    return sc.parse_any(text)


def read_segment(seg: sc.Segment) -> CrashReport:
    rest = sc.banner_rest(seg.lines[0], "MemorySanitizer: ")
    kind = rest.split()[0].rstrip(":") if rest else "use-of-uninitialized-value"
    extra: dict[str, Any] = {}
    crashing: sc.Block | None = None
    for block in seg.blocks:
        low = block.header.lower()
        if low.startswith(_ORIGIN_HEADERS):
            extra.setdefault("origin_stacks", []).append(
                {"description": block.header, "frames": seg.frames_json(block)}
            )
        elif crashing is None:
            crashing = block
    message = rest
    for pre in map(sc.strip_pid, seg.pre_lines):
        if pre.startswith("Uninitialized bytes in "):
            extra["uninitialized_bytes"] = pre
            message = f"{rest}\n{pre}"
    frames = seg.frames(crashing) if crashing else []
    sc.finish_extra(seg, frames, extra)
    return CrashReport(
        format=NAME,
        crash_kind=kind,
        message=message,
        crashing_thread=Thread(None, None, tuple(frames)),
        extra=extra,
    )
