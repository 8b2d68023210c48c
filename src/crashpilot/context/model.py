"""What ANALYSE gathers, as frozen data: frames with their source, suspects, revision, similar groups."""

from __future__ import annotations

from dataclasses import dataclass

from crashpilot.context.spans import FunctionSpan
from crashpilot.git import Commit
from crashpilot.models import CrashReport, Frame

__all__ = ["Context", "FrameContext", "RevisionInfo", "SimilarGroup", "Suspect"]


@dataclass(frozen=True)
class Suspect:
    """A commit that last wrote lines shown for a frame (blame) or changed its function (log -L)."""

    sha: str
    author: str
    date: str  # ISO 8601 author date
    subject: str
    lines: int = 0  # lines shown that it last changed
    frames: tuple[int, ...] = ()  # indexes of the frames it touches
    crash_lines: tuple[int, ...] = ()  # indexes of the frames whose crash line it last changed
    in_history: bool = False  # seen in ``git log -L`` of an enclosing function


@dataclass(frozen=True)
class RevisionInfo:
    """The build revision the report names, and how the repository's HEAD relates to it."""

    named: str | None = None
    sha: str | None = None  # resolved in the repository (None: unknown there)
    head: str | None = None  # None: not a git repository, or no commits
    head_contains: bool | None = None  # HEAD is the build revision or descends from it
    commits_since: int | None = None  # commits in build..HEAD

    def describe(self) -> str:
        if self.head is None:
            return "not a git repository (or no commits yet): source read from the work tree"
        if not self.named:
            return f"the report names no build revision; source read at HEAD {self.head[:12]}"
        if self.sha is None:
            return "the build revision is not in this repository (not fetched?); source read at HEAD"
        if self.sha == self.head:
            return f"HEAD is the build revision {self.sha[:12]}"
        if self.head_contains:
            return (
                f"HEAD is {self.commits_since} commit(s) ahead of the build revision {self.sha[:12]};"
                " source read at the build revision"
            )
        return (
            f"HEAD does not contain the build revision {self.sha[:12]} (built from another branch?);"
            " source read at the build revision"
        )


@dataclass(frozen=True)
class SimilarGroup:
    """An earlier group whose stack shares normalized frames with this one."""

    group_id: str
    signature: str
    score: float  # shared / all distinct normalized frames of the two stacks (0..1)
    shared: tuple[str, ...]


@dataclass(frozen=True)
class FrameContext:
    """One in-app frame with the source around it."""

    index: int  # position in the crashing thread; -1 for an assertion's location
    frame: Frame
    path: str  # repo-relative
    line: int
    language: str | None  # "c", "cpp" or None (not C/C++: a plain window)
    function: FunctionSpan | None
    first_line: int  # number of the first line in ``lines``
    lines: tuple[str, ...]
    header: str | None = None  # the function's first line when ``lines`` starts after it
    source_rev: str | None = None  # commit the source was read at (None: the work tree)
    crash_line_sha: str | None = None  # commit that last changed the crash line
    history: tuple[Commit, ...] = ()  # git log -L of the function, newest first
    changed_since_build: tuple[Commit, ...] = ()  # commits to the file in build..HEAD
    name_matches: bool | None = None  # the function found agrees with the frame's function

    @property
    def last_line(self) -> int:
        return self.first_line + len(self.lines) - 1


@dataclass(frozen=True)
class Context:
    """Everything :func:`crashpilot.context.gather` found; ``notes`` say what it could not."""

    report: CrashReport
    frames: tuple[FrameContext, ...]
    revision: RevisionInfo
    suspects: tuple[Suspect, ...] = ()
    similar: tuple[SimilarGroup, ...] = ()
    notes: tuple[str, ...] = ()

    def to_markdown(self, max_chars: int = 12_000) -> str:
        """Compact Markdown for prompts and briefs, at most ``max_chars`` characters."""
        from crashpilot.context.markdown import render

        return render(self, max_chars)
