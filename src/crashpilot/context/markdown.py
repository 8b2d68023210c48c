"""Render a :class:`~crashpilot.context.model.Context` as compact Markdown for prompts and briefs.

Everything that comes from the crash text or the repository (function names, paths, messages,
source, commit subjects) sits inside code fences longer than any backtick run it holds, with
control characters removed, so it cannot close the fence or forge a heading. When the whole does
not fit ``max_chars``, the least useful parts shrink first: the source of the lower frames, then
notes and similar groups, then lower frames altogether; the crash itself always stays.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial

from crashpilot.context.model import Context, FrameContext

__all__ = ["fence", "render"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TICKS = re.compile(r"`+")
MAX_LINE = 240
STACK_FRAMES = 12
# Source radius around the crash line, richest first; None = every line gathered.
_RADII: tuple[int | None, ...] = (None, 12, 6, 2)


def _clean(text: str, limit: int = MAX_LINE) -> str:
    out = []
    for line in _CONTROL.sub("", text.replace("\r\n", "\n").replace("\t", "    ")).split("\n"):
        out.append(line if len(line) <= limit else line[: limit - 1] + "…")
    return "\n".join(out)


def fence(text: str, lang: str = "") -> str:
    """``text`` in a code fence no backtick run inside it can close."""
    body = _clean(text)
    longest = max((len(m) for m in _TICKS.findall(body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


def _crash(ctx: Context) -> str:
    r = ctx.report
    facts = [f"format: {r.format}"]
    for label, value in (
        ("kind", r.crash_kind),
        ("code", r.exception_code),
        ("message", (r.message or "")[:500]),
        ("signature", r.signature),
    ):
        if value:
            facts.append(f"{label}: {value}")
    return "## Crash\n" + fence("\n".join(facts), "text")


def _stack(ctx: Context) -> str:
    frames = ctx.report.frames
    if not frames:
        return ""
    rows = []
    for i, f in enumerate(frames[:STACK_FRAMES]):
        where = f"{f.file}:{f.line}" if f.file and f.line else (f.file or f.module or "")
        rows.append(
            f"#{i:<2} {'app' if f.in_app else '   '} {(f.function or f.address or '?')[:160]}  {where[:120]}"
        )
    if len(frames) > STACK_FRAMES:
        rows.append(f"... {len(frames) - STACK_FRAMES} more frame(s)")
    return "## Stack of the crashing thread\n" + fence("\n".join(rows), "text")


def _revision(ctx: Context) -> str:
    text = "## Build revision\n" + ctx.revision.describe() + "."
    if ctx.revision.named and ctx.revision.sha is None:
        text += "\n" + fence(f"named in the report: {ctx.revision.named[:200]}", "text")
    return text


def _numbered(fc: FrameContext, radius: int | None) -> str:
    first = fc.first_line
    lines = list(fc.lines)
    if radius is not None:
        lo = max(fc.first_line, fc.line - radius)
        hi = min(fc.last_line, fc.line + radius)
        lines = lines[lo - fc.first_line : hi - fc.first_line + 1]
        first = lo
    width = len(str(first + len(lines)))
    out = []
    start = fc.function.start if fc.function is not None else None
    if start is not None and first > start:  # keep the function's first line in view
        head = fc.lines[start - fc.first_line] if start >= fc.first_line else fc.header
        if head is not None:
            out += [f"  {start:>{width}} | {head}", f"  {'':>{width}} | ..."]
    for n, text in enumerate(lines, start=first):
        out.append(f"{'>' if n == fc.line else ' '} {n:>{width}} | {text}")
    return "\n".join(out)


def _frame(fc: FrameContext, first: bool, level: int) -> str:
    """Level 0..3: source within the radii; 4: facts only; 5: nothing."""
    if level >= len(_RADII) + 1:
        return ""
    label = "assertion location" if fc.index < 0 else f"frame #{fc.index}"
    facts = [f"{label}: {fc.frame.function or '?'}", f"at: {fc.path}:{fc.line}"]
    if fc.function is not None:
        extra = " (in a lambda)" if fc.function.in_lambda else ""
        facts.append(
            f"enclosing function: {fc.function.name}, lines {fc.function.start}-{fc.function.end}{extra}"
        )
        if fc.name_matches is False:
            facts.append("warning: the report names another function here (source differs from the build?)")
    else:
        facts.append(
            f"no enclosing function found: lines {fc.first_line}-{fc.last_line} around the crash line"
        )
    facts.append(f"source read at: {fc.source_rev[:12] if fc.source_rev else 'the work tree'}")
    if fc.crash_line_sha:
        facts.append(f"crash line last changed by: {fc.crash_line_sha[:12]}")
    for c in fc.history[:3]:
        facts.append(f"function history: {c.sha[:12]} {c.date[:10]} {c.subject[:100]}")
    for c in fc.changed_since_build[:3]:
        facts.append(f"file changed after the build: {c.sha[:12]} {c.date[:10]} {c.subject[:100]}")
    text = ("## Source of the in-app frames\n\n" if first else "") + f"### {label.capitalize()}\n"
    text += fence("\n".join(facts), "text")
    if level < len(_RADII):
        text += "\n" + fence(_numbered(fc, _RADII[level]), fc.language or "")
    return text


def _suspects(ctx: Context) -> str:
    if not ctx.suspects:
        return ""
    rows = []
    for s in ctx.suspects:
        why = [f"{s.lines} line(s) shown"] if s.lines else []
        if s.crash_lines:
            why.append("last changed the crash line of " + ", ".join(_frame_label(i) for i in s.crash_lines))
        if s.in_history:
            why.append("in the function's history")
        rows.append(f"{s.sha[:12]} {s.date[:10]} {s.author[:60]}: {s.subject[:120]}  [{'; '.join(why)}]")
    return "## Suspect commits (blame and log -L of the frames shown)\n" + fence("\n".join(rows), "text")


def _frame_label(index: int) -> str:
    return "the assertion location" if index < 0 else f"#{index}"


def _similar(ctx: Context) -> str:
    if not ctx.similar:
        return ""
    rows = [
        f"group {g.group_id} (score {g.score:.2f}): {g.signature[:200]}\n  shared: {', '.join(g.shared)[:300]}"
        for g in ctx.similar
    ]
    return "## Earlier groups with similar stacks\n" + fence("\n".join(rows), "text")


def _notes(ctx: Context) -> str:
    if not ctx.notes:
        return ""
    return "## Notes\n" + fence("\n".join(f"- {n}" for n in ctx.notes), "text")


def render(ctx: Context, max_chars: int = 12_000) -> str:
    """The context as Markdown of at most ``max_chars`` characters (see the module doc)."""
    # Each part renders at a level: 0 is richest; the last level gives "" (dropped).
    parts: list[tuple[Callable[[int], str], int]] = [
        (lambda lv: _crash(ctx) if lv == 0 else "", 1),
        (lambda lv: _stack(ctx) if lv == 0 else "", 1),
        (lambda lv: _revision(ctx) if lv == 0 else "", 1),
    ]
    first_frame = len(parts)
    for n, fc in enumerate(ctx.frames):
        parts.append((partial(_frame, fc, n == 0), len(_RADII) + 1))
    frame_ids = list(range(first_frame, len(parts)))
    parts += [
        (lambda lv: _suspects(ctx) if lv == 0 else "", 1),
        (lambda lv: _similar(ctx) if lv == 0 else "", 1),
        (lambda lv: _notes(ctx) if lv == 0 else "", 1),
    ]
    suspects, similar, notes = len(parts) - 3, len(parts) - 2, len(parts) - 1
    levels = [0] * len(parts)
    cache: dict[tuple[int, int], str] = {}

    def text_of(i: int) -> str:
        key = (i, levels[i])
        if key not in cache:
            cache[key] = parts[i][0](levels[i])
        return cache[key]

    def total() -> str:
        return "\n\n".join(t for t in (text_of(i) for i in range(len(parts))) if t) + "\n"

    # Shrink steps, least useful first.
    steps: list[tuple[int, int]] = []
    for level in range(1, len(_RADII)):  # lower frames' source to smaller radii, bottom up
        steps += [(i, level) for i in reversed(frame_ids)]
    steps += [(notes, 1), (similar, 1)]
    steps += [(i, len(_RADII)) for i in reversed(frame_ids[1:])]  # facts only
    steps += [(i, len(_RADII) + 1) for i in reversed(frame_ids[1:])]  # dropped
    if frame_ids:
        steps += [(frame_ids[0], len(_RADII)), (frame_ids[0], len(_RADII) + 1)]
    steps += [(suspects, 1), (1, 1), (2, 1)]
    text = total()
    for part, level in steps:
        if len(text) <= max_chars:
            return text
        if levels[part] < level:
            levels[part] = level
            text = total()
    if len(text) <= max_chars:
        return text
    return _hard_cut(text, max_chars)


def _hard_cut(text: str, max_chars: int) -> str:
    """Last resort for a tiny budget: cut, closing any open fence so the rest stays inert."""
    marker = "\n[context cut to fit]\n"
    cut = text[: max(0, max_chars - len(marker))]
    while True:
        open_fence = _open_fence(cut.split("\n"))
        result = cut + (f"\n{open_fence}" if open_fence else "") + marker
        if len(result) <= max_chars or not cut:
            return result[:max_chars]
        cut = cut[: len(cut) - (len(result) - max_chars)]


def _open_fence(lines: Sequence[str]) -> str | None:
    current: str | None = None
    for line in lines:
        m = re.match(r"^(`{3,})", line)
        if not m:
            continue
        if current is None:
            current = m.group(1)
        elif line.strip() == current:
            current = None
    return current
