"""The agent's read-only tools: read a file range, search, list a folder, git log / blame / show.

Every answer is capped (lines, results, characters) and says when it was cut, so one call can
never flood the conversation. Searching goes through ``git grep`` with a timeout (fixed strings
by default, POSIX extended regexes on request): no Python regex runs on model input, so a
pathological pattern cannot hang the worker. Each function raises
:class:`~crashpilot.agent.workspace.ToolFailed` with a message meant for the model.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

from crashpilot.agent.workspace import (
    SECRET_FILE_GLOBS,
    ToolFailed,
    Workspace,
    refuse_secret_file,
    resolve_inside,
)
from crashpilot.errors import CommandFailed

__all__ = ["git_blame", "git_log", "git_show", "list_dir", "read_file", "search"]

READ_DEFAULT_LINES = 200
READ_MAX_LINES = 400
READ_MAX_CHARS = 24_000
MAX_LINE_CHARS = 400
READ_MAX_BYTES = 8 * 1024 * 1024
SEARCH_MAX_RESULTS = 80
SEARCH_MAX_PATTERN = 300
SEARCH_TIMEOUT = 20.0
LIST_MAX_ENTRIES = 300
LOG_MAX_COUNT = 50
BLAME_MAX_LINES = 200
SHOW_MAX_CHARS = 16_000

_REV = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./~^@{}:-]{0,99}$")


def _clip_line(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " [... line cut]"


def _clip_text(text: str, limit: int, what: str) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {what} cut at {limit} characters of {len(text)}]"


def read_file(ws: Workspace, path: str, start_line: int = 1, end_line: int | None = None) -> str:
    """Lines ``start_line..end_line`` (1-based, inclusive) of ``path``, numbered."""
    rel, target = resolve_inside(ws.root, path)
    refuse_secret_file(target.relative_to(ws.root).as_posix())
    if not target.exists():
        raise ToolFailed(f"{rel}: no such file (list_dir or search to find the right path)")
    if target.is_dir():
        raise ToolFailed(f"{rel}: is a folder; use list_dir")
    if target.stat().st_size > READ_MAX_BYTES:
        raise ToolFailed(f"{rel}: file too large to read ({target.stat().st_size} bytes); search in it")
    data = target.read_bytes()
    if b"\0" in data[:8192]:
        raise ToolFailed(f"{rel}: binary file, not shown")
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    total = len(lines)
    if start_line < 1:
        raise ToolFailed("start_line is 1-based and must be at least 1")
    if total == 0:
        return f"{rel}: empty file"
    if start_line > total:
        raise ToolFailed(f"{rel} has {total} lines; start_line {start_line} is past the end")
    last = start_line + READ_DEFAULT_LINES - 1 if end_line is None else end_line
    if last < start_line:
        raise ToolFailed("end_line must not be before start_line")
    cut = last - start_line + 1 > READ_MAX_LINES
    last = min(last, start_line + READ_MAX_LINES - 1, total)
    out: list[str] = []
    used = 0
    for n in range(start_line, last + 1):
        row = f"{n:6}| {_clip_line(lines[n - 1].rstrip(chr(13)))}"
        if used + len(row) > READ_MAX_CHARS:
            last, cut = n - 1, True
            break
        out.append(row)
        used += len(row) + 1
    head = f"{rel} lines {start_line}-{last} of {total} (the 'N| ' prefix is not part of the file)"
    tail = f"\n[... more lines follow: read from line {last + 1}]" if cut or last < total else ""
    return head + "\n" + "\n".join(out) + tail


def _pathspec(path_glob: str | None) -> list[str]:
    if path_glob is None or not path_glob.strip():
        return []
    glob = path_glob.strip()
    if glob.startswith(("/", "~", ":")) or ".." in glob.split("/") or "\0" in glob or "\\" in glob:
        raise ToolFailed(f"{glob}: path_glob must be a repository-relative glob such as 'src/**/*.cpp'")
    if "/" not in glob:
        glob = "**/" + glob
    return [f":(glob){glob}"]


def search(
    ws: Workspace,
    pattern: str,
    path_glob: str | None = None,
    *,
    regex: bool = False,
    ignore_case: bool = False,
) -> str:
    """Lines matching ``pattern`` in tracked and untracked (not ignored) files: ``path:line: text``."""
    if not pattern:
        raise ToolFailed("the search pattern is empty")
    if len(pattern) > SEARCH_MAX_PATTERN or "\n" in pattern or "\0" in pattern:
        raise ToolFailed(f"the pattern must be one line of at most {SEARCH_MAX_PATTERN} characters")
    args = ["grep", "-n", "-I", "--untracked", "--no-color", "--full-name"]
    args += ["-E" if regex else "-F"] + (["-i"] if ignore_case else [])
    excludes = [f":(exclude,glob)**/{g}" for g in SECRET_FILE_GLOBS]
    args += ["-e", pattern, "--", *(_pathspec(path_glob) or ["."]), *excludes]
    try:
        res = ws.git.run(*args, check=False, timeout=SEARCH_TIMEOUT)
    except CommandFailed as exc:
        raise ToolFailed(f"search could not run: {exc}") from exc
    if res.timed_out:
        raise ToolFailed(f"search timed out after {SEARCH_TIMEOUT:g}s; use a narrower pattern or path_glob")
    if res.returncode == 1 and not res.stdout.strip():
        return f"no matches for {pattern!r}" + (f" in {path_glob}" if path_glob else "")
    if res.returncode not in (0, 1):
        raise ToolFailed(
            f"search failed: {res.stderr.strip()[:500] or 'git grep exit ' + str(res.returncode)}"
        )
    hits = [line for line in res.stdout.split("\n") if line]
    shown = [_clip_line(h) for h in hits[:SEARCH_MAX_RESULTS]]
    more = len(hits) - len(shown)
    note = f"\n[... {more} more matches not shown: narrow the pattern or path_glob]" if more > 0 else ""
    if res.truncated and more <= 0:
        note = "\n[... more matches not shown: narrow the pattern or path_glob]"
    return f"{len(hits)}{'+' if res.truncated else ''} match(es)\n" + "\n".join(shown) + note


def list_dir(ws: Workspace, path: str = ".") -> str:
    """The entries of a folder: sub-folders end in ``/``, symlinks in ``@``."""
    rel, target = resolve_inside(ws.root, path, allow_root=True)
    if not target.exists():
        raise ToolFailed(f"{rel}: no such folder")
    if not target.is_dir():
        raise ToolFailed(f"{rel}: is a file; use read_file")
    entries: list[str] = []
    with os.scandir(target) as it:
        for entry in it:
            if entry.name == ".git":
                continue
            mark = "@" if entry.is_symlink() else "/" if entry.is_dir() else ""
            entries.append(entry.name + mark)
    entries.sort(key=lambda e: (not e.endswith("/"), e))
    shown = entries[:LIST_MAX_ENTRIES]
    more = f"\n[... {len(entries) - len(shown)} more entries]" if len(entries) > len(shown) else ""
    return f"{rel}/ ({len(entries)} entries)\n" + "\n".join(shown) + more


def _git_failed(what: str, exc: CommandFailed) -> ToolFailed:
    detail = exc.output.strip().splitlines()
    return ToolFailed(f"{what} failed: {detail[-1][:300] if detail else 'git error'}")


def git_log(ws: Workspace, path: str | None = None, max_count: int = 10) -> str:
    """The newest commits (of ``path`` when given): ``sha date author: subject``."""
    rel = resolve_inside(ws.root, path)[0] if path else None
    count = max(1, min(int(max_count), LOG_MAX_COUNT))
    try:
        commits = ws.git.log(rel, max_count=count)
    except CommandFailed as exc:
        raise _git_failed("git log", exc) from exc
    if not commits:
        return "no commits" + (f" touch {rel}" if rel else "")
    rows = [f"{c.sha[:12]} {c.date[:10]} {c.author_name[:40]}: {c.subject[:200]}" for c in commits]
    return "\n".join(rows)


def git_blame(ws: Workspace, path: str, start_line: int, end_line: int) -> str:
    """Who last changed lines ``start_line..end_line`` of ``path`` (committed state)."""
    rel, _ = resolve_inside(ws.root, path)
    refuse_secret_file(rel)
    if start_line < 1 or end_line < start_line:
        raise ToolFailed("give 1 <= start_line <= end_line")
    if end_line - start_line + 1 > BLAME_MAX_LINES:
        raise ToolFailed(f"blame at most {BLAME_MAX_LINES} lines per call")
    try:
        lines = ws.git.blame(rel, start_line, end_line)
    except CommandFailed as exc:
        raise _git_failed("git blame", exc) from exc
    rows = []
    for b in lines:
        day = datetime.fromtimestamp(b.author_time, UTC).date().isoformat()
        rows.append(f"{b.line:6}| {b.sha[:10]} {day} {b.author_name[:24]:<24}| {_clip_line(b.text)}")
    return "\n".join(rows) if rows else "no lines blamed"


def git_show(ws: Workspace, rev: str, path: str | None = None) -> str:
    """A commit with its patch, or (with ``path``) a file's content at ``rev``; capped."""
    if not isinstance(rev, str) or not _REV.match(rev):
        raise ToolFailed(f"{rev!r}: not a revision name (a sha, branch, tag, HEAD~2 ...)")
    if ":" in rev:
        raise ToolFailed(f"{rev!r}: give the file as path, not as rev:path")
    rel = resolve_inside(ws.root, path)[0] if path else None
    if rel is not None:
        refuse_secret_file(rel)
    try:
        text = ws.git.show(rev, rel)
    except CommandFailed as exc:
        raise _git_failed("git show", exc) from exc
    return _clip_text(text, SHOW_MAX_CHARS, "output")
