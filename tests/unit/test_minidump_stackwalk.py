"""Stackwalker outputs into reports: Breakpad text / -m output committed from a real run, and
rust-minidump's --json output (a small hand-written document following its published schema:
rust-minidump is not installable here), merged with the pure reader's facts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crashpilot.errors import ParseError
from crashpilot.formats import finish
from crashpilot.formats.minidump import read_minidump
from crashpilot.symbolize.stackwalk import (
    BREAKPAD,
    CDB,
    RUST,
    Stackwalker,
    merge,
    missing_symbols_in_text,
    parse_rust_json,
    parse_stackwalk_text,
    stackwalk_command,
)

DUMPS = Path(__file__).resolve().parents[1] / "data" / "dumps"
OUR_FRAMES = ["game::WorldSession::ReadLevel", "game::WorldSession::HandleLogin", "main"]


def test_breakpad_text_with_symbols() -> None:
    report, missing = parse_stackwalk_text((DUMPS / "breakpad_crash.stackwalk.txt").read_text())
    assert [f.function for f in report.frames[:3]] == OUR_FRAMES
    assert report.frames[0].line == 21
    assert [m["name"] for m in missing] == ["libc.so.6", "linux-gate.so"]
    assert missing[0]["debug_id"] == "EC61AC938E5A39B16F9FBD350E3169A50"


def test_breakpad_text_without_symbols_names_our_module() -> None:
    text = (DUMPS / "breakpad_crash.stackwalk-nosyms.txt").read_text()
    assert [m["name"] for m in missing_symbols_in_text(text)] == ["breakpad_crash"]
    report, _ = parse_stackwalk_text(text)
    assert report.frames[0].function is None and report.frames[0].module == "breakpad_crash"


def test_breakpad_machine_output_missing_symbols_come_from_unnamed_frames() -> None:
    report, missing = parse_stackwalk_text((DUMPS / "breakpad_crash.stackwalk-m.txt").read_text())
    assert [f.function for f in report.frames[:3]] == OUR_FRAMES
    assert {m["name"] for m in missing} == {"libc.so.6", "linux-gate.so"}


def test_merge_keeps_reader_facts_and_drops_needs_symbols_when_our_frames_are_named() -> None:
    info = read_minidump((DUMPS / "breakpad_crash.dmp").read_bytes())
    walked, missing = parse_stackwalk_text((DUMPS / "breakpad_crash.stackwalk.txt").read_text())
    report = finish(merge(walked, info, missing, Stackwalker("/x/minidump_stackwalk", BREAKPAD)))
    assert report.format == "minidump"
    assert report.extra["symbolized_by"] == BREAKPAD
    assert report.extra["crashing_thread_id"] == info.crashing_thread_id
    assert len(report.extra["modules"]) == len(info.modules)
    assert "needs_symbols" not in report.extra
    assert report.signature.startswith("SIGSEGV | game::WorldSession::ReadLevel")
    nosyms, missing = parse_stackwalk_text((DUMPS / "breakpad_crash.stackwalk-nosyms.txt").read_text())
    assert merge(nosyms, info, missing, Stackwalker("x", BREAKPAD)).extra["needs_symbols"] is True


RUST_JSON = {
    "status": "OK",
    "system_info": {"os": "Windows NT", "cpu_arch": "amd64"},
    "crash_info": {"type": "EXCEPTION_ACCESS_VIOLATION_READ", "address": "0x0000000000000018", "crashing_thread": 1},
    "crashing_thread": {"threads_index": 1, "thread_name": "map updater", "frames": []},
    "threads": [
        {"thread_name": "main", "frames": [{"frame": 0, "module": "ntdll.dll", "offset": "0x7ffb0001", "module_offset": "0x1"}]},
        {
            "thread_name": "map updater",
            "frames": [
                {
                    "frame": 0, "module": "worldserver.exe", "function": "Map::Update(unsigned int)",
                    "file": "C:\\src\\Map.cpp", "line": 120, "offset": "0x140001234", "module_offset": "0x1234",
                    "missing_symbols": False, "trust": "context",
                    "inlines": [{"function": "Unit::GetVictim() const", "file": "C:\\src\\Unit.h", "line": 7}],
                },
                {"frame": 1, "module": "kernel32.dll", "function": None, "offset": "0x7ffa1000", "module_offset": "0x1000",
                 "missing_symbols": True, "trust": "cfi"},
            ],
        },
    ],
    "modules": [
        {"filename": "worldserver.exe", "debug_file": "worldserver.pdb", "debug_id": "ABC1", "missing_symbols": False},
        {"filename": "kernel32.dll", "debug_file": "kernel32.pdb", "debug_id": "DEF2", "missing_symbols": True},
    ],
}  # fmt: skip


def test_rust_minidump_json() -> None:
    report, missing = parse_rust_json(json.dumps(RUST_JSON))
    assert report.crash_kind == "ACCESS_VIOLATION" and report.exception_code == "C0000005"
    assert report.crashing_thread.name == "map updater"
    first, second, third = report.frames
    assert (first.function, first.inlined, first.line) == ("Unit::GetVictim", True, 7)
    assert (second.function, second.module_offset, second.file) == (
        "Map::Update",
        "0x1234",
        "C:\\src\\Map.cpp",
    )
    assert third.function is None and third.module == "kernel32.dll"
    assert missing == [
        {"name": "kernel32.dll", "debug_file": "kernel32.pdb", "debug_id": "DEF2", "problem": "no symbols"}
    ]
    assert [t.name for t in report.threads] == ["main"]


@pytest.mark.parametrize("text", ["not json", "[1, 2]", json.dumps({"threads": [{"frames": [3]}]})])
def test_rust_minidump_bad_json_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_rust_json(text)


def test_commands_follow_each_tools_documented_usage(tmp_path: Path) -> None:
    dump, syms = tmp_path / "a.dmp", [tmp_path / "s1", tmp_path / "s2"]
    assert stackwalk_command(Stackwalker("/b/minidump_stackwalk", BREAKPAD), dump, syms) == [
        "/b/minidump_stackwalk",
        str(dump),
        str(syms[0]),
        str(syms[1]),
    ]
    assert stackwalk_command(Stackwalker("/r/minidump-stackwalk", RUST), dump, syms) == [
        "/r/minidump-stackwalk",
        "--json",
        "--symbols-path",
        str(syms[0]),
        "--symbols-path",
        str(syms[1]),
        str(dump),
    ]
    cdb = stackwalk_command(Stackwalker("cdb.exe", CDB), dump, syms)
    assert cdb[:3] == ["cdb.exe", "-z", str(dump)] and cdb[-2:] == ["-c", "!analyze -v; q"]
