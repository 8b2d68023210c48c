"""line_search / line_finditer find what the plain ^-anchored regex scans find."""

from __future__ import annotations

import random
import re

import pytest

from crashpilot.formats._scan import line_finditer, line_search, prefix_search

PATTERNS = [
    (re.compile(r"^Thread \d+ \(.*\):\s*$", re.M), "Thread "),
    (re.compile(r"^[ \t]*Revision:[^\n]*\n[ \t]*Date ", re.M), "Revision:"),
    (re.compile(r"^#\d\s\s\S|^#\d+\s+0x[0-9a-f]+ in \?\? \(\)", re.M), "#"),
    (re.compile(r"^Crash\|([^|\n]*)\|", re.M), "Crash|"),
]
PIECES = [
    "Thread 1 (LWP 7):",
    "Thread 2 (x):  ",
    " Thread 3 (y):",
    "Thread x (z):",
    "Revision: abc",
    "  Date 1",
    "Date 2",
    "#0  main",
    "#1 0xdead in ?? ()",
    " #2  f",
    "Crash|SIGSEGV|0x0|1",
    "xCrash|a|",
    "\n",
    "\n\n",
    " ",
    "\t",
    "abc",
    "##0  x",
    "Thread 4 (a):\nThread 5 (b):",
]


def _texts(seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(PIECES) + rng.choice(["\n", "", " "]) for _ in range(rng.randrange(0, 30)))
        for _ in range(300)
    ]


@pytest.mark.parametrize(("pattern", "literal"), PATTERNS)
def test_line_search_matches_regex_search(pattern: re.Pattern[str], literal: str) -> None:
    hits = 0
    for text in _texts(len(literal)):
        for pos, endpos in [(0, None), (3, None), (0, len(text) // 2), (len(text) // 3, len(text) - 2)]:
            end = len(text) if endpos is None else max(endpos, 0)
            want = pattern.search(text, pos, end)
            got = line_search(pattern, text, literal, pos, endpos)
            assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups())), (
                text,
                pos,
                endpos,
            )
            hits += want is not None
            if literal != "Revision:":  # the other patterns start with their literal
                got = prefix_search(pattern, text, literal, pos, endpos)
                assert (got and got.span()) == (want and want.span()), (text, pos, endpos)
            assert [m.span() for m in line_finditer(pattern, text, literal, pos, endpos)] == [
                m.span() for m in pattern.finditer(text, pos, end)
            ]
    assert hits > 20  # the generated texts do exercise matches


def test_line_search_no_literal_no_match() -> None:
    pattern = re.compile(r"^Crash\|", re.M)
    assert line_search(pattern, "x\n" * 1000, "Crash|") is None
    assert line_search(pattern, "a Crash|b\nCrash|c", "Crash|").start() == 10  # type: ignore[union-attr]


def test_new_frame_is_the_same_frame() -> None:
    from crashpilot.formats.frames import new_frame
    from crashpilot.models import Frame

    for kw in [
        {},
        {"function": "f", "line": 3, "raw": "#0 f"},
        {"module": "m", "in_app": True, "inlined": True},
    ]:
        got, want = new_frame(**kw), Frame(**kw)  # type: ignore[arg-type]
        assert got == want and repr(got) == repr(want) and hash(got) == hash(want)
    with pytest.raises(TypeError):
        new_frame(functon="typo")
    with pytest.raises(AttributeError):
        new_frame().function = "x"  # type: ignore[misc]  # still frozen


def test_replace_frame_is_with_() -> None:
    from crashpilot.formats.frames import replace_frame
    from crashpilot.models import Frame

    frame = Frame(function="f", file="a.cpp", line=3, raw="#0 f")
    for kw in [{"in_app": True}, {"file": "b.cpp", "line": None}, {}]:
        got, want = replace_frame(frame, **kw), frame.with_(**kw)
        assert got == want and repr(got) == repr(want)
    assert replace_frame(frame, in_app=True) is not frame and frame.in_app is False
    with pytest.raises(TypeError):
        replace_frame(frame, nope=1)


def test_every_assertion_style_has_its_needs() -> None:
    from crashpilot.formats import _linux_common as lc

    assert len(lc._STYLE_NEEDS) == len(lc.STYLES)
    text = "x.cpp:3 in f ASSERTION FAILED:\n  a\n"
    assert lc.find_assertion(text) is not None and lc._live_styles(text, 0) == [0, 1]
    assert lc._live_styles("nothing here\n" * 10, 0) == []


def test_revision_prefilter_claim_holds() -> None:
    """sanitizer_common.find_revision rules an ASCII text out by "revision"/"commit" in
    text.lower(); non-ASCII text (where "\u0131" or "\u017f" may match i / s) is scanned."""
    from crashpilot.formats.sanitizer_common import find_revision

    assert find_revision("x\n  Git revi\u017fion: 0123abcd\n") == "0123abcd"

    assert find_revision("x\n  Build Revision: 0123abcd\n") == "0123abcd"
    assert find_revision("x\nCOMMIT = deadbeef1\n") == "deadbeef1"
    assert find_revision("x\nnothing\n") is None


def test_machine_frame_split_matches_the_regex() -> None:
    """stackwalk reads machine frame lines with str.split: same lines as its regex, \\d == isdecimal."""
    from crashpilot.formats.stackwalk import _MACHINE_FRAME, parse

    digit = re.compile(r"\d")
    assert [c for c in range(0x110000) if bool(digit.match(chr(c))) != chr(c).isdecimal()] == []
    lines = [
        "0|0|a.exe|f|||0x1",
        "1|0|a.exe|g||x|0x2|",
        "x|0|a.exe|f|||0x1",
        "2|1|m|h|f.c|3|0x3",
        "3||m|h|||",
    ]
    text = "OS|Linux\nCrash|SIGSEGV|0x0|0\n" + "\n".join(lines) + "\n"
    want = [m.group(0) for m in _MACHINE_FRAME.finditer(text)]
    got = [f.raw for t in parse(text)[0].threads for f in t.frames]
    assert sorted(got) == sorted(want) and len(want) == 2
