"""Decide which frames are the project's own code."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

from crashpilot.formats.paths import map_to_repo
from crashpilot.models import Frame
from crashpilot.signature.normalize import module_basename
from crashpilot.signature.rules import matches


def is_runtime(frame: Frame) -> bool:
    """True when the frame belongs to the OS, a runtime, a library or a crash handler."""
    mod = module_basename(frame.module)
    if mod and matches("runtime_modules", mod):
        return True
    if frame.file:
        path = frame.file.replace("\\", "/")
        if matches("runtime_paths", path) or matches("runtime_paths", path.lower()):
            return True
    if frame.function and matches("runtime_functions", frame.function.strip()):
        return True
    return False


def heuristic_in_app(frame: Frame) -> bool:
    if is_runtime(frame):
        return False
    # A frame with nothing but an address tells us nothing about whose code it is.
    return bool(frame.function or frame.file)


def mark_in_app(
    frames: Sequence[Frame],
    repo: str | Path | None = None,
    in_app_paths: Sequence[str] = (),
) -> tuple[Frame, ...]:
    """Set ``in_app`` on every frame; with a repo, map files into it and use its in-app paths."""
    out = []
    for frame in frames:
        if repo is not None and frame.file:
            rel = map_to_repo(frame.file, repo)
            if rel is not None:
                ok = not in_app_paths or any(
                    rel.startswith(p.rstrip("/") + "/") or fnmatch.fnmatch(rel, p) for p in in_app_paths
                )
                out.append(frame.with_(file=rel, in_app=ok and not is_runtime(frame.with_(file=rel))))
                continue
            out.append(frame.with_(in_app=False))  # a file outside the repo is not the project's
            continue
        out.append(frame.with_(in_app=heuristic_in_app(frame)))
    return tuple(out)

