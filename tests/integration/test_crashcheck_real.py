"""crashcheck on a real C++ program built by the real g++: plain (SIGSEGV) and ASan builds."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from crashpilot.crashcheck import run_repeated
from crashpilot.edits import apply_edit
from crashpilot.policy import Policy
from crashpilot.proc import clean_env, run

PROJECT = Path(__file__).parent / "cprojects" / "nullderef"


def _env() -> dict[str, str]:
    return clean_env(os.environ, extra={"ASAN_OPTIONS": "detect_leaks=0"})


def _build(src: Path) -> None:
    run(["make", "-s", "all"], cwd=src, timeout=120, env=_env()).check()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("nullderef") / "nullderef"
    shutil.copytree(PROJECT, src)
    _build(src)
    return src


def test_plain_build_crashes_on_bad_input_every_time(built: Path) -> None:
    verdict = run_repeated(["./roster", "bad.txt"], 3, cwd=built, timeout=30, env=_env())
    assert (verdict.runs, verdict.crashes, verdict.timeouts) == (3, 3, 0)
    assert verdict.always
    assert verdict.first_crash is not None
    assert verdict.first_crash.signal == signal.SIGSEGV
    assert verdict.first_crash.reason == "SIGSEGV"


def test_good_input_does_not_crash(built: Path) -> None:
    for binary in ("./roster", "./roster_asan"):
        verdict = run_repeated([binary, "good.txt"], 2, cwd=built, timeout=30, env=_env())
        assert verdict.never, verdict.checks
        assert verdict.first_crash_output is None


def test_asan_build_reports_the_sanitizer(built: Path) -> None:
    verdict = run_repeated(
        ["./roster_asan", "bad.txt"], 2, cwd=built, timeout=30, env=_env(), stop_after_crash=True
    )
    assert verdict.runs == 1 and verdict.crashes == 1
    assert verdict.first_crash is not None
    assert (verdict.first_crash.kind, verdict.first_crash.reason) == ("sanitizer", "AddressSanitizer: SEGV")
    assert "roster.cpp" in (verdict.first_crash_output or "")


def test_assertion_and_shell_exit_code(built: Path) -> None:
    verdict = run_repeated(["./roster", "assert.txt"], 1, cwd=built, timeout=30, env=_env())
    assert verdict.first_crash is not None
    assert verdict.first_crash.kind == "assertion"
    assert verdict.first_crash.signal == signal.SIGABRT
    # Through a shell that forks, the crash shows up as exit status 128 + 11.
    shelled = run_repeated("./roster bad.txt; exit $?", 1, cwd=built, timeout=30, env=_env(), shell=True)
    assert shelled.first_crash is not None and shelled.first_crash.reason == "SIGSEGV"


def test_patched_copy_no_longer_crashes(built: Path, tmp_path: Path) -> None:
    patched = tmp_path / "patched"
    shutil.copytree(built, patched)
    apply_edit(
        patched,
        "roster.cpp",
        "        Player* p = Find(name);\n        total += p->level;\n",
        "        Player* p = Find(name);\n        if (p)\n            total += p->level;\n",
        Policy(),
    )
    _build(patched)
    before = run_repeated(["./roster", "bad.txt"], 2, cwd=built, timeout=30, env=_env())
    after = run_repeated(["./roster", "bad.txt"], 3, cwd=patched, timeout=30, env=_env())
    after_asan = run_repeated(["./roster_asan", "bad.txt"], 1, cwd=patched, timeout=30, env=_env())
    assert before.always
    assert after.never and after_asan.never
    assert run(["./roster", "bad.txt"], cwd=patched, timeout=30, env=_env()).stdout == "total level 80\n"
