"""Fast searches for line-anchored patterns in long texts.

A ``^``-anchored ``re.M`` pattern has no literal prefix for the regex engine to skip to, so
``pattern.search(text)`` tries every character of a 50 KB log. When every match holds a known
literal (``"Crash reason:"``, ``"SourceFile"``), ``str.find`` locates the candidate lines and the
pattern is tried only at their starts: the same first match, found in a fraction of the time.
"""

from __future__ import annotations

import re


def line_search(
    pattern: re.Pattern[str], text: str, literal: str, pos: int = 0, endpos: int | None = None
) -> re.Match[str] | None:
    """``pattern.search(text, pos, endpos)`` for a pattern whose matches all start at a line start
    (``^`` under ``re.M``) and contain ``literal`` on their first line."""
    end = len(text) if endpos is None else min(endpos, len(text))
    i = text.find(literal, pos, end)
    while i >= 0:
        start = text.rfind("\n", 0, i) + 1
        if start >= pos:
            m = pattern.match(text, start, end)
            if m is not None:
                return m
        nl = text.find("\n", i, end)
        if nl < 0:
            return None
        i = text.find(literal, nl + 1, end)
    return None


def line_finditer(
    pattern: re.Pattern[str], text: str, literal: str, pos: int = 0, endpos: int | None = None
) -> list[re.Match[str]]:
    """``list(pattern.finditer(text, pos, endpos))`` under the same contract as ``line_search``
    (whose matches are never empty: they hold ``literal``)."""
    out: list[re.Match[str]] = []
    end = len(text) if endpos is None else min(endpos, len(text))
    while True:
        m = line_search(pattern, text, literal, pos, end)
        if m is None:
            return out
        out.append(m)
        pos = m.end()


def prefix_search(
    pattern: re.Pattern[str], text: str, prefix: str, pos: int = 0, endpos: int | None = None
) -> re.Match[str] | None:
    """``pattern.search(text, pos, endpos)`` for a pattern whose matches all start at a line start
    with ``prefix`` (``^#`` under ``re.M``): only lines that begin with ``prefix`` are tried, so a
    ``#`` inside a line (an indented sanitizer frame) costs nothing."""
    if not prefix or prefix[0] == "\n":
        raise ValueError("prefix must be non-empty text of one line")
    end = len(text) if endpos is None else min(endpos, len(text))
    if pos == 0 or text[pos - 1 : pos] == "\n":
        cand = pos
    else:
        nl = text.find("\n", pos, end)
        if nl < 0:
            return None
        cand = nl + 1
    while True:
        if text.startswith(prefix, cand, end):
            m = pattern.match(text, cand, end)
            if m is not None:
                return m
        nl = text.find("\n" + prefix, cand, end)
        if nl < 0:
            return None
        cand = nl + 1
