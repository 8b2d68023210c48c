"""Property tests: mutated reports never make the Linux-side parsers raise anything but ParseError,
sniff() never raises, and huge / pathological inputs parse in linear time."""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashpilot.errors import ParseError
from crashpilot.formats import assertion, crashdetect, gdb, glibc_backtrace, macos_crash, vs_callstack

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"
PARSERS: dict[str, ModuleType] = {
    "gdb": gdb,
    "assert": assertion,
    "glibc_backtrace": glibc_backtrace,
    "macos_crash": macos_crash,
    "vs_callstack": vs_callstack,
    "crashdetect": crashdetect,
}
SAMPLES = {name: [p.read_text(encoding="utf-8") for p in sorted((DATA / name).glob("*.txt"))] for name in PARSERS}


def _run(module: ModuleType, text: str) -> None:
    assert isinstance(module.sniff(text), int)
    try:
        reports = module.parse(text)
    except ParseError:
        return
    assert reports and all(r.format == module.NAME for r in reports)


@st.composite
def mutated(draw: st.DrawFn, name: str) -> str:
    lines = draw(st.sampled_from(SAMPLES[name])).split("\n")
    op = draw(st.sampled_from(["truncate", "shuffle", "duplicate", "splice", "drop"]))
    if op == "truncate":
        text = "\n".join(lines)
        return text[: draw(st.integers(0, len(text)))]
    if op == "shuffle":
        return "\n".join(draw(st.permutations(lines)))
    if op == "duplicate":
        i = draw(st.integers(0, len(lines) - 1))
        return "\n".join(lines[: i + 1] + lines[i:] * draw(st.integers(1, 4)))
    if op == "drop":
        i = draw(st.integers(0, len(lines) - 1))
        return "\n".join(lines[:i] + lines[i + 1:])
    text = "\n".join(lines)
    i = draw(st.integers(0, len(text)))
    junk = draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
    return text[:i] + junk + text[i:]


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_reports_only_raise_parse_error(name: str, data: st.DataObject) -> None:
    _run(PARSERS[name], data.draw(mutated(name)))


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=50, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("#0x1 ()<>[]:*|!\n\tinatfrom.SIG_Zabc+/-'`\"")), max_size=400))
def test_random_text_only_raises_parse_error(name: str, text: str) -> None:
    _run(PARSERS[name], text)


def _timed(module: ModuleType, text: str) -> float:
    start = time.perf_counter()
    _run(module, text)
    return time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PARSERS))
def test_large_input_is_linear(name: str) -> None:
    sample = "\n".join(SAMPLES[name]) + "\n"
    text = (sample * (50_000_000 // len(sample) + 1))[:50_000_000]
    assert _timed(PARSERS[name], text) < 60


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize(
    "chunk",
    [
        "(" * 1000 + "<" * 1000,
        "#0  0x1 in f (" + "(" * 5000 + " at x:",
        "a:1 in " + "b" * 3000 + " ASSERTION FAILED:",
        "Assertion `" + "x" * 3000,
        "[0x" + "1" * 4000,
    ],
)
def test_pathological_lines_are_linear(name: str, chunk: str) -> None:
    no_newlines = (chunk * (5_000_000 // len(chunk) + 1))[:5_000_000]
    with_newlines = ((chunk + "\n") * (5_000_000 // len(chunk) + 1))[:5_000_000]
    assert _timed(PARSERS[name], no_newlines) < 60
    assert _timed(PARSERS[name], with_newlines) < 60
