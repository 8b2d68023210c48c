"""Focused checks of the Linux-side parsers: gdb, assert, glibc_backtrace, macos_crash, vs_callstack, crashdetect."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashpilot.errors import ParseError
from crashpilot.formats import (
    assertion,
    crashdetect,
    gdb,
    glibc_backtrace,
    macos_crash,
    parse_bytes,
    parse_text,
    vs_callstack,
)
from crashpilot.formats.frames import split_call, strip_return_type

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"


def one(text: str):  # type: ignore[no-untyped-def]
    reports = parse_text(text)
    assert len(reports) == 1
    return reports[0]


def test_gdb_picks_thread_named_by_signal_line() -> None:
    r = one((DATA / "gdb" / "thread_apply_all_named.txt").read_text())
    assert r.format == "gdb" and r.crash_kind == "SIGSEGV"
    assert r.crashing_thread.index == 3 and r.extra["thread_name"] == "MapUpdater"
    assert r.frames[0].function == "Unit::GetVictim" and r.frames[0].line == 1123
    assert r.revision == "8f3a1c2d9e4b" and r.extra["dirty_build"] is True
    assert {t.index for t in r.threads} == {1, 2}


def test_gdb_unwraps_trinity_assert_to_caller() -> None:
    r = one((DATA / "gdb" / "core_trinity_assert.txt").read_text())
    assert r.format == "gdb" and r.crash_kind == "assertion"
    assert r.message == "m_caster->GetMap() == target->GetMap()"
    assert r.frames[0].function == "Trinity::Assert" and not r.frames[0].in_app
    assert r.first_app_frame is not None and r.first_app_frame.function == "Spell::cast"
    assert r.first_app_frame.line == 3412 and r.crashing_thread.index == 4
    assert r.extra["signal"] == "SIGSEGV" and "dirty_build" not in r.extra


def test_gdb_joins_wrapped_frame_lines_and_skips_locals() -> None:
    r = one((DATA / "gdb" / "bt_full_wrapped_abort.txt").read_text())
    assert [f.function for f in r.frames][:5] == [
        "__pthread_kill_implementation", "__pthread_kill_internal", "__GI_raise", "__GI_abort",
        "Battleground::RemovePlayerAtLeave",
    ]
    assert r.frames[4].line == 1013 and r.crash_kind == "SIGABRT"
    assert r.first_app_frame is not None and r.first_app_frame.function == "Battleground::RemovePlayerAtLeave"


def test_gdb_glibc_assert_with_message_in_session() -> None:
    text = (
        "server: src/pool.c:88: pool_put: Assertion `p->refs > 0' failed.\n\n"
        "Thread 2 \"worker\" received signal SIGABRT, Aborted.\n"
        "(gdb) bt\n"
        "#0  0x00007ffff7a42e97 in raise () from /lib/x86_64-linux-gnu/libc.so.6\n"
        "#1  0x00007ffff7a44801 in abort () from /lib/x86_64-linux-gnu/libc.so.6\n"
        "#2  0x00007ffff7a3439a in ?? () from /lib/x86_64-linux-gnu/libc.so.6\n"
        "#3  0x00007ffff7a34412 in __assert_fail () from /lib/x86_64-linux-gnu/libc.so.6\n"
        "#4  0x0000555555554a1c in pool_put (p=0x555555757260) at src/pool.c:88\n"
        "#5  0x0000555555554b40 in worker_main (arg=0x0) at src/worker.c:41\n"
    )
    r = one(text)
    assert r.format == "gdb" and r.crash_kind == "assertion" and r.message == "p->refs > 0"
    assert r.assert_location is not None and r.assert_location.file == "src/pool.c"
    assert r.first_app_frame is not None and r.first_app_frame.function == "pool_put"
    assert r.frames[2].function is None and r.frames[2].module == "/lib/x86_64-linux-gnu/libc.so.6"


def test_gdb_concatenated_sessions_give_two_reports() -> None:
    a = "Program received signal SIGSEGV, Segmentation fault.\n#0  0x1 in f (x=1) at a.c:3\n#1  0x2 in main () at a.c:9\n"
    b = "Program received signal SIGBUS, Bus error.\n#0  0x5 in g () at b.c:4\n"
    reports = gdb.parse(a + "\n" + b)
    assert [r.crash_kind for r in reports] == ["SIGSEGV", "SIGBUS"]
    assert [r.frames[0].function for r in reports] == ["f", "g"]


def test_gdb_signal_number_and_truncated_input() -> None:
    text = "Program terminated with signal 11, Segmentation fault.\n#0  0x000000000040113a in crash (p=0x0) at t.c:5\n#1  0x00000000004"
    r = one(text)
    assert r.crash_kind == "SIGSEGV" and r.frames[0].function == "crash"
    with pytest.raises(ParseError):
        gdb.parse("Program received signal SIGSEGV, Segmentation fault.\n")


def test_crlf_and_utf16_bytes() -> None:
    raw = (DATA / "gdb" / "thread_apply_all_named.txt").read_text()
    for data in (raw.replace("\n", "\r\n").encode(), raw.encode("utf-16"), raw.encode("utf-16-le")):
        r = parse_bytes(data)[0]
        assert r.format == "gdb" and r.frames[0].function == "Unit::GetVictim" and r.crashing_thread.index == 3


def test_trinity_assert_without_stack() -> None:
    r = one("/src/server/game/Maps/Map.cpp:120 in Map::AddPlayer ASSERTION FAILED:\n  player->GetMap() == this\nMapId: 0\n")
    assert r.format == "assert" and r.crash_kind == "assertion" and r.message == "player->GetMap() == this"
    assert r.first_app_frame is not None and (r.first_app_frame.function, r.first_app_frame.line) == ("Map::AddPlayer", 120)
    assert r.frames == ()


def test_trinity_assert_with_ace_stack_is_demangled() -> None:
    r = one((DATA / "assert" / "trinity_ace_linux.txt").read_text())
    assert r.frames[0].function == "Unit::SetInCombatState" and r.frames[0].module == "./worldserver"
    assert r.frames[3].function is None and r.frames[3].module_offset == "0x69ca"


def test_azerothcore_block_and_terminate() -> None:
    r = one((DATA / "assert" / "azerothcore_block.txt").read_text())
    assert r.assert_location is not None and r.assert_location.function == "CreatureGroup::AddMember"
    assert r.message == "member->GetFormation() == nullptr" and "already belongs" in r.extra["assert_message"]
    t = one((DATA / "assert" / "terminate_what.txt").read_text())
    assert t.crash_kind == "abort" and t.message == "map::at" and t.extra["exception_type"] == "std::out_of_range"


def test_glibc_assert_before_sanitizer_outranks_asan() -> None:
    text = (
        "fuzzer: lib/parse.c:77: int parse_block(struct ctx *): Assertion `len <= cap' failed.\n"
        "AddressSanitizer:DEADLYSIGNAL\n"
        "=================================================================\n"
        "==7==ERROR: AddressSanitizer: ABRT on unknown address 0x000000000007 (pc 0x7f01 bp 0x1 sp 0x2 T0)\n"
        "    #0 0x7f0100001 in raise (/lib/x86_64-linux-gnu/libc.so.6+0x3bf61)\n"
        "    #1 0x7f0100002 in abort (/lib/x86_64-linux-gnu/libc.so.6+0x25535)\n"
        "    #2 0x55d0003 in parse_block /src/lib/parse.c:77:3\n"
        "    #3 0x55d0004 in LLVMFuzzerTestOneInput /src/fuzz.c:12:3\n"
    )
    assert assertion.sniff(text) == 90
    r = one(text)
    assert r.format == "assert" and r.frames[0].function == "raise"
    assert r.first_app_frame is not None and r.first_app_frame.function == "parse_block"


def test_haproxy_bug_on_takes_function_from_trace() -> None:
    text = (
        'FATAL: bug condition "!LIST_ISEMPTY(&s->list)" matched at src/stream.c:512\n'
        "  call trace(3):\n"
        "  | 0x55e1a0 [0f 0b 66 90 48 8b 45 08]: stream_free+0x1f0/0x6a2\n"
        "  | 0x55e2b0 [eb 8f 0f 1f 44 00 00 90]: process_stream+0x2c1/0x3b9c\n"
        "  | 0x55e3c0 [85 c0 74 14 48 8b 3d 10]: main+0x9c331\n"
    )
    r = one(text)
    assert r.crash_kind == "assertion" and r.message == "!LIST_ISEMPTY(&s->list)"
    assert r.assert_location is not None and r.assert_location.function == "stream_free"
    assert r.frames[2].function is None and r.frames[2].address == "0x55e3c0"


def test_two_glibc_assert_reports() -> None:
    reports = parse_text((DATA / "assert" / "glibc_two_reports.txt").read_text())
    assert [r.assert_location.function for r in reports if r.assert_location] == ["ADT_file::prepareLoadedData", "WMOGroup::open"]


def test_glibc_backtrace_markdown_mangled_header() -> None:
    text = "**\\* buffer overflow detected ***: ./tool terminated\n======= Backtrace: =========\n" \
           "/lib/libc.so.6(__fortify_fail+0x37)[0x7f00000c37]\n./tool(_Z4copyPcPKc+0x12)[0x401012]\n"
    r = one(text)
    assert r.format == "glibc_backtrace" and r.crash_kind == "buffer-overflow" and r.extra["program"] == "./tool"
    assert r.first_app_frame is not None and r.first_app_frame.function == "copy"
    with pytest.raises(ParseError):
        glibc_backtrace.parse("*** stack smashing detected ***: terminated\n")


def test_macos_picks_crashed_thread() -> None:
    r = one((DATA / "macos_crash" / "exc_bad_access.txt").read_text())
    assert r.crash_kind == "SIGSEGV" and r.crashing_thread.index == 7
    assert r.frames[2].function is None and r.frames[2].module_offset == hex(5050608)
    assert r.frames[1].file == "GroupHandler.cpp" and r.frames[1].line == 121
    assert macos_crash.sniff("Thread 3 Crashed:\n0 a 0x1 f + 1\n") > 0


def test_vs_callstack_german_and_english() -> None:
    text = ">\tapp.exe!Foo::Bar(int x)  Zeile 12 + 0x5 Bytes\tC++\n\tapp.exe!main()  Zeile 40\tC++\n\tkernel32.dll!7505339a()\t\n"
    r = one(text)
    assert r.format == "vs_callstack" and r.crash_kind == "debugger-stop"
    assert (r.frames[0].function, r.frames[0].line, r.frames[0].module) == ("Foo::Bar", 12, "app.exe")
    assert r.frames[2].function is None and r.frames[2].address == "0x7505339a"
    e = one((DATA / "vs_callstack" / "english_tabs_crlf.txt").read_text())
    assert e.frames[2].function == "Map::Update" and e.frames[3].line == 41
    assert vs_callstack.sniff("hello!world\n") == 0


def test_crashdetect_handler_frames_are_not_app() -> None:
    r = one((DATA / "crashdetect" / "windows_plugin.txt").read_text())
    assert r.format == "crashdetect" and not r.frames[0].in_app
    assert r.first_app_frame is not None and r.first_app_frame.function == "Connection::Query"
    with pytest.raises(ParseError):
        crashdetect.parse("[debug] Server crashed due to an unknown error\n")


@pytest.mark.parametrize(
    ("text", "name", "rest"),
    [
        ("ai::Engine::ExecuteAction(std::string const&, ai::Event&)", "ai::Engine::ExecuteAction", "(std::string const&, ai::Event&)"),
        ("(anonymous namespace)::run (x=1)", "(anonymous namespace)::run", "(x=1)"),
        ("std::function<void (int)>::operator()(int) const", "std::function<void (int)>::operator()", "(int) const"),
        ("Foo::operator<< (os=...)", "Foo::operator<<", "(os=...)"),
        ("<signal handler called>", "<signal handler called>", ""),
    ],
)
def test_split_call(text: str, name: str, rest: str) -> None:
    assert split_call(text) == (name, rest)


def test_strip_return_type() -> None:
    assert strip_return_type("RecordNode *Dup(const RecordNode *, int)") == "Dup"
    assert strip_return_type("std::vector<int, std::allocator<int> > Foo<A, B>::get() const") == "Foo<A, B>::get"
