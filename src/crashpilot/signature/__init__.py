"""Signatures: the grouping key of a crash report.

crash kind + the first meaningful in-app frames (normalized), skipping irrelevant frames and
extending past prefix frames; falls back to module+offset, then to the message.

Normalizing a name and testing it against the frame lists are pure functions of the string, and
a crash storm repeats the same names thousands of times: both are memoized.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from crashpilot.models import CrashReport, Frame
from crashpilot.signature.normalize import module_basename, normalize_function, normalize_offset
from crashpilot.signature.rules import matches, on_lists_change

DEFAULT_DEPTH = 3
_depth = DEFAULT_DEPTH  # the depth in force in this process (setting grouping.depth)


def configure(depth: int) -> None:
    """Set the signature depth this process signs with (``grouping.depth``; called at start-up)."""
    global _depth
    if depth < 1:
        raise ValueError("grouping.depth must be at least 1")
    _depth = depth


def current_depth() -> int:
    return _depth
MAX_PREFIX = 6  # prefix frames a signature may hold beyond its depth
_CACHE = 1 << 16


@lru_cache(maxsize=_CACHE)
def _normalized(function: str) -> str | None:
    return normalize_function(function)


@lru_cache(maxsize=_CACHE)
def _list_match(name: str, key: str | None) -> bool:
    return matches(name, key)


def _offset_key(frame: Frame) -> str | None:
    mod = module_basename(frame.module)
    if mod and frame.module_offset:
        return f"{mod}+{normalize_offset(frame.module_offset)}"
    return None


def frame_key(frame: Frame) -> str | None:
    """The normalized function, else ``module+offset``, else None (nothing to group by)."""
    fn = _normalized(frame.function) if frame.function else None
    return fn or _offset_key(frame)


@lru_cache(maxsize=_CACHE)
def _runtime_module(module: str) -> bool:
    return matches("runtime_modules", module_basename(module))


def _runtime(frame: Frame) -> bool:
    """A frame of the OS, a runtime or a library (by module or function name)."""
    if frame.module and _runtime_module(frame.module):
        return True
    return bool(frame.function and _list_match("runtime_functions", frame.function.strip()))


def _candidates(frames: Sequence[Frame]) -> list[Frame]:
    """In-app frames; else frames outside runtimes (an unsymbolized app module); else all."""
    in_app = [f for f in frames if f.in_app]
    if in_app:
        return in_app
    own = [f for f in frames if not _runtime(f)]
    if any(frame_key(f) for f in own):
        return own
    return list(frames)


def _sentinel(frames: Sequence[Frame]) -> int | None:
    for i, frame in enumerate(frames):
        fn = _normalized(frame.function) if frame.function else None
        if fn and _list_match("sentinel", fn):
            return i
    return None


def _walk(pool: Sequence[Frame], depth: int) -> list[str]:
    chosen: list[str] = []
    need = depth
    for frame in pool:
        key = frame_key(frame)
        if not key or _list_match("irrelevant", key):
            continue
        if chosen and chosen[-1] == key:
            continue  # recursion
        chosen.append(key)
        if len(chosen) >= depth + MAX_PREFIX:
            break
        if _list_match("prefix", key):
            continue
        need -= 1
        if need <= 0:
            break
    return chosen


def signature_frames(frames: Iterable[Frame], depth: int = DEFAULT_DEPTH) -> list[str]:
    """The frame keys that make a signature.

    A sentinel frame drops everything above it (and itself too when it is also irrelevant);
    then the in-app frames (or, without any, the frames outside runtimes) are walked: irrelevant
    ones skipped, prefix ones kept without counting, until ``depth`` frames count.
    """
    frames = list(frames)
    start = _sentinel(frames)
    if start is not None:
        below = frames[start + 1 :]
        pool = _candidates(below)
        keys = _walk([frames[start], *pool], depth)
        if keys:
            return keys
    return _walk(_candidates(frames), depth)


def frame_keys(frames: Iterable[Frame], limit: int = 8) -> list[str]:
    """Up to ``limit`` keys of the frames a signature walks (no prefix/depth cut): fuzzy input."""
    frames = list(frames)
    start = _sentinel(frames)
    pool = _candidates(frames[start + 1 :] if start is not None else frames)
    out: list[str] = []
    for frame in pool:
        key = frame_key(frame)
        if key and not _list_match("irrelevant", key) and (not out or out[-1] != key):
            out.append(key)
            if len(out) >= limit:
                break
    return out


_MESSAGE_NOISE = re.compile(r"0x[0-9a-fA-F]+|\b\d+\b")


def kind_part(report: CrashReport) -> str:
    return (report.crash_kind or report.exception_code or "crash").strip()


def message_part(message: str | None) -> str | None:
    """The first line of a message without numbers and addresses (at most 120 characters)."""
    if not message or not message.strip():
        return None
    return _MESSAGE_NOISE.sub("N", message.strip().splitlines()[0])[:120]


def make_signature(report: CrashReport, depth: int | None = None) -> str:
    """``<crash kind> | <frame> | <frame> ...``: the grouping key before the fuzzy stage."""
    depth = max(depth if depth is not None else _depth, 1)
    keys = signature_frames(report.frames, depth)
    if report.assert_location and report.assert_location.function:
        loc = _normalized(report.assert_location.function)
        if loc and (not keys or keys[0] != loc):
            keys.insert(0, loc)
            keys = keys[:depth]
    kind = kind_part(report)
    msg = message_part(report.message)
    if not keys:
        where = _location_key(report.first_app_frame) or _fault_key(report)
        if where:
            keys = [where]
    if keys:
        # Without one symbolized frame, module offsets alone may be the same abort path for
        # different bugs (an abort handler, a debug break): the message tells them apart.
        if msg and all(_OFFSET_KEY.search(k) for k in keys) and not _restates_kind(msg, kind):
            keys.append(msg)
        return f"{kind} | {' | '.join(keys)}"
    if msg:
        return f"{kind} | {msg}"
    return f"{kind} | <no frames>"


_OFFSET_KEY = re.compile(r"\+(?:0x[0-9a-f]+|[0-9a-f]+:[0-9a-f]+)$")


def _restates_kind(msg: str, kind: str) -> bool:
    """A message that only names the exception (``EXCEPTION_ACCESS_VIOLATION_READ at N``)."""
    if _KIND_ONLY.match(msg) or kind.lower() in msg.lower():
        return True
    return not re.search(r"[a-z]{3,}", msg)  # no words: codes and numbers only


_KIND_ONLY = re.compile(r"^(?:EXCEPTION_|STATUS_|SIG)[A-Z_]+(?:\s+at\s+N)?\s*$")


def _location_key(frame: Frame | None) -> str | None:
    """``file.c:887`` for a place known only by file and line (UBSan without a stack)."""
    if frame is None or frame.function or not frame.file or frame.line is None:
        return None
    name = module_basename(frame.file)
    return f"{name}:{frame.line}" if name else None


def _fault_key(report: CrashReport) -> str | None:
    module = report.extra.get("fault_module") if report.extra else None
    offset = report.extra.get("fault_module_offset") if report.extra else None
    if isinstance(module, str) and isinstance(offset, str):
        return _offset_key(Frame(module=module, module_offset=offset))
    return None


def _clear_caches() -> None:
    _normalized.cache_clear()
    _list_match.cache_clear()
    _runtime_module.cache_clear()


on_lists_change(_clear_caches)
