"""AddressSanitizer reports (``==PID==ERROR: AddressSanitizer: <kind> ...``).

The first stack after the banner is the faulting access (the crashing thread); the "freed by" and
"previously allocated by" stacks go to ``extra["free_stack"]`` / ``extra["alloc_stack"]``.
"""

from __future__ import annotations

import re
from typing import Any

from crashpilot.formats import sanitizer_common as sc
from crashpilot.models import CrashReport, Thread

NAME = "asan"

_BANNER_TEXT = "AddressSanitizer: "  # also the tail of "HWAddressSanitizer: "
_ACCESS = re.compile(r"\b(READ|WRITE) of size (\d+) at (0x[0-9a-fA-F]+) thread (T\d+)(?: \(([^)]*)\))?")
_SIGNAL_ACCESS = re.compile(r"The signal is caused by a (READ|WRITE|UNKNOWN) memory access")
_ADDRESS = re.compile(r"\bon (?:unknown )?address (0x[0-9a-fA-F]+)")
_PC_THREAD = re.compile(r"\bT(\d+)\)?:?\s*$")
_KIND_WORD = re.compile(r"[A-Za-z][\w-]*")

# First words of a banner that are not themselves the kind (ASan's own SUMMARY names these).
_PHRASES = (
    ("attempting double-free", "double-free"),
    ("attempting free on address which was not malloc()-ed", "bad-free"),
    ("attempting to call malloc_usable_size()", "bad-malloc_usable_size"),
    ("requested allocation size", "allocation-size-too-big"),
    ("allocator is out of memory", "out-of-memory"),
    ("out of memory", "out-of-memory"),
    ("allocation-size-too-big", "allocation-size-too-big"),
)


# Literals one of which is in every text sniff() claims ("\n": at a line start); see _prescan.
MARKERS: tuple[str, ...] = ("AddressSanitizer",)


def sniff(text: str) -> int:
    if "AddressSanitizer" not in text:  # both checks below need it: one scan when absent
        return 0
    if "AddressSanitizer:" in text and (
        "ERROR: AddressSanitizer:" in text
        or "WARNING: AddressSanitizer:" in text
        or "ERROR: HWAddressSanitizer:" in text
    ):
        return 80
    if "AddressSanitizer" in text[:65536] and "#0 0x" in text[:65536]:
        return 40
    return 0


def parse(text: str) -> list[CrashReport]:
    return sc.parse_any(text)


def kind_from(banner_rest: str, summary: str | None) -> str:
    """The error kind: from ``SUMMARY: AddressSanitizer: <kind>`` when present, else the banner."""
    if summary:
        rest = summary.split("Sanitizer: ", 1)[-1]
        m = _KIND_WORD.match(rest)
        if m and not rest[:1].isdigit():
            return m.group(0)
    low = banner_rest.lower()
    for phrase, kind in _PHRASES:
        if low.startswith(phrase):
            return kind
    m = _KIND_WORD.match(banner_rest)
    return m.group(0).rstrip(":") if m else "unknown-crash"


def read_segment(seg: sc.Segment) -> CrashReport:
    rest = sc.banner_rest(seg.lines[0], _BANNER_TEXT)
    kind = kind_from(rest, seg.summary())
    extra: dict[str, Any] = {}
    message = rest
    thread_idx: int | None = None
    thread_name: str | None = None
    m = _PC_THREAD.search(rest)
    if m:
        thread_idx = int(m.group(1))
    am = _ADDRESS.search(rest)
    if am:
        extra["address"] = am.group(1).lower()
    for line in seg.lines[1:40]:
        s = sc.strip_pid(line)
        acc = _ACCESS.search(s)
        if acc:
            extra["access"] = acc.group(1)
            extra["access_size"] = int(acc.group(2))
            thread_idx = int(acc.group(4)[1:])
            thread_name = acc.group(5)
            message = f"{rest}\n{s}"
            break
        sig = _SIGNAL_ACCESS.search(s)
        if sig:
            extra["access"] = sig.group(1)
            message = f"{rest}\n{s}"
        elif s.startswith("Hint: "):
            extra["hint"] = s[6:]
    crashing: list[sc.Block] = []
    for block in seg.blocks:
        h = block.header.lower()
        if h.startswith("freed by thread"):
            extra.setdefault("free_stack", seg.frames_json(block))
        elif "allocated by thread" in h:
            extra.setdefault("alloc_stack", seg.frames_json(block))
        elif " created by " in h and h.startswith("thread t"):
            extra.setdefault("thread_creation_stacks", []).append(
                {"thread": block.header.rstrip(":"), "frames": seg.frames_json(block)}
            )
        elif "is located in stack of thread" in h:
            extra.setdefault("stack_object_frame", seg.frames_json(block))
        elif not crashing:
            crashing.append(block)
    for line in seg.lines:
        if " is located " not in line:  # (s below is a piece of line)
            continue
        s = sc.strip_pid(line)
        if " is located " in s and ("region" in s or "global variable" in s or "stack of thread" in s):
            extra.setdefault("location", s)
    pre = [p for p in seg.pre_lines if not p.startswith("=")]
    if pre:
        extra["pre_lines"] = pre
    frames = seg.frames(crashing[0]) if crashing else []
    sc.finish_extra(seg, frames, extra)
    return CrashReport(
        format=NAME,
        crash_kind=kind,
        message=message,
        crashing_thread=Thread(thread_idx, thread_name, tuple(frames)),
        extra=extra,
    )
