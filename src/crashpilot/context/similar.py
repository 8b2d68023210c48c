"""Earlier groups with similar stacks: ranked by the normalized frames they share."""

from __future__ import annotations

from collections.abc import Sequence

from crashpilot.context.model import SimilarGroup
from crashpilot.models import Frame
from crashpilot.signature.normalize import normalize_function

__all__ = ["SimilarCandidate", "frame_keys", "rank_similar"]

# (group id, signature, its stack as Frame objects or function names, top first)
SimilarCandidate = tuple[str, str, Sequence[Frame | str]]


def frame_keys(frames: Sequence[Frame | str], limit: int = 10) -> list[str]:
    """Distinct normalized function names of a stack's top frames (only in-app ones when any is marked)."""
    use_app = any(isinstance(f, Frame) and f.in_app for f in frames)
    keys: list[str] = []
    for f in frames:
        if isinstance(f, Frame):
            if use_app and not f.in_app:
                continue
            name = normalize_function(f.function)
        else:
            name = normalize_function(f)
        if name and name not in keys:
            keys.append(name)
            if len(keys) >= limit:
                break
    return keys


def rank_similar(
    frames: Sequence[Frame | str], candidates: Sequence[SimilarCandidate], *, top: int = 3, limit: int = 10
) -> list[SimilarGroup]:
    """The ``top`` candidates sharing most of ``frames``' normalized frames (Jaccard), best first.

    Candidates sharing nothing are left out; ties go to more shared frames, then the group id.
    """
    mine = frame_keys(frames, limit)
    if not mine:
        return []
    ranked: list[SimilarGroup] = []
    for group_id, signature, their_frames in candidates:
        theirs = set(frame_keys(their_frames, limit))
        shared = tuple(k for k in mine if k in theirs)
        if not shared:
            continue
        score = len(shared) / len(set(mine) | theirs)
        ranked.append(SimilarGroup(str(group_id), signature, score, shared))
    ranked.sort(key=lambda g: (-g.score, -len(g.shared), g.group_id))
    return ranked[:top]
