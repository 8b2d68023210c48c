"""Crash-text formats: one parser module per format, ``sniff()`` picks, ``parse()`` reads.

``parse_text`` is the single entry point: decode, pick the parser, parse, then mark in-app
frames, choose the first app frame and compute the signature.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from crashpilot.errors import ParseError
from crashpilot.formats._prescan import prescan_for
from crashpilot.formats.inapp import mark_in_app
from crashpilot.formats.text import clean, decode
from crashpilot.models import CrashReport, Thread
from crashpilot.protocols import Parser
from crashpilot.signature import make_signature

log = logging.getLogger(__name__)

# Built-in parser modules, in tie-break order (the first wins when two sniff equally sure).
BUILTIN: tuple[str, ...] = (
    "crashpilot.formats.seed_request",
    "crashpilot.formats.wheaty",
    "crashpilot.formats.cdb",
    "crashpilot.formats.stackwalk",
    "crashpilot.formats.asan",
    "crashpilot.formats.lsan",
    "crashpilot.formats.tsan",
    "crashpilot.formats.msan",
    "crashpilot.formats.ubsan",
    "crashpilot.formats.gdb",
    "crashpilot.formats.assertion",
    "crashpilot.formats.glibc_backtrace",
    "crashpilot.formats.macos_crash",
    "crashpilot.formats.vs_callstack",
    "crashpilot.formats.crashdetect",
)


@cache
def parsers() -> tuple[Parser, ...]:
    """Built-in parsers plus those registered under the ``crashpilot.parsers`` entry point."""
    found: list[Parser] = [importlib.import_module(name) for name in BUILTIN]
    for ep in entry_points(group="crashpilot.parsers"):
        try:
            found.append(ep.load())
        except Exception:  # a broken plugin must not break parsing
            log.exception("could not load parser plugin %s", ep.name)
    return tuple(found)


def rank(text: str) -> list[tuple[int, Parser]]:
    """Parsers that claim ``text``, surest first (ties: the earlier parser first).

    One pre-scan finds the parsers' marker literals; only the sniffers whose markers occur
    (and those that declare none) are called: the others would answer 0.
    """
    scored = []
    for order, parser in prescan_for(parsers()).candidates(text):
        try:
            score = int(parser.sniff(text))
        except Exception:
            log.exception("sniff of %s failed", parser.NAME)
            score = 0
        if score > 0:
            scored.append((score, -order, parser))
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [(s, p) for s, _, p in scored]


def unrecognised(text: str, why: str) -> CrashReport:
    first = " / ".join(line.strip() for line in text.strip().splitlines()[:3])[:200]
    return CrashReport(format="other", error=f"{why}: {first!r}" if first else why, signature="")


def parse_text(
    text: str,
    repo: str | Path | None = None,
    in_app_paths: Sequence[str] = (),
) -> list[CrashReport]:
    """Every crash report in ``text``, finished (in-app, first app frame, signature).

    Never raises for bad input: unrecognised text gives one ``format="other"`` report with
    ``error`` set.
    """
    text = clean(text)
    if not text.strip():
        return [unrecognised(text, "empty input")]
    errors = []
    for _, parser in rank(text):
        try:
            reports = parser.parse(text)
        except ParseError as exc:
            errors.append(f"{parser.NAME}: {exc}")
            continue
        except RecursionError as exc:  # defensive: a parser bug must not crash intake
            errors.append(f"{parser.NAME}: {exc!r}")
            continue
        if reports:
            return [finish(r, repo, in_app_paths) for r in reports]
    why = "; ".join(errors) if errors else "no known crash format recognised"
    return [unrecognised(text, why)]


def parse_bytes(data: bytes, repo: str | Path | None = None, in_app_paths: Sequence[str] = ()) -> list[CrashReport]:
    return parse_text(decode(data), repo, in_app_paths)


def finish(report: CrashReport, repo: str | Path | None = None, in_app_paths: Sequence[str] = ()) -> CrashReport:
    """Mark in-app frames, pick the first app frame, compute the signature."""
    frames = mark_in_app(report.crashing_thread.frames, repo, in_app_paths)
    thread = Thread(report.crashing_thread.index, report.crashing_thread.name, frames)
    first = report.first_app_frame
    if first is None:
        if report.assert_location is not None:
            first = report.assert_location.with_(in_app=True)
        else:
            first = next((f for f in frames if f.in_app), None)
    report = report.with_(crashing_thread=thread, first_app_frame=first)
    if not report.signature:
        report = report.with_(signature=make_signature(report))
    return report
