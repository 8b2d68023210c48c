"""crashcheck.classify on return codes and on sanitizer / assertion / abort reports."""

from __future__ import annotations

import signal

import pytest

from crashpilot.crashcheck import CrashVerdict, check_result, classify
from crashpilot.proc import Result


def test_clean_exit_is_not_a_crash() -> None:
    assert not classify(0, "all good\n").crashed
    assert not classify(1, "error: bad input\n").crashed


@pytest.mark.parametrize(
    ("sig", "name"), [(signal.SIGSEGV, "SIGSEGV"), (signal.SIGABRT, "SIGABRT"), (signal.SIGFPE, "SIGFPE")]
)
def test_crash_signals(sig: int, name: str) -> None:
    v = classify(-sig, "")
    assert (v.crashed, v.kind, v.reason, v.signal) == (True, "signal", name, sig)


def test_non_crash_signals_and_shell_codes() -> None:
    v = classify(-signal.SIGTERM, "")
    assert not v.crashed and v.signal == signal.SIGTERM
    assert not classify(-signal.SIGPIPE, "").crashed
    # 139 = 128 + SIGSEGV only means a crash when a shell reported it
    assert classify(139, "", via_shell=True).reason == "SIGSEGV"
    assert not classify(139, "").crashed


def test_windows_codes() -> None:
    v = classify(0xC0000005, "")
    assert v.crashed and v.kind == "windows" and "access violation" in (v.reason or "")
    assert classify(-1073741819, "").reason == "0xC0000005 access violation"  # signed form
    assert not classify(0x12345678, "").crashed


ASAN = """\
starting
AddressSanitizer:DEADLYSIGNAL
=================================================================
==4242==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000008 (pc 0x55d1 bp 0x7ffd sp 0x7ffd T0)
==4242==The signal is caused by a READ memory access.
    #0 0x55d1 in Player::GetName() src/Player.cpp:12
SUMMARY: AddressSanitizer: SEGV src/Player.cpp:12 in Player::GetName()
"""
UAF = "==77==ERROR: AddressSanitizer: heap-use-after-free on address 0x602 at pc 0x4 bp 0x5 sp 0x6\nREAD of size 4\n"


@pytest.mark.parametrize(
    ("output", "rc", "kind", "reason"),
    [
        (UAF, 1, "sanitizer", "AddressSanitizer: heap-use-after-free"),
        (
            "==9==ERROR: LeakSanitizer: detected memory leaks\n",
            23,
            "sanitizer",
            "LeakSanitizer: detected memory leaks",
        ),
        ("WARNING: ThreadSanitizer: data race (pid=123)\n", 66, "sanitizer", "ThreadSanitizer: data race"),
        (
            "==1==WARNING: MemorySanitizer: use-of-uninitialized-value\n",
            77,
            "sanitizer",
            "MemorySanitizer: use-of-uninitialized-value",
        ),
        (
            "src/a.cpp:10:7: runtime error: signed integer overflow: 2147483647 + 1\n",
            0,
            "sanitizer",
            "runtime error: signed integer overflow: 2147483647 + 1",
        ),
        (
            "worldserver: src/Map.cpp:99: void Map::Add(): Assertion `obj' failed.\n",
            -6,
            "assertion",
            "Assertion `obj' failed.",
        ),
        ("\nASSERTION FAILED:\n  m_spellInfo\n", -6, "assertion", "ASSERTION FAILED:"),
        (
            "Assertion failed: p != NULL, file a.c, line 3\n",
            3,
            "assertion",
            "Assertion failed: p != NULL, file a.c, line 3",
        ),
        (
            "terminate called after throwing an instance of 'std::out_of_range'\n",
            -6,
            "abort",
            "terminate called after throwing an instance of 'std::out_of_range'",
        ),
        ("*** stack smashing detected ***: terminated\n", -6, "abort", "*** stack smashing detected ***"),
        ("double free or corruption (out)\n", -6, "abort", "double free or corruption (out)"),
        (
            "1/3 Test #1: spells ....***Exception: SegFault  0.01 sec\n",
            8,
            "test-runner",
            "***Exception: SegFault",
        ),
    ],
)
def test_reports_in_output(output: str, rc: int, kind: str, reason: str) -> None:
    v = classify(rc, output)
    assert (v.crashed, v.kind, v.reason) == (True, kind, reason)


def test_earliest_report_wins_and_signal_is_kept() -> None:
    v = classify(1, ASAN)
    assert v.reason == "AddressSanitizer: SEGV"
    v = classify(-6, "x\n" + UAF + "terminate called recursively\n")
    assert v.reason == "AddressSanitizer: heap-use-after-free" and v.signal == signal.SIGABRT


def test_text_that_only_mentions_words_is_not_a_crash() -> None:
    benign = "log: runtime error: config missing\nassertion checks enabled\nno ERROR: here\n"
    assert not classify(0, benign).crashed


def test_timeout_is_a_hang_unless_a_report_came_first() -> None:
    v = classify(-9, "", timed_out=True)
    assert (v.crashed, v.kind, v.timed_out) == (False, "timeout", True)
    assert classify(-9, UAF, timed_out=True).crashed


def test_check_result_and_verdict_properties() -> None:
    res = Result("./repro", 139, None, "", "", 0.1, False)
    assert check_result(res).reason == "SIGSEGV"  # a string command ran through a shell
    assert not check_result(res, via_shell=False).crashed
    verdict = CrashVerdict(3, 2, 0, None, None, ())
    assert verdict.flaky and not verdict.always and not verdict.never
