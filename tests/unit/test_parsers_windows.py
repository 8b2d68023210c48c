"""Focused checks of the Windows crash parsers: wheaty, cdb_analyze, minidump_stackwalk."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashpilot.errors import ParseError
from crashpilot.formats import cdb, parse_bytes, parse_text, stackwalk, wheaty
from crashpilot.formats._windows_common import kind_for, normalize_code, strip_args
from crashpilot.formats.frames import hex_address, split_offset

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"


def _read(fmt: str, case: str) -> str:
    return (DATA / fmt / f"{case}.txt").read_bytes().decode("utf-8").replace("\r\n", "\n")


# --- shared helpers -------------------------------------------------------------------------


def test_hex_address_normalizes_backticks_and_zeros() -> None:
    assert hex_address("000000bc`aeaaa440") == "0xbcaeaaa440"
    assert hex_address("00007FF7283B53F6") == "0x7ff7283b53f6"
    assert hex_address("0x0") == "0x0"
    assert hex_address("worldserver") is None


def test_split_offset_keeps_operators() -> None:
    assert split_offset("Creature::Update+F01") == ("Creature::Update", "F01")
    assert split_offset("jscript9!Divide+0x7f") == ("jscript9!Divide", "0x7f")
    assert split_offset("operator++1A") == ("operator+", "1A")
    assert split_offset("NoOffset") == ("NoOffset", None)


def test_codes_and_kinds() -> None:
    assert normalize_code("c0000005") == "C0000005"
    assert normalize_code("0x80000003") == "80000003"
    assert kind_for("C0000094") == "INTEGER_DIVIDE_BY_ZERO"
    assert kind_for("DEADBEEF", "INT_OVERFLOW") == "INTEGER_OVERFLOW"
    assert kind_for("DEADBEEF", "The thing failed.") is None


def test_strip_args() -> None:
    assert strip_args("Unit::GetVictim() const") == "Unit::GetVictim"
    assert strip_args("std::vector<int>::push_back(int const&)") == "std::vector<int>::push_back"
    assert strip_args("(anonymous namespace)::f") == "(anonymous namespace)::f"
    assert strip_args("Foo::getconst") == "Foo::getconst"


# --- wheaty ---------------------------------------------------------------------------------


def test_wheaty_full_x64_log_picks_crashing_thread_and_revision() -> None:
    [r] = parse_text(_read("wheaty", "tc_x64_relwithdebinfo_crlf"))
    assert r.format == "wheaty"
    assert (r.crash_kind, r.exception_code) == ("ACCESS_VIOLATION", "C0000005")
    assert r.revision == "9b1c4d2e7a05"
    assert r.extra["dirty_build"] is True
    assert r.extra["build"] == "Win64, RelWithDebInfo, Static"
    assert r.frames[0].function == "Unit::GetVictim"
    assert r.frames[0].line == 812 and r.frames[0].file and r.frames[0].file.endswith("Unit.h")
    # the locals dump after "Local Variables And Parameters" is not read as more threads
    assert r.extra["thread_count"] == 3
    assert len(r.frames) == 8
    assert r.first_app_frame is not None and r.first_app_frame.function == "Unit::GetVictim"


def test_wheaty_crlf_and_utf16_bytes_read_the_same() -> None:
    raw = (DATA / "wheaty" / "tc_x64_relwithdebinfo_crlf.txt").read_bytes()
    assert b"\r\n" in raw
    plain = parse_bytes(raw)[0]
    utf16 = parse_bytes(b"\xff\xfe" + raw.decode("utf-8").encode("utf-16-le"))[0]
    assert plain.to_json() == utf16.to_json()
    assert plain.signature.startswith("ACCESS_VIOLATION | Unit::GetVictim")


def test_wheaty_unsymbolized_release_build_needs_symbols() -> None:
    [r] = parse_text(_read("wheaty", "ac_win32_release_unsymbolized"))
    assert r.revision is None  # "rev. unknown ... (Archived branch)"
    assert r.crash_kind == "INTEGER_DIVIDE_BY_ZERO"
    top = r.frames[0]
    assert top.function is None
    assert (top.module, top.module_offset) == ("worldserver.exe", "0001:0031A1B4")
    assert r.extra["needs_symbols"] is True and "PDB" in r.extra["hint"]
    assert r.first_app_frame is not None and r.first_app_frame.module == "worldserver.exe"
    assert r.frames[-1].module == "KERNEL32.DLL"


def test_wheaty_assertion_message_gives_assert_location() -> None:
    [r] = parse_text(_read("wheaty", "tc_assertion_x64_debug"))
    assert r.crash_kind == "assertion" and r.exception_code == "C0000420"
    assert r.assert_location is not None
    assert (r.assert_location.function, r.assert_location.line) == ("Spell::_cast", 3512)
    assert r.first_app_frame is not None and r.first_app_frame.function == "Spell::_cast"
    assert r.message is not None and "m_caster" in r.message
    assert r.frames[0].function == "RaiseException"


def test_wheaty_fault_address_selects_thread() -> None:
    text = (
        "Exception code: C0000005 ACCESS_VIOLATION\n"
        "Fault address:  00A1B2C3 01:0009B2C3 C:\\srv\\worldserver.exe\n\n"
        "Call stack:\nAddress   Frame     Function      SourceFile\n"
        "77AB0011  00000000  NtDelayExecution+C\n"
        "00401000  00000000  World::Update+10\n\n"
        "Call stack:\nAddress   Frame     Function      SourceFile\n"
        "00A1B2C3  00000000  Map::GetCreature+23  c:\\srv\\src\\map.cpp line 99\n"
        "00A1C000  00000000  Map::Update+50  c:\\srv\\src\\map.cpp line 120\n"
    )
    [r] = wheaty.parse(text)
    assert r.crashing_thread.index == 1
    assert r.frames[0].function == "Map::GetCreature"


def test_wheaty_concatenated_logs() -> None:
    one = _read("wheaty", "tc_x64_relwithdebinfo_crlf")
    two = _read("wheaty", "tc_assertion_x64_debug")
    reports = parse_text(one + "\n" + two)
    assert [r.crash_kind for r in reports] == ["ACCESS_VIOLATION", "assertion"]
    assert [r.revision for r in reports] == ["9b1c4d2e7a05", "3f33f776e3ba"]


def test_wheaty_truncated_mid_frame_keeps_complete_frames() -> None:
    text = _read("wheaty", "cmangos_fragment_lowercase_paths")
    cut = text.index("Group::Disband") + 5
    [r] = parse_text(text[:cut])
    assert r.format == "wheaty"
    assert r.frames[0].function == "Player::RemoveFromGroup"
    assert r.frames[0].file == "d:\\cmangos\\mangos-classic\\src\\game\\entities\\player.cpp"


def test_wheaty_parse_refuses_text_without_stack_or_exception() -> None:
    with pytest.raises(ParseError):
        wheaty.parse("Revision: TrinityCore rev. abcdef123456 2024\nnothing else\n")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("3f33f776e3ba+_worldserver.exe_[2025_10_30_17_10_47].txt", ("3f33f776e3ba", True)),
        ("e34c629a654c_worldserver.exe_[7-10_18-36-20].txt", ("e34c629a654c", False)),
        ("C:\\srv\\Crashes\\0123abcd4567_authserver.exe_[1-2_3-4-5].dmp", ("0123abcd4567", False)),
        ("unknown_worldserver.exe_[7-10_18-36-20].txt", (None, False)),
        ("crashlog.txt", (None, False)),
    ],
)
def test_revision_from_filename(name: str, expected: tuple[str | None, bool]) -> None:
    assert wheaty.revision_from_filename(name) == expected


# --- cdb ------------------------------------------------------------------------------------


def test_cdb_kn_listing_with_inline_frames_and_sources() -> None:
    [r] = parse_text(_read("cdb_analyze", "x64_dump_kn_inline_source"))
    assert r.format == "cdb_analyze"
    assert (r.crash_kind, r.exception_code) == ("ACCESS_VIOLATION", "C0000005")
    names = [f.function for f in r.frames]
    assert names[:3] == [
        "Unit::GetVictim",
        "boss_example::boss_exampleAI::SelectNextTarget",
        "boss_example::boss_exampleAI::UpdateAI",
    ]
    assert r.frames[1].inlined and r.frames[1].line == 61
    assert r.frames[0].address == "0x7ff6a1b2c3d4"  # the exception address
    assert r.frames[1].address == r.frames[2].address == "0x7ff6a1d0e5f6"
    assert r.frames[-1].in_app is False  # ntdll
    assert r.extra["failure_bucket_id"].startswith("NULL_CLASS_PTR_READ")


def test_cdb_unwraps_80_column_capture() -> None:
    text = _read("cdb_analyze", "wrapped_80col_stack_overflow")
    assert max(len(line) for line in text.split("\n")) == 80
    [r] = cdb.parse(text)
    assert r.crash_kind == "STACK_OVERFLOW" and r.exception_code == "C00000FD"
    assert r.frames[1].function == "AuthSession::HandleReconnectChallengeWithAVeryLongNameCallback"
    assert r.extra["failure_bucket_id"].endswith("AuthSession::HandleLogonChallengeCallback")
    assert r.crashing_thread.index == 4


def test_cdb_unwrap_leaves_unwrapped_text_alone() -> None:
    text = "a" * 80 + "\nSTACK_TEXT:\n" + "b" * 30
    assert cdb.unwrap(text) == text


def test_cdb_breakpoint_from_event_line() -> None:
    [r] = parse_text(_read("cdb_analyze", "breakpoint_k_listing_only"))
    assert (r.crash_kind, r.exception_code) == ("BREAKPOINT", "80000003")
    assert r.frames[0].module == "mapgen" and r.frames[0].function == "MapBuilder::buildTile"
    assert not r.frames[-1].in_app  # ntdll!_RtlUserThreadStart


def test_cdb_two_analyses_give_two_reports() -> None:
    text = _read("cdb_analyze", "wrapped_80col_stack_overflow")
    both = cdb.unwrap(text) + "\n" + _read("cdb_analyze", "x64_dump_kn_inline_source")
    reports = cdb.parse(both)
    assert [r.exception_code for r in reports] == ["C00000FD", "C0000005"]


def test_cdb_parse_refuses_unrelated_text() -> None:
    with pytest.raises(ParseError):
        cdb.parse("hello\nworld\n")


# --- minidump_stackwalk ---------------------------------------------------------------------


def test_stackwalk_rust_minidump_named_thread_and_inlines() -> None:
    [r] = parse_text(_read("minidump_stackwalk", "rust_minidump_linux_sigsegv_inline"))
    assert r.format == "minidump_stackwalk"
    assert r.crash_kind == "SIGSEGV" and r.exception_code is None
    assert r.crashing_thread.index == 3 and r.extra["thread_name"] == "map-update"
    assert r.frames[0].function == "Unit::GetVictim"  # argument list and "const" dropped
    assert r.frames[0].address == "0x55d1c2a3b4c4"
    assert r.frames[1].inlined and r.frames[1].function == "boss_example::boss_exampleAI::SelectNextTarget"
    assert r.frames[4].module == "libstdc++.so.6.0.30" and r.frames[4].module_offset == "0xdc253"
    assert "needs_symbols" not in r.extra  # only runtime libraries lack symbols


def test_stackwalk_machine_output_uses_crash_line_thread() -> None:
    [r] = parse_text(_read("minidump_stackwalk", "machine_crash_in_second_thread"))
    assert r.crashing_thread.index == 1
    assert r.crash_kind == "ILLEGAL_INSTRUCTION" and r.exception_code == "C000001D"
    assert r.frames[0].function is None and r.frames[0].module_offset == "0xc0ffee"
    assert r.first_app_frame is not None and r.first_app_frame.function == "Spell::EffectSchoolDMG"
    assert len(r.threads) == 2


def test_stackwalk_hex_reason_and_scanned_frames() -> None:
    [r] = parse_text(_read("minidump_stackwalk", "windows_fastfail_stack_scanning"))
    assert r.crash_kind == "STACK_BUFFER_OVERRUN" and r.exception_code == "C0000409"
    assert r.extra["scanned_frames"] == [1, 2]
    assert r.extra["needs_symbols"] is True
    assert r.first_app_frame is not None and r.first_app_frame.module == "mapextractor.exe"


def test_stackwalk_text_and_machine_output_group_together() -> None:
    text = (
        "Crash reason:  EXCEPTION_ACCESS_VIOLATION_WRITE\nCrash address: 0x45\n\n"
        "Thread 0 (crashed)\n"
        " 0  app.exe!`anonymous namespace'::Boom [app.cc : 58 + 0x3]\n"
        "    eip = 0x0040429e   esp = 0x0012fe84\n    Found by: given as instruction pointer in context\n"
        " 1  app.exe!main [app.cc : 65 + 0x5]\n    Found by: call frame info\n"
    )
    machine = (
        "OS|Windows NT|10.0\nCrash|EXCEPTION_ACCESS_VIOLATION_WRITE|0x45|0\n\n"
        "0|0|app.exe|`anonymous namespace'::Boom|c:\\app.cc|58|0x3\n"
        "0|1|app.exe|main|c:\\app.cc|65|0x5\n"
    )
    a, b = parse_text(text)[0], parse_text(machine)[0]
    assert a.signature == b.signature == "ACCESS_VIOLATION | (anonymous)::Boom | main"


def test_stackwalk_concatenated_reports() -> None:
    one = _read("minidump_stackwalk", "windows_fastfail_stack_scanning")
    two = _read("minidump_stackwalk", "rust_minidump_linux_sigsegv_inline")
    reports = stackwalk.parse(one + "\n" + two)
    assert [r.crash_kind for r in reports] == ["STACK_BUFFER_OVERRUN", "SIGSEGV"]


def test_stackwalk_truncated_after_thread_header() -> None:
    text = _read("minidump_stackwalk", "windows_fastfail_stack_scanning")
    [r] = stackwalk.parse(text[: text.index("Thread 7 (crashed)") + len("Thread 7 (crashed)\n")])
    assert r.crash_kind == "STACK_BUFFER_OVERRUN" and r.frames == ()


# --- sniffing: each parser claims its own format and leaves the others alone ----------------

_OTHERS = {
    "gdb": 'Thread 1 "worldserver" received signal SIGSEGV, Segmentation fault.\n#0  0x000055 in Foo::bar (this=0x0) at foo.cpp:12\n',
    "asan": "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x602\n    #0 0x4c in f /src/a.c:3\n",
    "assert": "/src/server/game/Spells/Spell.cpp:3512 in Spell::_cast ASSERTION FAILED:\n  m_caster\n",
}


@pytest.mark.parametrize("other", sorted(_OTHERS))
def test_sniffers_ignore_other_formats(other: str) -> None:
    for mod in (wheaty, cdb, stackwalk):
        assert mod.sniff(_OTHERS[other]) < 40, (mod.NAME, other)


@pytest.mark.parametrize(
    ("fmt", "case"),
    [
        (p.parent.name, p.stem)
        for p in sorted(DATA.glob("*/*.txt"))
        if p.parent.name in ("wheaty", "cdb_analyze", "minidump_stackwalk")
    ],
)
def test_own_sniffer_is_surest(fmt: str, case: str) -> None:
    text = _read(fmt, case)
    scores = {mod.NAME: mod.sniff(text) for mod in (wheaty, cdb, stackwalk)}
    assert max(scores, key=lambda k: scores[k]) == fmt
    assert scores[fmt] >= 40
