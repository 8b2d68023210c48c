"""Linux core files, for real: a tiny C program built with gcc -g crashes under gdb, gdb writes
its core (generate-core-file), and crashpilot symbolizes that core with gdb, with the binary
given, found per revision in a symbol store (stripped binary + separate .debug), or missing."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from crashpilot.errors import ParseError
from crashpilot.formats import finish
from crashpilot.symbolize import dump_to_reports

PROGS = Path(__file__).resolve().parent / "dumpprogs"
REV_A = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
REV_B = "b1b2c3d4e5f60718293a4b5c6d7e8f9012345678"

pytestmark = pytest.mark.skipif(
    not (shutil.which("gcc") and shutil.which("gdb") and shutil.which("objcopy")),
    reason="needs gcc, gdb and objcopy (binutils) to build a program and write its core",
)


@dataclass(frozen=True)
class Built:
    binary: Path
    core: Path
    store: Path


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("core")
    build = root / "build"
    build.mkdir()
    src = PROGS / "core_crash.c"
    _run(["gcc", "-g", "-O0", "-o", "worldserver", str(src)], build)
    core = root / "worldserver.core"
    _run(
        [
            "gdb",
            "-batch",
            "-nx",
            "-ex",
            "run",
            "-ex",
            f"generate-core-file {core}",
            "-ex",
            "kill",
            "build/worldserver",
        ],
        root,
    )
    assert core.is_file()
    store = root / "symbols"
    rev_a, rev_b = store / REV_A, store / REV_B
    rev_a.mkdir(parents=True)
    rev_b.mkdir()
    # revision A: the same binary, stripped, with its debug info in worldserver.debug beside it
    shutil.copy2(build / "worldserver", rev_a / "worldserver")
    _run(["objcopy", "--only-keep-debug", "worldserver", "worldserver.debug"], rev_a)
    _run(["objcopy", "--strip-debug", "--add-gnu-debuglink=worldserver.debug", "worldserver"], rev_a)
    # revision B: another build whose middle function has another name
    _run(
        ["gcc", "-g", "-O0", "-DLOGIN_HANDLER=handle_logout", "-o", str(rev_b / "worldserver"), str(src)],
        build,
    )
    return Built(build / "worldserver", core, store)


def _functions(report_frames: object) -> list[str | None]:
    return [f.function for f in report_frames]  # type: ignore[attr-defined]


def test_core_with_binary_names_our_functions(built: Built) -> None:
    [report] = dump_to_reports(built.core, revision=None, symbols_dir=None, binary=built.binary, timeout=60)
    report = finish(report)
    assert report.format == "core"
    assert report.crash_kind == "SIGSEGV"
    assert _functions(report.frames)[:3] == ["read_level", "handle_login", "main"]
    assert report.frames[0].file and report.frames[0].file.endswith("core_crash.c")
    assert report.extra["symbolized_by"] == "gdb"
    assert report.extra["crash_reason"] == "SIGSEGV /SEGV_MAPERR"
    assert report.extra["command"] == "worldserver"
    assert "needs_symbols" not in report.extra
    assert report.signature == "SIGSEGV | read_level | handle_login | main"


def test_core_without_binary_keeps_module_offset_and_says_symbols_are_missing(built: Built) -> None:
    [report] = dump_to_reports(built.core, revision="0000000deadbeef", symbols_dir=built.store, timeout=60)
    report = finish(report)
    assert report.format == "core" and report.crash_kind == "SIGSEGV"
    assert report.revision == "0000000deadbeef"
    assert report.extra["needs_symbols"] is True
    assert report.extra["missing_symbols"] == ["worldserver"]
    assert any("no symbols for revision 0000000deadbeef" in n for n in report.extra["symbol_notes"])
    [frame] = report.frames
    assert frame.function is None and frame.module == "worldserver" and frame.module_offset
    # the offset is the crashing instruction inside the binary: gdb on the binary agrees
    out = subprocess.run(
        ["gdb", "-batch", "-nx", "-ex", f"info symbol {frame.module_offset}", str(built.binary)],
        capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    assert "read_level" in out
    assert report.signature == f"SIGSEGV | worldserver+{frame.module_offset}"


def test_revision_picks_the_right_binary_out_of_two(built: Built) -> None:
    [a] = dump_to_reports(built.core, revision=REV_A[:12] + "+", symbols_dir=built.store, timeout=60)
    assert a.extra["binary"] == str(built.store / REV_A / "worldserver")
    assert _functions(a.frames)[:3] == ["read_level", "handle_login", "main"]
    assert a.frames[0].line is not None  # found through worldserver.debug (the binary is stripped)
    [b] = dump_to_reports(built.core, revision=REV_B, symbols_dir=built.store, timeout=60)
    assert b.extra["binary"] == str(built.store / REV_B / "worldserver")
    # yesterday's core read with today's binary names the wrong function: revisions matter
    assert "handle_logout" in _functions(b.frames)


def test_core_with_a_missing_gdb_falls_back(built: Built) -> None:
    [report] = dump_to_reports(
        built.core, revision=None, symbols_dir=None, binary=built.binary, gdb="/nonexistent/gdb", timeout=10
    )
    assert report.extra["needs_symbols"] is True
    assert any("gdb could not start" in n for n in report.extra["symbol_notes"])


def test_not_a_dump_is_a_parse_error(built: Built, tmp_path: Path) -> None:
    with pytest.raises(ParseError):
        dump_to_reports(built.binary, revision=None, symbols_dir=None)  # an ELF, but not a core
    text = tmp_path / "x.dmp"
    text.write_text("hello")
    with pytest.raises(ParseError):
        dump_to_reports(text, revision=None, symbols_dir=None)
