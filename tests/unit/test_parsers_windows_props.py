"""Property tests for the Windows parsers: mutated input never raises anything but ParseError,
sniff never raises, and huge or pathological input parses in linear time."""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashpilot.errors import ParseError
from crashpilot.formats import cdb, stackwalk, wheaty

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"
MODULES: dict[str, ModuleType] = {"wheaty": wheaty, "cdb_analyze": cdb, "minidump_stackwalk": stackwalk}
SAMPLES: dict[str, list[str]] = {
    fmt: [p.read_bytes().decode("utf-8").replace("\r\n", "\n") for p in sorted((DATA / fmt).glob("*.txt"))]
    for fmt in MODULES
}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _try(mod: ModuleType, text: str) -> None:
    assert isinstance(mod.sniff(text), int)
    try:
        reports = mod.parse(text)
    except ParseError:
        return
    assert reports and all(r.format == mod.NAME for r in reports)


@st.composite
def mutated(draw: st.DrawFn, fmt: str) -> str:
    lines = draw(st.sampled_from(SAMPLES[fmt])).split("\n")
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["truncate", "shuffle", "duplicate", "splice", "drop"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "truncate":
            lines = lines[:i] + [lines[i][: draw(st.integers(0, len(lines[i])))]]
        elif op == "shuffle":
            lines = draw(st.permutations(lines))
        elif op == "duplicate":
            lines = lines[: i + 1] + lines[i:]
        elif op == "drop":
            lines = lines[:i] + lines[i + 1 :]
        else:
            junk = draw(st.binary(max_size=40)).decode("latin-1")
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + junk + lines[i][pos:]
    return "\n".join(lines)


@pytest.mark.parametrize("fmt", sorted(MODULES))
@SETTINGS
@given(data=st.data())
def test_mutated_reports_only_raise_parse_error(fmt: str, data: st.DataObject) -> None:
    _try(MODULES[fmt], data.draw(mutated(fmt)))


@pytest.mark.parametrize("fmt", sorted(MODULES))
@SETTINGS
@given(text=st.text(max_size=400))
def test_random_text_only_raises_parse_error(fmt: str, text: str) -> None:
    _try(MODULES[fmt], text)


@pytest.mark.parametrize("fmt", sorted(MODULES))
@SETTINGS
@given(
    text=st.lists(
        st.sampled_from(
            [
                "Call stack:",
                "00401000  00000000  F+1",
                "STACK_TEXT:",
                "ChildEBP RetAddr",
                "Thread 0 (crashed)",
                " 0  a!b [c : 1 + 0x1]",
                "Crash|X|0x1|0",
                "0|0|m|f|x|1|0x1",
                "Exception code: C0000005 X",
                "Fault address:  00401000 01:00001000 a.exe",
                "Crash reason:  SIGSEGV",
                "(1.2): x - code c0000005",
                "Assertion message: a:1 in f ASSERTION FAILED",
                "",
                "*   Exception Analysis   *",
                "a" * 80,
            ]
        ),
        max_size=30,
    ).map("\n".join)
)
def test_keyword_soup_only_raises_parse_error(fmt: str, text: str) -> None:
    _try(MODULES[fmt], text)


def _timed(mod: ModuleType, text: str) -> float:
    start = time.perf_counter()
    try:
        mod.parse(text)
    except ParseError:
        pass
    mod.sniff(text)
    return time.perf_counter() - start


def test_six_megabyte_wheaty_log_with_locals_parses_fast() -> None:
    head = SAMPLES["wheaty"][[i for i, s in enumerate(SAMPLES["wheaty"]) if "Local Variables" in s][0]]
    local = "Local <user defined> 'pl' 0x000001D3F0A2B8C0\n\tunsigned int m_count = 12\n"
    frame = "00007FF6A1B2C3D4  000000A5C77FEE70  Unit::GetVictim+14  C:\\src\\Unit.h line 812\n"
    body = (frame + local * 40 + "\n") * 2100
    text = head + body
    assert len(text) > 6_000_000
    [report] = wheaty.parse(text)
    assert report.frames[0].function == "Unit::GetVictim"
    assert _timed(wheaty, text) < 2.0  # generous; the target is < 0.5 s


def _big(sample: str, size: int) -> str:
    reps = size // max(len(sample), 1) + 1
    return ("\n".join([sample] * reps))[:size]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(MODULES))
def test_fifty_megabytes_of_repeated_reports_parse_in_linear_time(fmt: str) -> None:
    text = _big(SAMPLES[fmt][0], 50_000_000)
    assert _timed(MODULES[fmt], text) < 60


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(MODULES))
@pytest.mark.parametrize(
    "line",
    [
        "(" * 50_000_000,
        "<" * 25_000_000 + ">" * 25_000_000,
        "00401000  00000000  " + "a+1 " * 12_000_000,
        "0915b084 6eefc617 " + "0915b098 " * 5_000_000 + "M!f+0x1",
        " 0  " + "m!f [x : 1 + 0x" * 3_000_000,
        "Crash reason:  " + " " * 50_000_000 + "x",
        "1|2|" + "|" * 50_000_000,
    ],
    ids=["parens", "angles", "wheaty-offsets", "cdb-columns", "breakpad-brackets", "spaces", "pipes"],
)
def test_pathological_lines_parse_in_linear_time(fmt: str, line: str) -> None:
    assert _timed(MODULES[fmt], line) < 60
