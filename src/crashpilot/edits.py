"""Exact search/replace edits, the only way the built-in agent changes source files.

An edit names a file, a block of text copied from it and the text to put in its place; no line
numbers. The search text must occur exactly once; otherwise the edit is refused with a message
the model can act on (the closest lines when nothing matched, the matching line numbers when
several did). The path goes through the patch policy (symlinks resolved, nothing outside the
root), the edit's own diff is checked against the policy's limits, and only then is the file
written (atomically). Files with CRLF line endings keep them.
"""

from __future__ import annotations

import difflib
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crashpilot.errors import CrashpilotError, PolicyViolation
from crashpilot.policy import Policy

log = logging.getLogger(__name__)

__all__ = ["Edit", "EditRefused", "EditResult", "apply_edit", "apply_edits"]

MAX_FILE_BYTES = 4 * 1024 * 1024
HINT_LINES = 12


class EditRefused(CrashpilotError):
    """An edit could not be applied as given (not found, ambiguous, no change, unreadable file)."""


@dataclass(frozen=True)
class Edit:
    path: str
    search: str
    replace: str


@dataclass(frozen=True)
class EditResult:
    path: str  # repo-relative, normalized
    created: bool
    line: int  # 1-based line where the replaced text starts
    added: int
    deleted: int
    diff: str  # unified diff of this edit (a/ b/ prefixes)


def _occurrences(text: str, needle: str) -> list[int]:
    found: list[int] = []
    start = text.find(needle)
    while start != -1:
        found.append(start)
        start = text.find(needle, start + 1)
    return found


def _closest(text_lines: list[str], search: str) -> str:
    """The window of the file that looks most like ``search``, numbered, for a hint."""
    wanted = search.split("\n")
    if wanted and wanted[-1] == "":
        wanted.pop()
    if not wanted or not text_lines:
        return ""
    anchor = next((w.strip() for w in wanted if w.strip()), "")
    scored = []
    for i, line in enumerate(text_lines):
        matcher = difflib.SequenceMatcher(None, line.strip(), anchor, autojunk=False)
        if matcher.real_quick_ratio() > 0.4 and matcher.quick_ratio() > 0.4:
            scored.append((matcher.ratio(), i))
    scored.sort(reverse=True)
    best_ratio, best_start = 0.0, -1
    target = "\n".join(wanted)
    for _, i in scored[:8]:
        start = max(0, i - next((k for k, w in enumerate(wanted) if w.strip()), 0))
        window = "\n".join(text_lines[start : start + len(wanted)])
        ratio = difflib.SequenceMatcher(None, window, target, autojunk=False).ratio()
        if ratio > best_ratio:
            best_ratio, best_start = ratio, start
    if best_start < 0 or best_ratio < 0.5:
        return ""
    shown = text_lines[best_start : best_start + min(len(wanted), HINT_LINES) + 2]
    return "\n".join(f"{best_start + n + 1:6}| {line}" for n, line in enumerate(shown))


def _read(target: Path, rel: str) -> str:
    data = target.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise EditRefused(f"{rel}: file too large to edit ({len(data)} bytes)")
    if b"\0" in data:
        raise EditRefused(f"{rel}: binary file, not edited")
    return data.decode("utf-8", errors="surrogateescape")


def _write(target: Path, text: str) -> None:
    data = text.encode("utf-8", errors="surrogateescape")
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".crashpilot-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _keep_lines(text: str) -> list[str]:
    """Lines split on "\\n" only (a form feed in C source is not a line break), ends kept."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    return lines + ([parts[-1]] if parts[-1] else [])


def _unified(old: str, new: str, fromfile: str, tofile: str) -> str:
    out = []
    lines = difflib.unified_diff(_keep_lines(old), _keep_lines(new), fromfile=fromfile, tofile=tofile)
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def apply_edit(root: str | Path, path: str, search: str, replace: str, policy: Policy) -> EditResult:
    """Replace the one occurrence of ``search`` in ``root/path`` by ``replace``.

    An empty ``search`` creates ``path`` with ``replace`` as its content (refused when the file
    exists). Raises :class:`PolicyViolation` when the path or the change breaks the policy and
    :class:`EditRefused` when the edit cannot be applied as given. Nothing is written then.
    """
    base = Path(root).resolve()
    rel = policy.check_path(path, root=base)
    target = (base / rel).resolve()
    if not target.is_relative_to(base):  # check_path already refused this; belt and braces
        raise PolicyViolation(f"{rel}: outside the repository")
    created = False
    if not target.exists():
        if search.strip():
            raise EditRefused(f"{rel}: no such file; to create a file give an empty search text")
        old_text, new_text, created, start_line = "", replace, True, 1
        crlf = False
    else:
        if target.is_dir():
            raise EditRefused(f"{rel}: is a folder, not a file")
        raw = _read(target, rel)
        crlf = "\r\n" in raw and raw.count("\r\n") == raw.count("\n")
        old_text = raw.replace("\r\n", "\n") if crlf else raw
        if not search:
            raise EditRefused(f"{rel}: the search text is empty; quote the exact lines to change")
        needle = search.replace("\r\n", "\n") if crlf else search
        repl = replace.replace("\r\n", "\n") if crlf else replace
        hits = _occurrences(old_text, needle)
        if not hits:
            hint = _closest(old_text.split("\n"), needle)
            msg = f"{rel}: search text not found (it must match the file exactly, whitespace included)"
            raise EditRefused(msg + (f"; the closest lines are:\n{hint}" if hint else ""))
        if len(hits) > 1:
            where = ", ".join(str(old_text.count("\n", 0, h) + 1) for h in hits[:10])
            raise EditRefused(
                f"{rel}: search text is ambiguous, it occurs {len(hits)} times (lines {where}); "
                "include more context so it matches exactly once"
            )
        if needle == repl:
            raise EditRefused(f"{rel}: the replacement is identical to the search text; nothing to change")
        at = hits[0]
        start_line = old_text.count("\n", 0, at) + 1
        new_text = old_text[:at] + repl + old_text[at + len(needle) :]
    diff = _unified(old_text, new_text, "/dev/null" if created else f"a/{rel}", f"b/{rel}")
    summary = policy.check_diff(diff)
    _write(target, new_text.replace("\n", "\r\n") if crlf else new_text)
    added = sum(f.added for f in summary.files)
    deleted = sum(f.deleted for f in summary.files)
    log.debug("edited %s at line %d (+%d -%d)", rel, start_line, added, deleted)
    return EditResult(rel, created, start_line, added, deleted, diff)


def apply_edits(root: str | Path, edits: Sequence[Edit], policy: Policy) -> list[EditResult]:
    """Apply several edits in order, all or nothing: on a refusal every file is restored."""
    base = Path(root).resolve()
    saved: dict[Path, bytes | None] = {}
    results: list[EditResult] = []
    try:
        for edit in edits:
            try:
                target = (base / policy.check_path(edit.path, root=base)).resolve()
            except PolicyViolation:
                target = None
            if target is not None and target not in saved:
                saved[target] = target.read_bytes() if target.is_file() else None
            results.append(apply_edit(base, edit.path, edit.search, edit.replace, policy))
    except BaseException:
        for target, content in saved.items():
            if content is None:
                target.unlink(missing_ok=True)
            else:
                target.write_bytes(content)
        raise
    return results
