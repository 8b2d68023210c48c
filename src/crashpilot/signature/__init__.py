"""Signatures: the grouping key of a crash report.

crash kind + the first meaningful in-app frames (normalized), skipping irrelevant frames and
extending past prefix frames; falls back to module+offset, then to the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from crashpilot.models import CrashReport, Frame
from crashpilot.signature.normalize import module_basename, normalize_function
from crashpilot.signature.rules import matches

DEFAULT_DEPTH = 3


def frame_key(frame: Frame) -> str | None:
    fn = normalize_function(frame.function)
    if fn:
        return fn
    mod = module_basename(frame.module)
    if mod and frame.module_offset:
        return f"{mod}+{frame.module_offset.lower()}"
    return None


def signature_frames(frames: Iterable[Frame], depth: int = DEFAULT_DEPTH) -> list[str]:
    """The frame keys that make a signature."""
    frames = list(frames)
    chosen: list[str] = []
    in_app = [f for f in frames if f.in_app] or [f for f in frames if f.function] or frames
    need = depth
    for frame in in_app:
        key = frame_key(frame)
        if not key or matches("irrelevant", key):
            continue
        if chosen and chosen[-1] == key:
            continue  # recursion
        chosen.append(key)
        if matches("prefix", key):
            continue
        need -= 1
        if need <= 0:
            break
    return chosen


_MESSAGE_NOISE = re.compile(r"0x[0-9a-fA-F]+|\b\d+\b")


def kind_part(report: CrashReport) -> str:
    return (report.crash_kind or report.exception_code or "crash").strip()


def make_signature(report: CrashReport, depth: int = DEFAULT_DEPTH) -> str:
    keys = signature_frames(report.frames, depth)
    if report.assert_location and report.assert_location.function:
        loc = normalize_function(report.assert_location.function)
        if loc and (not keys or keys[0] != loc):
            keys.insert(0, loc)
            keys = keys[: max(depth, 1)]
    kind = kind_part(report)
    if keys:
        return f"{kind} | {' | '.join(keys)}"
    if report.message:
        msg = _MESSAGE_NOISE.sub("N", report.message.strip().splitlines()[0])[:120]
        return f"{kind} | {msg}"
    return f"{kind} | <no frames>"
