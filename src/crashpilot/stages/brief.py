"""The triage brief: what a human needs to start on a crash group, as markdown.

Written for every group that no model works on (none configured, or the model abstained). Crash
text is untrusted: everything taken from a report goes inside code fences or is flattened to one
line, so a crafted player string cannot inject markdown links or HTML into the brief.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashpilot.errors import CrashpilotError
from crashpilot.formats.paths import map_to_repo

log = logging.getLogger(__name__)

WINDOW = 12  # source lines shown each side of a frame's line


@dataclass(frozen=True)
class SourceWindow:
    path: str  # repo-relative
    first_line: int
    lines: tuple[str, ...]
    marked: int  # the frame's line


def one_line(text: Any, limit: int = 200) -> str:
    """Untrusted text flattened to a single safe line (no markdown/HTML control characters)."""
    s = re.sub(r"\s+", " ", str(text or "")).strip()
    s = re.sub(r"[`<>\[\]\\|*_#]", "", s)
    return s[:limit]


def fenced(text: str, lang: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def source_window(repo: Path, file: str | None, line: int | None) -> SourceWindow | None:
    if not file or not line:
        return None
    rel = map_to_repo(file, repo)
    if rel is None:
        return None
    try:
        lines = (repo / rel).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    start = max(1, line - WINDOW)
    end = min(len(lines), line + WINDOW)
    return SourceWindow(rel, start, tuple(lines[start - 1 : end]), line)


def suspects(repo: Path, window: SourceWindow) -> list[str]:
    """Recent commits that touched the lines around the crash (``git log -L``)."""
    from crashpilot.git import Git

    try:
        commits = Git(repo).log_lines(
            window.path, window.first_line, window.first_line + len(window.lines) - 1, max_count=5
        )
    except CrashpilotError as exc:
        log.debug("no history for %s: %s", window.path, exc)
        return []
    return [
        f"{c.sha[:12]} {c.date[:10]} {one_line(c.author_name, 60)}: {one_line(c.subject, 120)}"
        for c in commits
    ]


def frame_text(frame: Mapping[str, Any]) -> str:
    where = frame.get("function") or (
        f"{frame.get('module')}+{frame.get('module_offset')}"
        if frame.get("module_offset")
        else frame.get("address")
    )
    loc = f"  {frame.get('file')}:{frame.get('line')}" if frame.get("file") else ""
    mark = "*" if frame.get("in_app") else " "
    return f"{mark} {where or '?'}{loc}"


def hypotheses(report: Mapping[str, Any]) -> list[str]:
    """Starting points a maintainer would check first, from the crash kind alone (not a diagnosis)."""
    kind = (report.get("crash_kind") or "").lower()
    code = (report.get("exception_code") or "").upper()
    out = []
    if "use-after-free" in kind or "use-after" in kind:
        out.append(
            "An object is used after it was freed: compare the free stack with the access stack (who owns it, who keeps a stale pointer)."
        )
    if "segv" in kind or "access_violation" in kind or code == "C0000005":
        out.append(
            "Invalid memory access: a null or stale pointer in the top in-app frame or its caller (check lookups that can return null, objects removed from the world/map)."
        )
    if "overflow" in kind or "underflow" in kind:
        out.append("Out-of-bounds access: check index and size computations around the access.")
    if "assert" in kind or "abort" in kind:
        out.append("An invariant failed: find which caller passed the value that broke the condition.")
    if "race" in kind:
        out.append("Two threads touch the same data without synchronisation: see both access stacks.")
    if "leak" in kind:
        out.append("Memory is allocated and never freed: the owner of the allocation forgot to release it.")
    if not out:
        out.append("Start at the first in-app frame and its caller.")
    return out


def render(group: Mapping[str, Any], report: Mapping[str, Any], repo: Path | None, reason: str) -> str:
    """The brief for ``group`` (a row from store.groups) and its newest parsed ``report``."""
    frames: Sequence[Mapping[str, Any]] = (report.get("crashing_thread") or {}).get("frames") or []
    first = report.get("first_app_frame") or {}
    parts = [
        f"# Triage brief: group {group['id']}",
        "",
        f"Why a human: {one_line(reason)}",
        "",
        "## Crash",
        "",
        f"- kind: {one_line(report.get('crash_kind') or '-')}"
        + (f" ({one_line(report.get('exception_code'))})" if report.get("exception_code") else ""),
        f"- signature: {one_line(group.get('signature'), 300)}",
        f"- seen: {group.get('count')} time(s), first {group.get('first_seen')}, last {group.get('last_seen')}",
        f"- revisions: {', '.join(one_line(r, 40) for r in (group.get('revisions') or [])) or 'unknown'}",
        f"- format: {one_line(report.get('format'))}",
    ]
    if report.get("message"):
        parts += ["", "Message:", "", fenced(str(report["message"])[:2000])]
    parts += [
        "",
        "## Stack (crashing thread, * = project code)",
        "",
        fenced("\n".join(frame_text(f) for f in frames[:40]) or "(no frames)"),
    ]
    if first:
        parts += [
            "",
            f"First project frame: {one_line(first.get('function') or first.get('module'))}"
            + (f" at {one_line(first.get('file'))}:{first.get('line')}" if first.get("file") else ""),
        ]
    window = source_window(repo, first.get("file"), first.get("line")) if repo else None
    if window is not None:
        numbered = "\n".join(
            f"{'>' if window.first_line + i == window.marked else ' '}{window.first_line + i:6d}  {text}"
            for i, text in enumerate(window.lines)
        )
        parts += ["", f"## Source: {window.path}", "", fenced(numbered, "cpp")]
        sus = suspects(repo, window) if repo else []
        parts += ["", "## Suspect commits (last changes to these lines)", ""]
        parts += [f"- {s}" for s in sus] or ["- none found"]
    extra = report.get("extra") or {}
    if extra.get("needs_symbols"):
        parts += [
            "",
            "Note: frames have no symbols. Build RelWithDebInfo and keep the .pdb next to the binary so crash logs name functions.",
        ]
    parts += ["", "## Hypotheses to check", ""] + [f"- {h}" for h in hypotheses(report)]
    return "\n".join(parts) + "\n"
