"""The demo's sample C++ project (minirealm), built by the real g++ and run for real.

It must crash on its crash input (and only there), pass its own tests on the buggy version, show
its own functions under gdb, and stop crashing once ``fix.patch`` is applied.
"""

from __future__ import annotations

import shutil
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest

from crashpilot.crashcheck import run_repeated
from crashpilot.formats import parse_text
from crashpilot.git import Git
from crashpilot.proc import run

pytestmark = pytest.mark.skipif(
    shutil.which("g++") is None or shutil.which("make") is None, reason="needs g++ and make"
)

BINARY = "build/minirealm"
CRASH = "reproducer/crash_input.txt"
OK = "reproducer/ok_input.txt"


def _copy(src: Traversable, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_dir():
            _copy(item, dest / item.name)
        else:
            (dest / item.name).write_bytes(item.read_bytes())


def _make(root: Path, *args: str) -> str:
    res = run(["make", "-j2", *args], cwd=root, timeout=120)
    assert res.ok, res.output[-3000:]
    return res.output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged project copied out, committed to a fresh git repo and built once."""
    root = tmp_path_factory.mktemp("sample") / "minirealm"
    _copy(resources.files("crashpilot").joinpath("samples", "project"), root)
    assert not (root / "build").exists(), "the packaged sample must not ship build output"
    git = Git.init(root)
    git.run("add", "-A")
    git.run(
        "-c", "user.name=Sample", "-c", "user.email=sample@example.invalid", "commit", "-q", "-m", "minirealm"
    )
    _make(root)
    return root


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built project (mtimes kept, so make sees it up to date)."""
    root = tmp_path / "minirealm"
    shutil.copytree(built, root, symlinks=True)
    return root


def test_crashes_on_the_crash_input_only_and_fix_patch_fixes_it(project: Path) -> None:
    _make(project)  # up to date: only checks the copy builds
    crash = run_repeated([BINARY, CRASH], 1, cwd=project, timeout=30, env=None)
    assert crash.always
    assert crash.first_crash is not None and crash.first_crash.kind == "signal"
    assert crash.first_crash.reason == "SIGSEGV"

    ok = run([BINARY, OK], cwd=project, timeout=30)
    assert ok.returncode == 0, ok.output
    assert "Arthas has 2x2589" in ok.stdout

    tests_out = _make(project, "test")
    assert "7 tests, 0 failed checks" in tests_out
    assert "all tests passed" in tests_out
    # Building and testing leaves the work tree clean: build output is ignored.
    assert Git(project).is_clean()

    patch = (project / "fix.patch").read_text()
    git = Git(project)
    git.apply_check(patch)
    git.apply(patch)
    assert [row.path for row in git.numstat()] == ["src/player.cpp"]

    _make(project)
    after = run_repeated([BINARY, CRASH], 2, cwd=project, timeout=30, env=None)
    assert after.never, after.first_crash_output
    res = run([BINARY, CRASH], cwd=project, timeout=30)
    assert "error: loot is gone" in res.stdout
    assert "Arthas has 0x4865" in res.stdout  # the script ran to its end
    assert "all tests passed" in _make(project, "test")


@pytest.mark.skipif(shutil.which("gdb") is None, reason="needs gdb")
def test_gdb_stack_shows_the_projects_own_functions(built: Path) -> None:
    project = built
    res = run(
        ["gdb", "-nx", "-batch", "-ex", "run", "-ex", "bt", "--args", BINARY, CRASH],
        cwd=project,
        timeout=60,
    )
    assert "SIGSEGV" in res.output
    reports = parse_text(res.output, repo=project, in_app_paths=["src/"])
    assert len(reports) == 1
    report = reports[0]
    app = [f for f in report.frames if f.in_app]
    assert [f.function for f in app][:3] == [
        "minirealm::Creature::GetLoot",
        "minirealm::Player::StoreLootItem",
        "minirealm::CommandProcessor::HandleTake",
    ]
    assert (app[0].file, app[0].line) == ("src/world.cpp", 27)
    assert (app[1].file, app[1].line) == ("src/player.cpp", 40)
    assert report.first_app_frame is not None
    assert report.first_app_frame.function == "minirealm::Creature::GetLoot"


@pytest.mark.slow
def test_asan_build_reports_the_null_dereference(project: Path) -> None:
    _make(project, "SANITIZE=address", "BUILD=build-asan")
    verdict = run_repeated(["build-asan/minirealm", CRASH], 1, cwd=project, timeout=60, env=None)
    assert verdict.always
    assert verdict.first_crash is not None and verdict.first_crash.kind == "sanitizer"
    assert verdict.first_crash.reason is not None
    assert verdict.first_crash.reason.startswith("AddressSanitizer: SEGV")
    output = verdict.first_crash_output or ""
    assert "minirealm::Player::StoreLootItem" in output
    assert Git(project).is_clean()
