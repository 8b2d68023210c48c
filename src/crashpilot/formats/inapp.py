"""Decide which frames are the project's own code.

The decisions are pure functions of a frame's strings and the (versioned, cached) frame lists,
and a crash storm repeats the same strings thousands of times, so they are memoized per string.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from crashpilot.formats.frames import replace_frame
from crashpilot.formats.paths import map_to_repo
from crashpilot.models import Frame
from crashpilot.signature.normalize import module_basename
from crashpilot.signature.rules import matches, on_lists_change

_CACHE = 1 << 16  # distinct strings kept per decision; enough for a large project's stacks


@lru_cache(maxsize=_CACHE)
def _runtime_module(module: str) -> bool:
    mod = module_basename(module)
    return bool(mod and matches("runtime_modules", mod))


@lru_cache(maxsize=_CACHE)
def _runtime_path(file: str) -> bool:
    path = file.replace("\\", "/")
    return matches("runtime_paths", path) or matches("runtime_paths", path.lower())


@lru_cache(maxsize=_CACHE)
def _runtime_function(function: str) -> bool:
    return matches("runtime_functions", function.strip())


def _clear_caches() -> None:
    for memo in (_runtime_module, _runtime_path, _runtime_function):
        memo.cache_clear()


on_lists_change(_clear_caches)  # a project's extra lists change the decisions


def is_runtime(frame: Frame) -> bool:
    """True when the frame belongs to the OS, a runtime, a library or a crash handler."""
    if frame.module and _runtime_module(frame.module):
        return True
    if frame.file and _runtime_path(frame.file):
        return True
    return bool(frame.function and _runtime_function(frame.function))


def heuristic_in_app(frame: Frame) -> bool:
    if is_runtime(frame):
        return False
    # A frame with nothing but an address tells us nothing about whose code it is.
    return bool(frame.function or frame.file)


@lru_cache(maxsize=_CACHE)
def _under(rel: str, in_app_paths: tuple[str, ...]) -> bool:
    return not in_app_paths or any(
        rel.startswith(p.rstrip("/") + "/") or fnmatch.fnmatch(rel, p) for p in in_app_paths
    )


def _marked(frame: Frame, in_app: bool) -> Frame:
    return frame if frame.in_app is in_app else replace_frame(frame, in_app=in_app)


def mark_in_app(
    frames: Sequence[Frame],
    repo: str | Path | None = None,
    in_app_paths: Sequence[str] = (),
) -> tuple[Frame, ...]:
    """Set ``in_app`` on every frame; with a repo, map files into it and use its in-app paths."""
    out = []
    paths = tuple(in_app_paths)
    for frame in frames:
        if repo is not None and frame.file:
            rel = map_to_repo(frame.file, repo)
            if rel is not None:
                moved = frame.with_(file=rel)
                out.append(_marked(moved, _under(rel, paths) and not is_runtime(moved)))
                continue
            out.append(_marked(frame, False))  # a file outside the repo is not the project's
            continue
        out.append(_marked(frame, heuristic_in_app(frame)))
    return tuple(out)
