"""The pull request a reviewer reads, and the commit message, from plain facts.

Everything that comes from a crash (summary, signature, frames) or from the model (root cause,
explanation) is untrusted: it is shown only inside code spans or code fences longer than any
backtick run it holds, with control and bidirectional-override characters removed, so it cannot
add headings, links, images, HTML or ``@user`` mentions to the pull request. A redaction pass
removes the configured secrets and anything shaped like a token from the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from crashpilot.git import NumStat
from crashpilot.log import RedactFilter

__all__ = [
    "BodyFacts",
    "Check",
    "Evidence",
    "LEVEL_WORDS",
    "code",
    "commit_message",
    "fence",
    "pr_title",
    "render_pr_body",
]

GITHUB_BODY_LIMIT = 65_536  # characters GitHub accepts in a pull request body
MAX_FRAMES = 10
MAX_LINE = 200
MAX_PROSE = 6_000
MAX_FILES = 50
SUBJECT_LIMIT = 72

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_TICKS = re.compile(r"`+")
_FIELD = re.compile(r"\{(\w+)\}")
MAX_DIFF = 20_000

LEVEL_WORDS = {
    "reproduced-and-fixed": "the reproducer crashed on the base build and did not crash on the fixed build in any run",
    "tests-pass": "the tests pass on the fixed build; the crash itself was not reproduced",
    "builds-only": "the fixed build compiles; nothing else could be checked",
}


@dataclass(frozen=True)
class Evidence:
    """One verification step: ``name`` (build, tests, reproducer ...), ``passed``, a short ``detail``."""

    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Check:
    """One command run on one build: ``side`` (base build / fixed build), ``name`` (build, tests,
    reproducer), ``state`` (ok, FAILED, CRASHED, no crash, not configured ...), ``summary`` (untrusted)."""

    side: str
    name: str
    state: str
    summary: str = ""


@dataclass(frozen=True)
class BodyFacts:
    """What a pull request says. Strings marked untrusted are fenced when rendered."""

    group_id: int | str
    summary: str  # untrusted: e.g. "SIGSEGV in Group::RemoveMember"
    occurrences: int
    signature: str  # untrusted
    frames: Sequence[str] = ()  # untrusted: top frames, one line each, crashing frame first
    root_cause: str = ""  # untrusted (model)
    change: str = ""  # untrusted (model): what the change does and why
    diff_stats: Sequence[NumStat] = ()
    verification_level: str = "builds-only"  # reproduced-and-fixed | tests-pass | builds-only
    evidence: Sequence[Evidence] = ()
    model: str | None = None
    cost_usd: float | None = None
    crashpilot_version: str = ""
    crash_kind: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    revisions: Sequence[str] = field(default=())
    checks: Sequence[Check] = ()  # build / tests / reproducer on the base and on the fix
    diff: str = ""  # untrusted: the change as a unified diff (shown fenced, capped)
    fault_location: str = ""  # untrusted (model)
    change_kind: str = ""  # e.g. null-check, bounds, lifetime (model)
    confidence: float | None = None  # the model's confidence in the fix, 0..1
    tokens: tuple[int, int] | None = None  # model input / output tokens of the run
    review_hint: str = ""  # trusted: how to approve / reject (local pull requests)


def _clean(text: str, limit: int) -> str:
    text = _UNSAFE.sub("", text.replace("\r\n", "\n").replace("\t", "    "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: str, limit: int = MAX_LINE) -> str:
    """``text`` as one inline code span that nothing inside it can close (newlines become spaces)."""
    body = _clean(" ".join(text.split("\n")), limit) or " "
    longest = max((len(m) for m in _TICKS.findall(body)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or body.startswith(" ") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def fence(text: str, lang: str = "text", limit: int = MAX_PROSE) -> str:
    """``text`` in a fenced code block no backtick run inside it can close."""
    lines = [_clean(line, MAX_LINE * 2) for line in _clean(text, limit).split("\n")]
    body = "\n".join(lines)
    longest = max((len(m) for m in _TICKS.findall(body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


def _cost(cost: float | None) -> str:
    if cost is None:
        return "unknown"
    return f"${cost:.2f}" if cost >= 0.01 else f"${cost:.4f}"


def _evidence(facts: BodyFacts) -> list[str]:
    words = LEVEL_WORDS.get(facts.verification_level)
    out = [
        f"Verification level: **{code(facts.verification_level, 40)}**" + (f" ({words})." if words else ""),
        "",
    ]
    for item in facts.evidence:
        mark = "passed" if item.passed else "FAILED"
        line = f"- {code(item.name, 40)}: {mark}"
        out.append(line + (f" — {code(item.detail)}" if item.detail else ""))
    for check in facts.checks:
        line = f"- {_one_line(check.side, 40)}: {_one_line(check.name, 40)}: {_one_line(check.state, 40)}"
        out.append(line + (f" — {code(check.summary, 300)}" if check.summary else ""))
    if not facts.evidence and not facts.checks:
        out.append("- no verification evidence was recorded")
    return out


def _diff(facts: BodyFacts) -> list[str]:
    if not facts.diff_stats:
        return ["(no diff statistics recorded)"]
    added = sum(s.added or 0 for s in facts.diff_stats)
    deleted = sum(s.deleted or 0 for s in facts.diff_stats)
    out = [f"{len(facts.diff_stats)} file(s) changed, +{added} −{deleted}", ""]
    for s in facts.diff_stats[:MAX_FILES]:
        counts = "binary" if s.added is None or s.deleted is None else f"+{s.added} −{s.deleted}"
        renamed = f" (from {code(s.old_path)})" if s.old_path else ""
        out.append(f"- {code(s.path)}{renamed}: {counts}")
    if len(facts.diff_stats) > MAX_FILES:
        out.append(f"- … and {len(facts.diff_stats) - MAX_FILES} more")
    return out


def render_pr_body(facts: BodyFacts, *, secrets: Sequence[str] = ()) -> str:
    """The Markdown body of the pull request for ``facts``, fenced, redacted and size-capped."""
    seen = ""
    if facts.first_seen or facts.last_seen:
        seen = (
            f" (first seen {code(facts.first_seen or '?', 40)}, last seen {code(facts.last_seen or '?', 40)})"
        )
    crash = [
        "## Crash",
        "",
        f"- Summary: {code(facts.summary)}",
        f"- Occurrences: **{int(facts.occurrences)}**{seen}",
        f"- Signature: {code(facts.signature, 400)}",
        f"- crashpilot group: {code(str(facts.group_id), 40)}",
    ]
    if facts.crash_kind:
        crash.append(f"- Kind: {code(facts.crash_kind, 80)}")
    if facts.revisions:
        crash.append("- Seen in builds: " + ", ".join(code(r, 60) for r in list(facts.revisions)[:10]))
    frames = list(facts.frames)[:MAX_FRAMES]
    stack = ["## Stack (top frames)", "", fence("\n".join(frames) or "(no frames)")]
    if len(facts.frames) > MAX_FRAMES:
        stack.append(f"({len(facts.frames) - MAX_FRAMES} more frames not shown)")
    model = code(facts.model, 80) if facts.model else "an unknown model"
    version = f" {code(facts.crashpilot_version, 40)}" if facts.crashpilot_version else ""
    root = "## Root cause\n\n" + fence(facts.root_cause or "(not stated)")
    if facts.fault_location:
        root += "\n\nFault location:\n\n" + fence(facts.fault_location, limit=500)
    change = "## The change and why\n\n"
    if facts.change_kind or facts.confidence is not None:
        kind = code(facts.change_kind, 40) if facts.change_kind else "unstated"
        conf = f", model confidence {facts.confidence:.2f}" if facts.confidence is not None else ""
        change += f"Change kind: {kind}{conf}.\n\n"
    change += fence(facts.change or "(not stated)") + "\n\n" + "\n".join(_diff(facts))
    if facts.diff:
        change += "\n\n" + fence(facts.diff, "diff", limit=MAX_DIFF)
    usage = ""
    if facts.tokens is not None:
        usage = f" It used {int(facts.tokens[0])} input and {int(facts.tokens[1])} output tokens."
    review = "\n\n" + facts.review_hint if facts.review_hint else ""
    parts = [
        "\n".join(crash),
        "\n".join(stack),
        root,
        change,
        "## Verification\n\n" + "\n".join(_evidence(facts)),
        "## Disclosure\n\n"
        f"This change was generated by crashpilot{version}, an automated tool, using the AI model "
        f"{model} (model cost: {_cost(facts.cost_usd)}). It was not written by a person.{usage}\n\n"
        "**Review before merging.** A human maintainer must read and test this change; crashpilot "
        "never merges a pull request by itself." + review,
    ]
    text = "\n\n".join(parts) + "\n"
    text = RedactFilter(secrets).redact(text)
    if len(text) > GITHUB_BODY_LIMIT - 100:
        text = text[: GITHUB_BODY_LIMIT - 200] + "\n\n(body truncated)\n"
    return text


def _one_line(text: str, limit: int) -> str:
    line = " ".join(_clean(text, 10 * limit).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def pr_title(facts: BodyFacts, *, secrets: Sequence[str] = ()) -> str:
    """A one-line title, ``Fix crash: <summary>``, the summary as a code span (no mention, no markup)."""
    return RedactFilter(secrets).redact("Fix crash: " + code(_one_line(facts.summary, 100)))


def commit_message(
    facts: BodyFacts,
    *,
    template: str = "fix: {summary}",
    area: str = "",
    secrets: Sequence[str] = (),
) -> str:
    """A commit message naming the crash and the root cause, its subject from ``template``.

    ``template`` may use ``{summary}``, ``{area}``, ``{group}`` and ``{signature}`` (e.g. the
    AzerothCore/TrinityCore style ``fix({area}): {summary}``); an unknown field is left as typed.
    """
    values = {
        "summary": _one_line(facts.summary, SUBJECT_LIMIT),
        "area": _one_line(area, 40),
        "group": str(facts.group_id),
        "signature": _one_line(facts.signature, SUBJECT_LIMIT),
    }
    if not values["area"]:
        template = template.replace("({area})", "")  # "fix({area}): x" without an area is "fix: x"
    subject = _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    subject = _one_line(subject, SUBJECT_LIMIT)
    root = _clean(facts.root_cause, 2000).strip() or "(not stated)"
    model = facts.model or "an unknown model"
    tool = " ".join(p for p in ("crashpilot", facts.crashpilot_version) if p)
    lines = [
        subject,
        "",
        f"Crash: {_one_line(facts.signature, 400)}",
        f"Occurrences: {int(facts.occurrences)}",
        "",
        f"Root cause: {root}",
        "",
        f"Generated by {tool} with {_one_line(model, 80)}; review before merging.",
        f"Crashpilot-Group: {facts.group_id}",
    ]
    return RedactFilter(secrets).redact("\n".join(lines) + "\n")
