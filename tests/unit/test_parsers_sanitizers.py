"""Focused checks of the sanitizer parsers (asan, ubsan, tsan, msan, lsan)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashpilot.errors import ParseError
from crashpilot.formats import asan, lsan, msan, parse_bytes, parse_text, tsan, ubsan
from crashpilot.formats.sanitizer_common import parse_frame_line

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"


def read(fmt: str, case: str) -> str:
    return (DATA / fmt / f"{case}.txt").read_text(encoding="utf-8")


# --- frame lines ---------------------------------------------------------------------------------


def test_frame_with_column_and_signature() -> None:
    f = parse_frame_line(
        "    #2 0x53bc18 in write_image(_IO_FILE*, render_str*, int) /src/ps-pdf.cxx:10305:5"
    )
    assert f is not None
    assert (f.number, f.address, f.function) == (2, "0x53bc18", "write_image(_IO_FILE*, render_str*, int)")
    assert (f.file, f.line, f.module) == ("/src/ps-pdf.cxx", 10305, None)


def test_frame_with_module_offset_and_build_id() -> None:
    f = parse_frame_line(
        "    #0 0x55e9a4e82f0e in __interceptor_malloc (/out/bin/honggfuzz+0xa4f0e) (BuildId: d5de1d58dbc1)"
    )
    assert f is not None
    assert (f.function, f.module, f.module_offset, f.build_id) == (
        "__interceptor_malloc",
        "/out/bin/honggfuzz",
        "0xa4f0e",
        "d5de1d58dbc1",
    )
    assert f.file is None


def test_frame_without_symbols_keeps_module_only() -> None:
    f = parse_frame_line(r"    #0 0x7ff7eec55cc1  (c:\builds\x64\tint_fuzzer.exe+0x1402c5cc1)")
    assert f is not None
    assert f.function is None and f.file is None
    assert (f.module, f.module_offset) == (r"c:\builds\x64\tint_fuzzer.exe", "0x1402c5cc1")


def test_macos_tsan_frame_without_address_strips_arch() -> None:
    f = parse_frame_line("    #1 nni_taskq_thread taskq.c:61 (reqctx:x86_64+0x10002ace3)")
    assert f is not None
    assert f.address is None
    assert (f.function, f.file, f.line, f.module, f.module_offset) == (
        "nni_taskq_thread",
        "taskq.c",
        61,
        "reqctx",
        "0x10002ace3",
    )
    null = parse_frame_line(
        "    #0 pthread_create <null>:5892896 (libclang_rt.tsan_osx_dynamic.dylib:x86_64h+0x283ed)"
    )
    assert null is not None and null.file is None and null.line is None
    assert null.module == "libclang_rt.tsan_osx_dynamic.dylib"


def test_windows_path_with_blanks_and_function_offset() -> None:
    f = parse_frame_line(r"    #3 0x7ff7 in Game::Tick(float) C:\Program Files\Game Src\game.cpp:88")
    assert f is not None
    assert (f.function, f.file, f.line) == ("Game::Tick(float)", r"C:\Program Files\Game Src\game.cpp", 88)
    g = parse_frame_line(
        r"    #14 0x7ffd74fc8363 in BaseThreadInitThunk+0x13 (C:\Windows\System32\KERNEL32.DLL+0x180008363)"
    )
    assert g is not None
    assert g.function == "BaseThreadInitThunk"
    assert g.module == r"C:\Windows\System32\KERNEL32.DLL"


def test_bare_shared_object_is_a_module_and_bazel_cwd_is_dropped() -> None:
    f = parse_frame_line("    #1 0x7fe7ebf4f5b8 in libglib-2.0.so.0")
    assert f is not None and f.function is None and f.module == "libglib-2.0.so.0"
    g = parse_frame_line(
        "    #1 0x55e9 in util_Malloc /proc/self/cwd/external/honggfuzz/libhfcommon/util.c:181:15"
    )
    assert g is not None and g.file == "external/honggfuzz/libhfcommon/util.c" and g.line == 181


def test_operator_new_is_a_function_not_a_location() -> None:
    f = parse_frame_line("    #0 0x4c2f in operator new(unsigned long) (/usr/lib/libasan.so.8+0xdb818)")
    assert f is not None and f.function == "operator new(unsigned long)" and f.file is None


@pytest.mark.parametrize(
    "line", ["", "#", "#x 0x1 in f", "  0x0c047fff8000: fa fa 00 00[fa]fa", "=>0x1233: fd[fd]"]
)
def test_non_frames(line: str) -> None:
    assert parse_frame_line(line) is None


# --- asan ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "kind", "top_app"),
    [
        ("heap-buffer-overflow", "heap-buffer-overflow", "checksum"),
        ("heap-use-after-free-cxx", "heap-use-after-free", "inventory::describe"),
        ("stack-buffer-overflow-interceptor", "stack-buffer-overflow", "format_name"),
        ("global-buffer-overflow", "global-buffer-overflow", "damage_for_level"),
        ("double-free", "double-free", "conn_close"),
        ("bad-free", "bad-free", "release"),
        ("segv-null", "SEGV", "target_level"),
        ("alloc-dealloc-mismatch", "alloc-dealloc-mismatch", "drop"),
        ("memcpy-param-overlap", "memcpy-param-overlap", "shift_left"),
        ("stack-use-after-scope", "stack-use-after-scope", "main"),
        ("stack-use-after-return", "stack-use-after-return", "main"),
    ],
)
def test_asan_kinds_and_first_app_frame(case: str, kind: str, top_app: str) -> None:
    (report,) = parse_text(read("asan", case))
    assert report.format == "asan"
    assert report.crash_kind == kind
    assert report.first_app_frame is not None and report.first_app_frame.function == top_app


def test_asan_access_free_and_alloc_stacks() -> None:
    (r,) = parse_text(read("asan", "heap-use-after-free-cxx"))
    assert r.extra["access"] == "READ" and r.extra["access_size"] == 4
    assert r.crashing_thread.index == 0
    assert [f["function"] for f in r.extra["free_stack"]][:2] == ["operator delete", "inventory::Bag::clear"]
    assert r.extra["alloc_stack"][0]["function"] == "operator new"
    assert "READ of size 4" in (r.message or "")
    # The shadow-byte dump and the legend add no frames.
    assert len(r.frames) == 5


def test_asan_thread_and_creation_stack() -> None:
    (r,) = parse_text(read("asan", "use-after-free-in-thread"))
    assert r.crashing_thread.index == 1
    assert r.frames[0].function == "worker"
    (created,) = r.extra["thread_creation_stacks"]
    assert created["thread"].startswith("Thread T1 created by T0")
    assert created["frames"][1]["function"] == "main"


def test_asan_segv_facts() -> None:
    (r,) = parse_text(read("asan", "segv-null"))
    assert r.extra["access"] == "READ"
    assert r.extra["hint"] == "address points to the zero page."
    assert r.extra["pre_lines"] == ["AddressSanitizer:DEADLYSIGNAL"]


def test_asan_leading_interceptor_frame_is_not_app() -> None:
    (r,) = parse_text(read("asan", "stack-buffer-overflow-interceptor"))
    assert r.frames[0].function == "__interceptor_strcat" and not r.frames[0].in_app
    assert r.extra["stack_object_frame"][0]["function"] == "main"


def test_asan_two_reports_in_one_log() -> None:
    reports = parse_text(read("asan", "two-reports-in-ci-log"))
    assert [(r.format, r.crash_kind) for r in reports] == [("asan", "heap-buffer-overflow"), ("asan", "SEGV")]
    assert all("[  FAILED  ]" not in (f.raw or "") for r in reports for f in r.frames)


def test_asan_bazel_build_ids() -> None:
    (r,) = parse_text(read("asan", "bazel-buildid-paths"))
    assert r.frames[0].file == "codec/bit_reader.cc"
    assert set(r.extra["build_ids"].values()) == {
        "9c1e4a37bb0ad1f2e5c6d7a8b9c0d1e2f3a4b5c6",
        "490fef8403240c91833978d494d39e537409b92e",
    }


def test_asan_unsymbolized_frames_need_symbols() -> None:
    text = (
        "==7==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020 at pc 0x1 bp 0x2 sp 0x3\n"
        "READ of size 8 at 0x6020 thread T0\n"
        "    #0 0x4c1  (/opt/app/bin/worldserver+0x4c1)\n"
        "    #1 0x4d2 in Map::Update(unsigned int) /src/game/Maps/Map.cpp:120:9\n"
    )
    (r,) = parse_text(text)
    assert r.extra["needs_symbols"] is True
    assert r.frames[0].function is None and r.frames[0].module_offset == "0x4c1"
    assert r.first_app_frame is not None and r.first_app_frame.function == "Map::Update"


def test_mangled_names_are_demangled() -> None:
    text = (
        "==7==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000000 (pc 0x1 bp 0x2 sp 0x3 T0)\n"
        "    #0 0x4c1 in _ZN3Map6UpdateEj (/opt/app/bin/worldserver+0x4c1)\n"
    )
    (r,) = parse_text(text)
    assert r.frames[0].function == "Map::Update"


def test_revision_line_is_read() -> None:
    text = "Revision: 3f40a08eab60\n" + read("asan", "double-free")
    (r,) = parse_text(text)
    assert r.revision == "3f40a08eab60"


# --- ubsan ---------------------------------------------------------------------------------------

NO_STACK = (
    "/src/net/http.c:887:27: runtime error: null pointer passed as argument 2, which is declared to never be null\n"
    "/usr/include/string.h:43:28: note: nonnull attribute specified here\n"
    "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior /src/net/http.c:887:27 in \n"
)


def test_ubsan_without_stack_uses_the_error_line() -> None:
    (r,) = parse_text(NO_STACK)
    assert r.format == "ubsan" and r.crash_kind == "nonnull-attribute"
    assert r.first_app_frame is not None
    assert (r.first_app_frame.function, r.first_app_frame.file, r.first_app_frame.line) == (
        None,
        "/src/net/http.c",
        887,
    )
    assert r.extra["notes"] == ["/usr/include/string.h:43:28: note: nonnull attribute specified here"]
    assert "string.h" not in r.signature and "http.c:887" in r.signature


def test_ubsan_each_error_is_a_report_with_its_stack() -> None:
    reports = parse_text(read("ubsan", "three-errors-with-stack"))
    assert [r.crash_kind for r in reports] == ["signed-integer-overflow", "shift-exponent", "null"]
    assert [r.first_app_frame.function for r in reports if r.first_app_frame] == [
        "add_score",
        "mask_for",
        "first_value",
    ]


def test_ubsan_check_names() -> None:
    assert ubsan.check_name("index 4 out of bounds for type 'int [4]'") == "bounds"
    assert ubsan.check_name("load of misaligned address 0x1 for type 'int'") == "alignment"
    assert ubsan.check_name("division by zero") == "integer-divide-by-zero"
    assert ubsan.check_name("something entirely new 42 happened, sorry") == "something entirely new happened"


# --- tsan ----------------------------------------------------------------------------------------


def test_tsan_data_race_both_accesses() -> None:
    (r,) = parse_text(read("tsan", "data-race-global"))
    assert r.crash_kind == "data race" and r.crashing_thread.index == 2
    assert [f.function for f in r.frames] == ["record_request", "serve"]
    assert r.extra["other_access"].startswith("Previous write of size 8")
    assert r.extra["other_access_stack"][0]["function"] == "record_request"
    assert len(r.extra["thread_creation_stacks"]) == 2
    assert r.frames[0].module == "race" and r.frames[0].module_offset == "0x11cd"


def test_tsan_lock_order_inversion_first_stack() -> None:
    (r,) = parse_text(read("tsan", "lock-order-inversion"))
    assert r.crash_kind == "lock-order-inversion"
    assert r.first_app_frame is not None and r.first_app_frame.function == "transfer"
    assert r.extra["other_stacks"][0]["frames"][1]["function"] == "audit"


def test_tsan_thread_name_from_creation_line() -> None:
    text = (
        "WARNING: ThreadSanitizer: data race (pid=9)\n"
        "  Write of size 4 at 0x7b04 by thread T3:\n"
        "    #0 Cache::put(int) /src/cache.cc:10 (srv+0x10)\n"
        "\n"
        "  Thread T3 'io-worker' (tid=12, running) created by main thread at:\n"
        "    #0 pthread_create <null> (libtsan.so.2+0x5e686)\n"
    )
    (r,) = parse_text(text)
    assert (r.crashing_thread.index, r.crashing_thread.name) == (3, "io-worker")


# --- msan ----------------------------------------------------------------------------------------


def test_msan_origins_and_inlined_frames() -> None:
    (r,) = parse_text(read("msan", "stack-origin-inlined-cxx"))
    assert r.frames[0].inlined and not r.frames[1].inlined  # #0 and #1 share one pc
    assert r.frames[0].function == "net::Config::timeout"
    (origin,) = r.extra["origin_stacks"]
    assert "allocation of 'cfg'" in origin["description"]
    (heap,) = parse_text(read("msan", "heap-origin"))
    assert [o["frames"][0]["function"] for o in heap.extra["origin_stacks"]] == ["read_u32", "malloc"]


def test_msan_interceptor_pre_line() -> None:
    (r,) = parse_text(read("msan", "interceptor-preline"))
    assert r.extra["uninitialized_bytes"].startswith("Uninitialized bytes in __interceptor_write")
    assert r.first_app_frame is not None and r.first_app_frame.function == "journal_append"


# --- lsan ----------------------------------------------------------------------------------------


def test_lsan_leaks_and_objects() -> None:
    (r,) = parse_text(read("lsan", "standalone-report-objects"))
    assert r.crash_kind == "memory-leak"
    assert [(leak["kind"], leak["bytes"]) for leak in r.extra["leaks"]] == [
        ("direct", 1000),
        ("direct", 48),
        ("indirect", 192),
        ("indirect", 18),
    ]
    assert r.extra["leaked_objects"][0] == {"address": "0x618000000000", "bytes": 1000}
    assert r.extra["total_bytes"] == 1258
    assert r.first_app_frame is not None and r.first_app_frame.function == "xmalloc"


def test_lsan_picks_largest_direct_leak() -> None:
    text = (
        "==1==ERROR: LeakSanitizer: detected memory leaks\n\n"
        "Indirect leak of 4000 byte(s) in 1 object(s) allocated from:\n"
        "    #0 0x1 in malloc (/usr/lib/liblsan.so.0+0x1)\n"
        "    #1 0x2 in big_child /src/a.c:1\n\n"
        "Direct leak of 8 byte(s) in 1 object(s) allocated from:\n"
        "    #0 0x1 in malloc (/usr/lib/liblsan.so.0+0x1)\n"
        "    #1 0x3 in small /src/a.c:2\n\n"
        "Direct leak of 64 byte(s) in 2 object(s) allocated from:\n"
        "    #0 0x1 in malloc (/usr/lib/liblsan.so.0+0x1)\n"
        "    #1 0x4 in larger /src/a.c:3\n\n"
        "SUMMARY: LeakSanitizer: 4072 byte(s) leaked in 4 allocation(s).\n"
    )
    (r,) = parse_text(text)
    assert r.first_app_frame is not None and r.first_app_frame.function == "larger"
    assert r.message == "Direct leak of 64 byte(s) in 2 object(s)"


# --- sniffing, mixing, encodings, damage ---------------------------------------------------------


def test_sniff_scores() -> None:
    assert asan.sniff(read("asan", "double-free")) == 80
    assert lsan.sniff(read("lsan", "direct-and-indirect")) == 85
    assert tsan.sniff(read("tsan", "data-race-global")) == 85
    assert msan.sniff(read("msan", "heap-origin")) == 85
    assert ubsan.sniff(read("ubsan", "three-errors-no-stack")) == 75
    gdb_text = "Thread 1 received signal SIGSEGV, Segmentation fault.\n#0  0x0000 in Map::Update (this=0x0) at Map.cpp:12\n"
    assert all(m.sniff(gdb_text) == 0 for m in (asan, lsan, tsan, msan, ubsan))


def test_mixed_sanitizers_in_one_file() -> None:
    text = NO_STACK + "\n" + read("asan", "double-free") + "\n" + read("tsan", "data-race-global")
    assert [r.format for r in parse_text(text)] == ["ubsan", "asan", "tsan"]


def test_crlf_and_utf16_bytes() -> None:
    text = read("asan", "heap-buffer-overflow")
    want = parse_text(text)[0].to_json()
    assert parse_bytes(text.replace("\n", "\r\n").encode("utf-8"))[0].to_json() == want
    assert parse_bytes(text.encode("utf-16"))[0].to_json() == want
    assert parse_bytes(text.encode("utf-16-le"))[0].to_json() == want


def test_truncated_report_keeps_what_is_there() -> None:
    text = read("asan", "heap-use-after-free-cxx")
    cut = text[: text.index("    #1 ")]
    (r,) = parse_text(cut)
    assert r.crash_kind == "heap-use-after-free"
    assert [f.function for f in r.frames] == ["inventory::describe"]
    (banner_only,) = parse_text(text.splitlines()[1])
    assert banner_only.format == "asan" and banner_only.frames == ()


def test_parse_without_a_report_raises() -> None:
    for module in (asan, lsan, tsan, msan, ubsan):
        with pytest.raises(ParseError):
            module.parse("just a log line\n#0 not really\n")


def test_frames_behind_a_log_prefix() -> None:
    prefix = "[task 2024-05-01T10:00:00Z] 10:00:00     INFO - "
    text = "".join(
        prefix + line + "\n"
        for line in [
            "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020 at pc 0x1 bp 0x2 sp 0x3",
            "READ of size 4 at 0x6020 thread T0",
            "    #0 0x7f01 in Session::close() /builds/worker/src/session.cc:88:5",
            "    #1 0x7f02 in Server::reap() /builds/worker/src/server.cc:40:9",
            "issue #12 was similar",
            "SUMMARY: AddressSanitizer: heap-use-after-free /builds/worker/src/session.cc:88:5 in Session::close()",
        ]
    )
    (r,) = parse_text(text)
    assert [f.function for f in r.frames] == ["Session::close", "Server::reap"]
    assert r.crashing_thread.index == 0 and r.extra["access"] == "READ"
    assert r.extra["summary"].startswith("SUMMARY: AddressSanitizer: heap-use-after-free")


def test_hwasan_is_read_as_asan() -> None:
    text = (
        "==9==ERROR: HWAddressSanitizer: tag-mismatch on address 0x0042 at pc 0x5f00\n"
        "READ of size 4 at 0x0042 tags: 2c/00 (ptr/mem) in thread T0\n"
        "    #0 0x5f00 in Parser::next() /src/parser.cc:12:3\n"
    )
    (r,) = parse_text(text)
    assert (r.format, r.crash_kind, r.frames[0].function) == ("asan", "tag-mismatch", "Parser::next")


def test_runtime_error_without_location_is_not_a_ubsan_report() -> None:
    text = "worker: runtime error: queue closed\n" + NO_STACK
    assert [r.crash_kind for r in parse_text(text)] == ["nonnull-attribute"]
