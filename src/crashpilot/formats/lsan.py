"""LeakSanitizer reports (``ERROR: LeakSanitizer: detected memory leaks``).

Each ``Direct leak`` / ``Indirect leak`` block is an allocation stack. The crashing thread is the
stack of the largest direct leak (LSan prints them largest first); every leak is in
``extra["leaks"]``, the ``Objects leaked above:`` list in ``extra["leaked_objects"]``.
"""

from __future__ import annotations

import re
from typing import Any

from crashpilot.formats import sanitizer_common as sc
from crashpilot.models import CrashReport, Thread

NAME = "lsan"

KIND = "memory-leak"
_LEAK = re.compile(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\) allocated from")
_OBJECT = re.compile(r"^(0x[0-9a-fA-F]+) \((\d+) bytes\)")
_TOTAL = re.compile(r"(\d+) byte\(s\) leaked in (\d+) allocation\(s\)")


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = ("ERROR: LeakSanitizer:",)


def sniff(text: str) -> int:
    return 85 if "ERROR: LeakSanitizer:" in text else 0


def parse(text: str) -> list[CrashReport]:
    return sc.parse_any(text)


def read_segment(seg: sc.Segment) -> CrashReport:
    extra: dict[str, Any] = {}
    leaks: list[dict[str, Any]] = []
    best: tuple[int, int] | None = None  # (bytes, index) of the largest direct leak
    stacks = []
    for block in seg.blocks:
        m = _LEAK.match(block.header)
        if not m:
            continue
        frames = seg.frames(block)
        kind, size = m.group(1).lower(), int(m.group(2))
        leak: dict[str, Any] = {
            "kind": kind,
            "bytes": size,
            "objects": int(m.group(3)),
            "frames": sc.frames_dicts(frames),
        }
        stacks.append(frames)
        leaks.append(leak)
        if kind == "direct" and (best is None or size > best[0]):
            best = (size, len(leaks) - 1)
    objects = []
    in_objects = False
    for line in seg.lines:
        s = line.strip()
        if s.startswith("Objects leaked above"):
            in_objects = True
            continue
        if in_objects:
            om = _OBJECT.match(s)
            if om:
                objects.append({"address": om.group(1).lower(), "bytes": int(om.group(2))})
            elif s:
                in_objects = False
    summary = seg.summary()
    message = None
    if leaks:
        pick = best[1] if best is not None else 0
        chosen = leaks[pick]
        frames = stacks[pick]
        message = f"{chosen['kind'].capitalize()} leak of {chosen['bytes']} byte(s) in {chosen['objects']} object(s)"
    else:
        frames = []
        message = "detected memory leaks"
    if summary:
        tm = _TOTAL.search(summary)
        if tm:
            extra["total_bytes"] = int(tm.group(1))
            extra["total_allocations"] = int(tm.group(2))
    extra["leaks"] = leaks
    if objects:
        extra["leaked_objects"] = objects
    sc.finish_extra(seg, frames, extra)
    return CrashReport(
        format=NAME,
        crash_kind=KIND,
        message=message,
        crashing_thread=Thread(None, None, tuple(frames)),
        extra=extra,
    )
