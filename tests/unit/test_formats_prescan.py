"""The one-pass pre-scan: markers rule out only sniffers that would answer 0, so rank() is unchanged."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crashpilot.formats import parsers, rank
from crashpilot.formats._prescan import PreScan
from crashpilot.formats.text import clean, decode
from crashpilot.protocols import Parser

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "crashes"
TEXTS = [clean(decode(p.read_bytes())) for p in sorted(DATA.rglob("*.txt"))] + [
    clean(decode(p.read_bytes())) for p in sorted(CORPUS.glob("*.txt"))
]
BUILTIN = [p for p in parsers() if p.__name__.startswith("crashpilot.formats.")]
LINES = sorted({line for text in TEXTS for line in text.split("\n") if line.strip()})


def has_marker(parser: Parser, text: str) -> bool:
    return any(m in "\n" + text for m in parser.MARKERS)  # type: ignore[attr-defined]


def brute_rank(text: str) -> list[tuple[int, str]]:
    scored = [(int(p.sniff(text)), -i, p.NAME) for i, p in enumerate(parsers())]
    return [(s, n) for s, _, n in sorted((t for t in scored if t[0] > 0), reverse=True)]


def without_markers(parser: Parser, text: str) -> str:
    """``text`` with every marker of ``parser`` broken by a character inserted into it."""
    for _ in range(10):
        present = [m for m in parser.MARKERS if m in "\n" + text]  # type: ignore[attr-defined]
        if not present:
            return text
        for m in present:
            text = ("\n" + text).replace(m, m[:1] + "\x7f" + m[1:])[1:]
    raise AssertionError("markers kept coming back")


def test_every_builtin_declares_markers() -> None:
    assert len(BUILTIN) == 15
    for parser in BUILTIN:
        markers = parser.MARKERS  # type: ignore[attr-defined]
        assert markers and all(isinstance(m, str) and m.strip() for m in markers), parser.NAME


def test_samples_hold_the_markers_of_the_parsers_that_claim_them() -> None:
    assert len(TEXTS) >= 40
    claimed = 0
    for text in TEXTS:
        for parser in BUILTIN:
            if parser.sniff(text) > 0:
                claimed += 1
                assert has_marker(parser, text), (parser.NAME, text[:200])
    assert claimed >= len(TEXTS)


def test_a_sample_without_a_parsers_markers_is_not_claimed_by_it() -> None:
    checked = 0
    for text in TEXTS:
        for parser in BUILTIN:
            if parser.sniff(text) > 0:
                checked += 1
                assert parser.sniff(without_markers(parser, text)) == 0, (parser.NAME, text[:200])
    assert checked >= len(TEXTS)


def test_rank_equals_calling_every_sniffer_on_the_samples() -> None:
    for text in TEXTS:
        assert [(s, p.NAME) for s, p in rank(text)] == brute_rank(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=40), st.sampled_from(["\n", "\n\n", " "]))
def test_mixed_lines_never_hide_a_claim(lines: list[str], sep: str) -> None:
    text = sep.join(lines)
    for parser in BUILTIN:
        if parser.sniff(text) > 0:
            assert has_marker(parser, text), parser.NAME
    assert [(s, p.NAME) for s, p in rank(text)] == brute_rank(text)


def _plugin(name: str, score: int, **extra: object) -> Parser:
    calls: list[str] = []
    mod = types.SimpleNamespace(
        NAME=name, sniff=lambda t: calls.append(t) or score, parse=lambda t: [], calls=calls
    )
    for key, value in extra.items():
        setattr(mod, key, value)
    return mod  # type: ignore[return-value]


def test_plugins_without_markers_are_always_sniffed_and_with_markers_only_when_seen() -> None:
    free = _plugin("free", 10)
    marked = _plugin("marked", 20, MARKERS=("MY-CRASH:",))
    at_start = _plugin("at_start", 30, MARKERS=("\nBOOM ",))
    scan = PreScan([free, marked, at_start])
    assert [p.NAME for _, p in scan.candidates("nothing here")] == ["free"]
    assert [p.NAME for _, p in scan.candidates("x MY-CRASH: y")] == ["free", "marked"]
    assert [p.NAME for _, p in scan.candidates("x BOOM y")] == ["free"]
    assert [p.NAME for _, p in scan.candidates("BOOM y")] == ["free", "at_start"]
    assert [(o, p.NAME) for o, p in scan.candidates("a\nBOOM MY-CRASH:")] == [
        (0, "free"),
        (1, "marked"),
        (2, "at_start"),
    ]


@pytest.mark.parametrize("bad", ["MY-CRASH:", (), ("",), ("ok", 3), 7])
def test_unusable_markers_mean_always_sniffed(bad: object, caplog: pytest.LogCaptureFixture) -> None:
    plugin = _plugin("odd", 10, MARKERS=bad)
    with caplog.at_level(logging.WARNING):
        scan = PreScan([plugin])
    assert [p.NAME for _, p in scan.candidates("nothing")] == ["odd"]
    assert "always sniffed" in caplog.text


def test_a_long_text_is_scanned_past_the_head_only_for_unbounded_markers() -> None:
    anywhere = _plugin("anywhere", 10, MARKERS=("MY-CRASH:",))
    in_head = _plugin("in_head", 20, MARKERS=("MY-HEAD:",), MARKERS_WITHIN=100)
    scan = PreScan([anywhere, in_head])
    pad = "log line\n" * 10_000  # 90,000 characters, past SCAN
    assert [p.NAME for _, p in scan.candidates(pad + "MY-CRASH: MY-HEAD:")] == ["anywhere"]
    assert [p.NAME for _, p in scan.candidates("MY-CRASH: MY-HEAD:\n" + pad)] == ["anywhere", "in_head"]
    assert [p.NAME for _, p in scan.candidates("x" * 65532 + "MY-CRASH:" + pad)] == ["anywhere"]
    assert [p.NAME for _, p in scan.candidates(pad)] == []


def test_a_sanitizer_report_after_a_long_log_is_still_recognised() -> None:
    asan = next(t for t in TEXTS if "ERROR: AddressSanitizer:" in t)
    text = "2025-10-30 17:00:00 INFO Map::Update\n" * 3000 + asan
    assert len(text) > 65536
    assert [(s, p.NAME) for s, p in rank(text)] == brute_rank(text)
    assert rank(text)[0][1].NAME == "asan"
