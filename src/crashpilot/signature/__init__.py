"""Signatures: the grouping key of a crash report.

crash kind + the first meaningful in-app frames (normalized), skipping irrelevant frames and
extending past prefix frames; falls back to module+offset, then to the message.

Normalizing a name and testing it against the frame lists are pure functions of the string, and
a crash storm repeats the same names thousands of times: both are memoized.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from crashpilot.models import CrashReport, Frame
from crashpilot.signature.normalize import module_basename, normalize_function
from crashpilot.signature.rules import matches

DEFAULT_DEPTH = 3
_CACHE = 1 << 16


@lru_cache(maxsize=_CACHE)
def _normalized(function: str) -> str | None:
    return normalize_function(function)


@lru_cache(maxsize=_CACHE)
def _list_match(name: str, key: str) -> bool:
    return matches(name, key)


def frame_key(frame: Frame) -> str | None:
    fn = _normalized(frame.function) if frame.function else None
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
        if not key or _list_match("irrelevant", key):
            continue
        if chosen and chosen[-1] == key:
            continue  # recursion
        chosen.append(key)
        if _list_match("prefix", key):
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
        loc = _normalized(report.assert_location.function)
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
