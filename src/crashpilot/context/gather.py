"""Gather the ANALYSE context of one crash report from the project's repository."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from crashpilot.context.model import Context, FrameContext, RevisionInfo, Suspect
from crashpilot.context.similar import SimilarCandidate, rank_similar
from crashpilot.context.spans import FunctionSpan, find_function, language_for
from crashpilot.errors import CommandFailed
from crashpilot.formats.paths import map_to_repo
from crashpilot.git import Commit, Git
from crashpilot.models import CrashReport, Frame
from crashpilot.signature.normalize import normalize_function

log = logging.getLogger(__name__)

__all__ = ["gather", "revision_info"]

_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{7,40}(?![0-9A-Za-z])")
_NULL_SHA = "0" * 40
MAX_SUSPECTS = 8


def revision_info(git: Git, named: str | None) -> RevisionInfo:
    """Resolve the report's build revision and relate HEAD to it (git errors give unknowns)."""
    try:
        head = git.head()
    except CommandFailed:
        return RevisionInfo(named=named)
    if not named or not named.strip():
        return RevisionInfo(named=None, head=head)
    sha: str | None = None
    for cand in dict.fromkeys(_HEX.findall(named)):
        try:
            sha = git.rev_parse(cand)
            break
        except CommandFailed:
            continue
    if sha is None:
        return RevisionInfo(named=named, head=head)
    contains = git.is_ancestor(sha, head)
    since: int | None = None
    if contains:
        since = int(git.run("rev-list", "--count", f"{sha}..{head}").stdout.strip() or 0)
    return RevisionInfo(named=named, sha=sha, head=head, head_contains=contains, commits_since=since)


@dataclass
class _Tally:
    author: str
    date: str
    subject: str
    lines: int = 0
    frames: set[int] = field(default_factory=set)
    crash: set[int] = field(default_factory=set)
    history: bool = False

    def suspect(self, sha: str) -> Suspect:
        return Suspect(
            sha=sha,
            author=self.author,
            date=self.date,
            subject=self.subject,
            lines=self.lines,
            frames=tuple(sorted(self.frames)),
            crash_lines=tuple(sorted(self.crash)),
            in_history=self.history,
        )


@dataclass
class _Source:
    text: str
    rev: str | None  # None: read from the work tree


class _Gatherer:
    def __init__(self, repo: Path, git: Git, rev: RevisionInfo) -> None:
        self.repo = repo
        self.git = git
        self.rev = rev
        self.notes: list[str] = []
        self.sources: dict[str, _Source | None] = {}
        self.tallies: dict[str, _Tally] = {}

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def source(self, path: str) -> _Source | None:
        """The file at the build revision, else at HEAD, else in the work tree."""
        if path in self.sources:
            return self.sources[path]
        found: _Source | None = None
        for rev in dict.fromkeys(r for r in (self.rev.sha, self.rev.head) if r):
            try:
                found = _Source(self.git.show(rev, path), rev)
                break
            except CommandFailed:
                continue
        if found is None:
            try:
                found = _Source((self.repo / path).read_text(encoding="utf-8", errors="replace"), None)
            except OSError as exc:
                self.note(f"cannot read {path}: {exc.strerror}")
        self.sources[path] = found
        return found

    def tally(self, sha: str, author: str, date: str, subject: str) -> _Tally:
        return self.tallies.setdefault(sha, _Tally(author, date, subject))

    def blame(self, fc: FrameContext) -> str | None:
        """Count the lines shown per commit; return the commit that last changed the crash line."""
        if fc.source_rev is None:
            return None
        try:
            lines = self.git.blame(fc.path, fc.first_line, fc.last_line, rev=fc.source_rev)
        except CommandFailed as exc:
            self.note(f"git blame failed for {fc.path}: {_first_line(str(exc))}")
            return None
        crash_sha: str | None = None
        for bl in lines:
            if bl.sha == _NULL_SHA:
                continue
            date = datetime.fromtimestamp(bl.author_time, UTC).isoformat()
            entry = self.tally(bl.sha, bl.author_name, date, bl.summary)
            entry.lines += 1
            entry.frames.add(fc.index)
            if bl.line == fc.line:
                crash_sha = bl.sha
                entry.crash.add(fc.index)
        return crash_sha

    def history(self, fc: FrameContext, max_count: int) -> tuple[Commit, ...]:
        """``git log -L`` of the enclosing function (or of the lines shown)."""
        if fc.source_rev is None or max_count < 1:
            return ()
        start, end = (fc.function.start, fc.function.end) if fc.function else (fc.first_line, fc.last_line)
        try:
            commits = self.git.log_lines(fc.path, start, end, rev=fc.source_rev, max_count=max_count)
        except CommandFailed as exc:
            self.note(f"git log -L failed for {fc.path}: {_first_line(str(exc))}")
            return ()
        for c in commits:
            entry = self.tally(c.sha, c.author_name, c.date, c.subject)
            entry.history = True
            entry.frames.add(fc.index)
        return tuple(commits)

    def changed_since(self, path: str) -> tuple[Commit, ...]:
        """Commits to ``path`` between the build revision and HEAD (already fixed?)."""
        rev = self.rev
        if rev.sha is None or rev.head is None or rev.sha == rev.head or not rev.head_contains:
            return ()
        try:
            return tuple(self.git.log(path, rev=f"{rev.sha}..{rev.head}", max_count=5))
        except CommandFailed:
            return ()


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0][:200] if stripped else ""


