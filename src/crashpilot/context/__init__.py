"""ANALYSE context: what a senior engineer gathers before reasoning about a crash.

For each in-app frame (up to ``max_frames``) :func:`gather` reads the source at the build
revision when the repository has it (else HEAD, else the work tree) and finds the enclosing
function with tree-sitter: the whole function when short, a window around the crash line inside
it when long, ±N lines when the file is not C/C++ or no function holds the line. Then ``git
blame`` of the lines shown and ``git log -L`` of the function give suspect commits; commits to
the file after the build say whether it may be fixed already. The build revision is resolved
(in the repository? is HEAD ahead of it?), and earlier groups whose stacks share normalized
frames are ranked (:func:`rank_similar`).

Crash text is untrusted: :meth:`Context.to_markdown` keeps every piece of it inside code fences
it cannot close, drops control characters and caps the total size. Git or parser trouble never
aborts the gathering; it becomes one of the context's ``notes``.

    spans.py     the enclosing function of a line (tree-sitter)
    gather.py    gather(), revision_info()
    similar.py   rank_similar()
    model.py     Context, FrameContext, Suspect, RevisionInfo, SimilarGroup
    markdown.py  Context.to_markdown()
"""

from __future__ import annotations

from crashpilot.context.gather import gather, revision_info
from crashpilot.context.model import Context, FrameContext, RevisionInfo, SimilarGroup, Suspect
from crashpilot.context.similar import SimilarCandidate, rank_similar
from crashpilot.context.spans import FunctionSpan, find_function, language_for

__all__ = [
    "Context",
    "FrameContext",
    "FunctionSpan",
    "RevisionInfo",
    "SimilarCandidate",
    "SimilarGroup",
    "Suspect",
    "find_function",
    "gather",
    "language_for",
    "rank_similar",
    "revision_info",
]
