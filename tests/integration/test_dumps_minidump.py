"""Minidumps through a stackwalker subprocess.

The real Breakpad ``minidump_stackwalk`` runs on the committed dump only when it is on PATH
(CI has no Breakpad). The other tests put a STAND-IN executable in place of the stackwalker: a
shell script that prints the committed output the real ``minidump_stackwalk`` gave for this
dump (or hangs, or fails), so the subprocess, timeout, parsing and merge paths run for real.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crashpilot.formats import finish
from crashpilot.symbolize import dump_to_reports

DUMPS = Path(__file__).resolve().parents[1] / "data" / "dumps"
DMP = DUMPS / "breakpad_crash.dmp"
REV = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
OUR_FRAMES = ["game::WorldSession::ReadLevel", "game::WorldSession::HandleLogin", "main"]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A symbol store with the dump's Breakpad symbols under its build revision."""
    root = tmp_path / "symbols"
    shutil.copytree(DUMPS / "symbols", root / REV)
    return root


def stand_in(tmp_path: Path, name: str, body: str) -> Path:
    script = tmp_path / "bin" / name
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


@pytest.mark.skipif(
    shutil.which("minidump_stackwalk") is None, reason="Breakpad's minidump_stackwalk is not on PATH"
)
def test_real_minidump_stackwalk(store: Path) -> None:
    [report] = dump_to_reports(DMP, revision=REV[:10], symbols_dir=store, timeout=60)
    report = finish(report)
    assert [f.function for f in report.frames[:3]] == OUR_FRAMES
    assert report.extra["symbolized_by"] == "minidump_stackwalk"
    assert "libc.so.6" in [m["name"] for m in report.extra["missing_symbols"]]
    [bare] = dump_to_reports(DMP, revision="ffffffffffff", symbols_dir=store, timeout=60)
    assert "breakpad_crash" in [m["name"] for m in bare.extra["missing_symbols"]]
    assert bare.extra["needs_symbols"] is True


def test_stand_in_breakpad_text_output(store: Path, tmp_path: Path) -> None:
    out = DUMPS / "breakpad_crash.stackwalk.txt"
    args = tmp_path / "args.txt"
    walker = stand_in(tmp_path, "minidump_stackwalk", f'printf "%s\\n" "$@" > {args}\ncat {out}')
    [report] = dump_to_reports(DMP, revision=REV[:12], symbols_dir=store, stackwalker=walker, timeout=30)
    report = finish(report)
    assert args.read_text().split("\n")[:2] == [str(DMP), str(store / REV)]  # dump, then symbol path
    assert report.format == "minidump"
    assert report.revision == REV[:12]
    assert [f.function for f in report.frames[:3]] == OUR_FRAMES
    assert (
        report.signature == "SIGSEGV | game::WorldSession::ReadLevel | game::WorldSession::HandleLogin | main"
    )
    assert [m["name"] for m in report.extra["missing_symbols"]] == ["libc.so.6", "linux-gate.so"]
    assert "needs_symbols" not in report.extra


def test_stand_in_breakpad_machine_output(store: Path, tmp_path: Path) -> None:
    walker = stand_in(tmp_path, "minidump_stackwalk", f"cat {DUMPS / 'breakpad_crash.stackwalk-m.txt'}")
    [report] = dump_to_reports(DMP, revision=REV, symbols_dir=store, stackwalker=walker, timeout=30)
    assert [f.function for f in report.frames[:3]] == OUR_FRAMES


def test_stand_in_without_symbols_says_which_module(store: Path, tmp_path: Path) -> None:
    walker = stand_in(tmp_path, "minidump_stackwalk", f"cat {DUMPS / 'breakpad_crash.stackwalk-nosyms.txt'}")
    [report] = dump_to_reports(DMP, revision=None, symbols_dir=store, stackwalker=walker, timeout=30)
    report = finish(report)
    assert report.extra["needs_symbols"] is True
    assert [m["name"] for m in report.extra["missing_symbols"]] == ["breakpad_crash"]
    assert report.frames[0].module == "breakpad_crash" and report.frames[0].module_offset == "0x2de9"
    assert any("names no build revision" in n for n in report.extra["symbol_notes"])


@pytest.mark.parametrize(
    ("body", "note"),
    [
        ("echo 'cannot open' >&2; exit 3", "failed"),
        ("exec sleep 30", "timed out"),
        ("echo garbage", "failed"),
    ],
)
def test_failing_stackwalker_falls_back_to_the_pure_reader(
    store: Path, tmp_path: Path, body: str, note: str
) -> None:
    walker = stand_in(tmp_path, "minidump_stackwalk", body)
    [report] = dump_to_reports(DMP, revision=REV, symbols_dir=store, stackwalker=walker, timeout=1.5)
    report = finish(report)
    assert any(note in n for n in report.extra["symbol_notes"])
    [frame] = report.frames
    assert (frame.module, frame.module_offset, frame.function) == ("breakpad_crash", "0x2de9", None)
    # the store holds symbols for our module: only the others are listed as missing
    missing = [m["name"] for m in report.extra["missing_symbols"]]
    assert "breakpad_crash" not in missing and "libc.so.6" in missing


def test_stand_in_rust_minidump_json(store: Path, tmp_path: Path) -> None:
    """rust-minidump is asked for --json and --symbols-path; the stand-in refuses anything else.
    Its JSON is a small document written here after rust-minidump's published schema."""
    doc = tmp_path / "out.json"
    doc.write_text(
        '{"crash_info": {"type": "SIGSEGV /SEGV_MAPERR", "address": "0x0", "crashing_thread": 0},'
        ' "crashing_thread": {"threads_index": 0},'
        ' "threads": [{"frames": [{"module": "breakpad_crash", "function": "game::WorldSession::ReadLevel()",'
        ' "offset": "0x55584fd9cde9", "module_offset": "0x2de9", "file": "breakpad_crash.cpp", "line": 21}]}],'
        ' "modules": [{"filename": "libc.so.6", "debug_file": "libc.so.6", "debug_id": "EC61", "missing_symbols": true}]}'
    )
    body = f'[ "$1" = --json ] && [ "$2" = --symbols-path ] && [ "$3" = {store / REV} ] || exit 2\ncat {doc}'
    walker = stand_in(tmp_path, "minidump-stackwalk", body)
    [report] = dump_to_reports(DMP, revision=REV, symbols_dir=store, stackwalker=walker, timeout=30)
    report = finish(report)
    assert report.extra["symbolized_by"] == "minidump-stackwalk"
    assert report.frames[0].function == "game::WorldSession::ReadLevel"
    assert report.signature == "SIGSEGV | game::WorldSession::ReadLevel"
    assert report.extra["missing_symbols"][0]["name"] == "libc.so.6"
