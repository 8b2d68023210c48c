"""One pass over a crash text that tells which sniffers can possibly claim it.

Each built-in parser module declares ``MARKERS``: literals of which at least one occurs in every
text its ``sniff()`` scores above 0 (a marker that starts with ``"\\n"`` must begin a line; the
first line counts). A module whose sniff() reads only the first ``HEAD`` characters says so with
``MARKERS_WITHIN = HEAD``; without it, markers may be anywhere. One Aho-Corasick scan of the first
``SCAN`` characters finds every marker at once (only unbounded markers are also looked for after
them, in a long text), so a sniffer whose markers are all absent is not called: its answer would
be 0. Markers only rule sniffers out; the sniffers
still decide, so the ranking is the same as calling every sniffer. A parser without ``MARKERS``
(a third-party plugin) is always sniffed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import cache

import ahocorasick_rs

from crashpilot.protocols import Parser

log = logging.getLogger(__name__)

SCAN = 65536  # characters the one pass reads; longer texts are searched further only for unbounded markers


class PreScan:
    """Which of a set of parsers may claim a text, found in one scan of the text."""

    def __init__(self, parsers: Sequence[Parser]) -> None:
        self.parsers = tuple(parsers)
        literals: dict[str, int] = {}
        # per parser: the indices of its markers, or None (no MARKERS: always sniffed)
        self._needs: list[frozenset[int] | None] = []
        unbounded: set[int] = set()  # markers that may lie past SCAN
        for parser in self.parsers:
            markers = _markers(parser)
            if markers is None:
                self._needs.append(None)
                continue
            ids = frozenset(literals.setdefault(m, len(literals)) for m in markers)
            self._needs.append(ids)
            within = getattr(parser, "MARKERS_WITHIN", None)
            if not (isinstance(within, int) and 0 < within <= SCAN):
                unbounded |= ids
        self._literals = tuple(literals)
        self._unbounded = tuple(sorted(unbounded))
        # Bytes automaton: scanning UTF-8 bytes is faster than scanning a str, and a literal occurs in
        # a text exactly when its UTF-8 form occurs in the text's UTF-8 form (UTF-8 is self-synchronizing).
        encoded = [m.encode("utf-8") for m in self._literals]
        self._automaton = ahocorasick_rs.BytesAhoCorasick(encoded) if encoded else None

    def found(self, text: str) -> frozenset[int]:
        """Indices of the markers that occur in ``text``."""
        if self._automaton is None:
            return frozenset()
        head = ("\n" + text[:SCAN]).encode("utf-8", "surrogatepass")  # a lone surrogate stays 3 bytes
        hits = self._automaton.find_matches_as_indexes(head, overlapping=True)
        seen = {i for i, _, _ in hits}
        if len(text) > SCAN:
            for i in self._unbounded:
                if i not in seen:
                    m = self._literals[i]
                    if text.find(m, max(0, SCAN - len(m) + 1)) >= 0:
                        seen.add(i)
        return frozenset(seen)

    def candidates(self, text: str) -> list[tuple[int, Parser]]:
        """(tie-break order, parser) for every parser whose sniff may score ``text`` above 0."""
        seen = self.found(text)
        return [
            (order, parser)
            for order, (parser, needs) in enumerate(zip(self.parsers, self._needs, strict=True))
            if needs is None or not needs.isdisjoint(seen)
        ]


def _markers(parser: Parser) -> tuple[str, ...] | None:
    """The parser's markers, or None when it declares none it can be trusted with (always sniffed)."""
    markers: object = getattr(parser, "MARKERS", None)
    if markers is None:
        return None
    if isinstance(markers, str) or not isinstance(markers, Iterable):
        log.warning("parser %s: MARKERS is not a sequence of strings; it is always sniffed", parser.NAME)
        return None
    out = tuple(markers)
    if not out or not all(isinstance(m, str) and m.strip("\n") for m in out):
        log.warning("parser %s: MARKERS needs non-empty strings; it is always sniffed", parser.NAME)
        return None
    return out


@cache
def prescan_for(parsers: tuple[Parser, ...]) -> PreScan:
    return PreScan(parsers)
