"""Property tests for the sanitizer parsers: damaged input never breaks them, big input stays linear."""

from __future__ import annotations

import random
import time
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashpilot.errors import ParseError
from crashpilot.formats import asan, lsan, msan, tsan, ubsan

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"
MODULES: tuple[ModuleType, ...] = (asan, lsan, tsan, msan, ubsan)
SAMPLES = [
    (DATA / fmt / f"{case}.txt").read_text(encoding="utf-8")
    for fmt, case in [
        ("asan", "heap-use-after-free-cxx"),
        ("asan", "bazel-buildid-paths"),
        ("asan", "two-reports-in-ci-log"),
        ("lsan", "standalone-report-objects"),
        ("tsan", "data-race-global"),
        ("msan", "stack-origin-inlined-cxx"),
        ("ubsan", "nonnull-misaligned-bounds"),
        ("ubsan", "three-errors-no-stack"),
    ]
]
# Characters that matter to the parsers: frame marks, brackets, separators, banners.
TOKENS = list("#0x1aZ :+()<>[]{}/\\.'=\n\t\x00é") + ["in ", "Sanitizer: ", " runtime error: ", "(BuildId: "]
NOISE = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)


def check(module: ModuleType, text: str) -> None:
    score = module.sniff(text)
    assert isinstance(score, int) and 0 <= score <= 100
    try:
        reports = module.parse(text)
    except ParseError:
        return
    assert reports
    for report in reports:
        report.to_json()


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SAMPLES))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    lines = text.split("\n")
    op = draw(st.sampled_from(["truncate", "shuffle", "duplicate", "splice", "drop"]))
    if op == "truncate":
        return text[: rnd.randrange(len(text) + 1)]
    if op == "shuffle":
        rnd.shuffle(lines)
    elif op == "duplicate":
        for _ in range(rnd.randrange(1, 10)):
            i = rnd.randrange(len(lines))
            lines.insert(i, lines[i])
    elif op == "drop":
        lines = [ln for ln in lines if rnd.random() > 0.3]
    else:
        for _ in range(rnd.randrange(1, 8)):
            i = rnd.randrange(len(text) + 1)
            text = text[:i] + draw(NOISE) + text[i:]
        return text
    return "\n".join(lines)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text_never_breaks_a_parser(text: str) -> None:
    for module in MODULES:
        check(module, text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_reports_never_break_a_parser(text: str) -> None:
    for module in MODULES:
        check(module, text)


@settings(max_examples=60, deadline=None)
@given(st.lists(NOISE, max_size=20))
def test_frame_like_noise_never_breaks_a_parser(parts: list[str]) -> None:
    text = "==1==ERROR: AddressSanitizer: SEGV on unknown address\n" + "\n".join("    #0 " + p for p in parts)
    for module in MODULES:
        check(module, text)


def _big(unit: str, size: int = 50_000_000) -> str:
    return unit * (size // len(unit) + 1)


@pytest.mark.slow
def test_fifty_megabytes_of_reports_parse_linearly() -> None:
    rnd = random.Random(7)
    parts = []
    total = 0
    while total < 50_000_000:
        sample = SAMPLES[rnd.randrange(len(SAMPLES))]
        if rnd.random() < 0.2:
            sample = sample[: rnd.randrange(len(sample))]  # a truncated copy now and then
        parts.append(sample)
        total += len(sample) + 1
    text = "\n".join(parts)
    start = time.monotonic()
    reports = asan.parse(text)
    assert len(reports) > 1000
    assert time.monotonic() - start < 60


@pytest.mark.slow
@pytest.mark.parametrize(
    "unit",
    [
        "(" * 97 + "<",  # one endless line of brackets
        "    #0 0x1 in f(" + "(<" * 50 + " a.c:1:2 (m+0x1)\n",  # endless bracketed frame lines
        "==1==ERROR: AddressSanitizer: " + " " * 200 + "(",  # a banner that never ends
        "WARNING: ThreadSanitizer: x" + " " * 300 + "(pid=1)\n",
        "a.c:1:2: runtime error: '" + "'x" * 4000 + "\n",
        "    #1 0x2 in " + "+ " * 100 + "\n",
        "\n" * 50 + " " * 50,
    ],
)
def test_pathological_input_is_linear(unit: str) -> None:
    text = _big(unit)
    start = time.monotonic()
    for module in MODULES:
        module.sniff(text)
    try:
        asan.parse(text)
    except ParseError:
        pass
    assert time.monotonic() - start < 60