def _unscoped_parts(name: str | None) -> list[str]:
    norm = normalize_function(name)
    if not norm:
        return []
    return [p.replace("<T>", "") for p in norm.split("::")]


def names_agree(frame_function: str | None, span: FunctionSpan | None) -> bool | None:
    """Does the function found in the source match the frame's (as far as both name it)?"""
    if span is None:
        return None
    a, b = _unscoped_parts(frame_function), _unscoped_parts(span.name)
    if not a or not b:
        return None
    n = min(len(a), len(b))
    return a[-n:] == b[-n:]


def _pick_frames(report: CrashReport, repo: Path, max_frames: int) -> list[tuple[int, Frame, str]]:
    candidates: list[tuple[int, Frame]] = []
    first = report.first_app_frame
    if first is not None and first not in report.frames:
        candidates.append((-1, first))  # an assertion's location above the printed stack
    candidates += [(i, f) for i, f in enumerate(report.frames) if f.in_app]
    chosen: list[tuple[int, Frame, str]] = []
    seen: set[tuple[str, int]] = set()
    for index, frame in candidates:
        if len(chosen) >= max_frames:
            break
        path = map_to_repo(frame.file, repo)
        if path is None or frame.line is None or frame.line < 1 or (path, frame.line) in seen:
            continue  # outside the repo, no line, or recursion already shown
        seen.add((path, frame.line))
        chosen.append((index, frame, path))
    return chosen


def _frame_context(
    g: _Gatherer, index: int, frame: Frame, path: str, context_lines: int, max_function_lines: int
) -> FrameContext | None:
    src = g.source(path)
    if src is None:
        return None
    all_lines = src.text.splitlines()
    line = int(frame.line or 0)
    if line > len(all_lines):
        g.note(f"{path} has {len(all_lines)} lines but the report names line {line}")
        return None
    language = language_for(path)
    span = find_function(src.text, line, language) if language else None
    header: str | None = None
    if span is not None and span.end - span.start + 1 <= max_function_lines:
        start, end = span.start, span.end
    else:
        lo, hi = (span.start, span.end) if span is not None else (1, len(all_lines))
        start, end = max(lo, line - context_lines), min(hi, line + context_lines)
        if span is not None and start > span.start:
            header = all_lines[span.start - 1]
    return FrameContext(
        index=index,
        frame=frame,
        path=path,
        line=line,
        language=language,
        function=span,
        first_line=start,
        lines=tuple(all_lines[start - 1 : end]),
        header=header,
        source_rev=src.rev,
        name_matches=names_agree(frame.function, span),
    )


def gather(
    report: CrashReport,
    repo: Path,
    *,
    max_frames: int = 5,
    similar: Sequence[SimilarCandidate] = (),
    context_lines: int = 15,
    max_function_lines: int = 120,
    history_count: int = 5,
    git_timeout: float = 60.0,
) -> Context:
    """The ANALYSE context of ``report`` in the repository at ``repo`` (see the package doc).

    ``report`` should be finished against ``repo`` (in-app frames marked); frames whose file is
    not in the repository are skipped. Never raises for git trouble: it becomes a note.
    """
    repo = Path(repo)
    git = Git(repo, timeout=git_timeout)
    rev = revision_info(git, report.revision)
    g = _Gatherer(repo, git, rev)
    if rev.head is None:
        g.note("not a git repository (or no commits): no blame or history")
    elif rev.named and rev.sha is None:
        g.note("the build revision named in the report is not in the repository")
    frames: list[FrameContext] = []
    for index, frame, path in _pick_frames(report, repo, max_frames):
        fc = _frame_context(g, index, frame, path, context_lines, max_function_lines)
        if fc is None:
            continue
        fc = replace(
            fc,
            crash_line_sha=g.blame(fc),
            history=g.history(fc, history_count),
            changed_since_build=g.changed_since(path),
        )
        if fc.name_matches is False:
            g.note(f"frame #{fc.index}: the function at {path}:{fc.line} is not the one the report names")
        frames.append(fc)
    if not frames:
        g.note("no in-app frame with a file and line found in the repository")
    suspects = sorted(
        (t.suspect(sha) for sha, t in g.tallies.items()),
        key=lambda s: (not s.crash_lines, -_epoch(s.date), -s.lines, s.sha),
    )
    ranked = rank_similar(report.frames, similar) if similar else []
    log.debug("context: %d frames, %d suspects, %d similar", len(frames), len(suspects), len(ranked))
    return Context(report, tuple(frames), rev, tuple(suspects[:MAX_SUSPECTS]), tuple(ranked), tuple(g.notes))


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0
