"""The pure minidump reader on a real Breakpad dump, on a small Windows-layout dump built here
(struct-packed from the documented MINIDUMP_* layouts, to reach the RSDS / x86-64 CONTEXT /
access-violation paths a Linux dump has not), and on truncated and mutated dumps."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashpilot.errors import ParseError
from crashpilot.formats import finish
from crashpilot.formats.minidump import elf_debug_id, read_minidump, to_report

DUMPS = Path(__file__).resolve().parents[1] / "data" / "dumps"
DMP = (DUMPS / "breakpad_crash.dmp").read_bytes()
TEXT = (DUMPS / "breakpad_crash.stackwalk.txt").read_text()
MACHINE = (DUMPS / "breakpad_crash.stackwalk-m.txt").read_text()


def _stackwalk_modules() -> dict[str, tuple[str, int, int]]:
    """name -> (debug id, base, last address) from the ``Module|`` lines Breakpad printed."""
    out = {}
    for line in MACHINE.splitlines():
        if line.startswith("Module|"):
            f = line.split("|")
            out[f[1]] = (f[4], int(f[5], 16), int(f[6], 16))
    return out


def test_real_dump_matches_what_minidump_stackwalk_said() -> None:
    info = read_minidump(DMP)
    assert (info.os, info.cpu) == ("Linux", "amd64")
    assert info.exception_name == "SIGSEGV"
    assert info.exception_flags == 1  # SEGV_MAPERR
    assert info.exception_address == int(re.search(r"Crash address: (0x\w+)", TEXT).group(1), 16)
    expected = _stackwalk_modules()
    assert [m.basename for m in info.modules] == list(expected)
    for m in info.modules:
        debug_id, base, last = expected[m.basename]
        assert (m.debug_id, m.base, m.base + m.size - 1) == (debug_id, base, last)
        assert m.debug_file == m.basename
    rip = int(re.search(r"rip = (0x[0-9a-f]+)", TEXT).group(1), 16)
    assert info.crash_instruction == rip
    assert len(info.threads) == len(re.findall(r"^Thread \d+", TEXT, re.M))
    assert info.crashing_thread_id == info.threads[0].thread_id
    assert info.threads[0].instruction_pointer == rip


def test_real_dump_report_without_stackwalker() -> None:
    info = read_minidump(DMP)
    report = finish(to_report(info))
    main = info.modules[0]
    assert report.format == "minidump"
    assert report.crash_kind == "SIGSEGV"
    assert report.message == "SIGSEGV /SEGV_MAPERR at 0x0"
    [frame] = report.frames
    assert frame.function is None
    assert frame.module == "breakpad_crash"
    assert int(frame.module_offset, 16) == info.crash_instruction - main.base
    assert report.first_app_frame is not None and report.first_app_frame.module == "breakpad_crash"
    assert report.signature == f"SIGSEGV | breakpad_crash+{frame.module_offset}"
    assert report.extra["needs_symbols"] is True
    missing = [m["name"] for m in report.extra["missing_symbols"]]
    assert missing == [m.basename for m in info.modules]
    with_syms = to_report(info, symbolized={"breakpad_crash"})
    assert "breakpad_crash" not in [m["name"] for m in with_syms.extra["missing_symbols"]]


def test_elf_debug_id_is_breakpads_guid_form() -> None:
    # the GNU build id `readelf -n` showed for the binary that wrote breakpad_crash.dmp
    build_id = bytes.fromhex("936cff818ee58cc63ee216b8469c43be457a377e")
    assert elf_debug_id(build_id) == "81FF6C93E58EC68C3EE216B8469C43BE0"


# -- a Windows-layout dump built from the documented structures ---------------------------------


def _utf16(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return struct.pack("<I", len(raw)) + raw + b"\0\0"


def windows_dump(*, rip: int = 0x140001234, code: int = 0xC0000005, data_address: int = 0x18) -> bytes:
    """Header, directory, SystemInfo (AMD64, Win32 NT), ModuleList (one module with an RSDS
    record), ThreadList (one thread), Exception with an AMD64 CONTEXT holding ``rip``."""
    blobs: list[bytes] = []
    offset = 32 + 12 * 4

    def place(data: bytes) -> int:
        nonlocal offset
        at = offset
        blobs.append(data)
        offset += len(data)
        return at

    name_rva = place(_utf16("C:\\srv\\worldserver.exe"))
    guid = struct.pack("<IHH", 0x12345678, 0x9ABC, 0xDEF0) + bytes(range(8))
    cv = b"RSDS" + guid + struct.pack("<I", 3) + b"worldserver.pdb\0"
    cv_rva = place(cv)
    context = bytearray(1232)
    struct.pack_into("<Q", context, 0xF8, rip)
    ctx_rva = place(bytes(context))
    sysinfo = struct.pack(
        "<HHHBBIIII",
        9,
        6,
        0,
        4,
        1,
        10,
        0,
        19041,
        2,
    ) + bytes(28)
    sys_rva = place(sysinfo)
    module = struct.pack("<QIIII", 0x140000000, 0x20000, 0, 0, name_rva) + bytes(52)
    module += struct.pack("<II", len(cv), cv_rva) + struct.pack("<II", 0, 0) + bytes(16)
    assert len(module) == 108
    mod_rva = place(struct.pack("<I", 1) + module)
    thread = struct.pack("<IIIIQQII", 4242, 0, 0, 0, 0, 0x7FF000, 0x100, 0) + struct.pack(
        "<II", len(context), ctx_rva
    )
    assert len(thread) == 48
    thr_rva = place(struct.pack("<I", 1) + thread)
    params = [0, data_address] + [0] * 13
    exc = struct.pack("<IIIIQQII", 4242, 0, code, 0, 0, rip, 2, 0) + struct.pack("<15Q", *params)
    exc += struct.pack("<II", len(context), ctx_rva)
    assert len(exc) == 168
    exc_rva = place(exc)
    header = struct.pack("<4sIIIIIQ", b"MDMP", 0xA793, 4, 32, 0, 0, 0)
    directory = b"".join(
        struct.pack("<III", kind, size, rva)
        for kind, size, rva in (
            (7, len(sysinfo), sys_rva), (4, 4 + 108, mod_rva), (3, 4 + 48, thr_rva), (6, len(exc), exc_rva),
        )
    )  # fmt: skip
    return header + directory + b"".join(blobs)


def test_windows_layout_access_violation() -> None:
    info = read_minidump(windows_dump())
    assert (info.os, info.cpu) == ("Windows", "amd64")
    [module] = info.modules
    assert module.basename == "worldserver.exe"
    assert module.debug_file == "worldserver.pdb"
    assert module.debug_id == "123456789ABCDEF00001020304050607" + "3"
    assert info.crash_instruction == 0x140001234
    report = finish(to_report(info))
    assert report.crash_kind == "ACCESS_VIOLATION"
    assert report.exception_code == "C0000005"
    assert report.extra["crash_address"] == "0x18"  # the data address, not the instruction
    assert report.frames[0].module == "worldserver.exe"
    assert report.frames[0].module_offset == "0x1234"
    assert report.signature == "ACCESS_VIOLATION | worldserver.exe+0x1234"


def test_windows_layout_other_code_and_address_outside_modules() -> None:
    info = read_minidump(windows_dump(rip=0xDEAD0000, code=0xC00000FD))
    report = to_report(info)
    assert report.crash_kind == "STACK_OVERFLOW"
    assert report.frames[0].module is None and report.frames[0].address == "0xdead0000"


@pytest.mark.parametrize("data", [b"", b"MDMP", b"PMDM" + DMP[4:], DMP[:32], DMP[:200], DMP[: len(DMP) // 2]])
def test_truncated_or_foreign_data_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        read_minidump(data)


def test_bad_version_and_huge_counts_are_parse_errors() -> None:
    bad = bytearray(DMP)
    bad[4:8] = struct.pack("<I", 0x1234)
    with pytest.raises(ParseError, match="version"):
        read_minidump(bytes(bad))
    bad = bytearray(windows_dump())
    # module count of the ModuleList stream (4th directory entry's RVA is at 32 + 12 + 8)
    mod_rva = struct.unpack_from("<I", bad, 32 + 12 + 8)[0]
    struct.pack_into("<I", bad, mod_rva, 0xFFFFFFF)
    with pytest.raises(ParseError, match="modules"):
        read_minidump(bytes(bad))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_dumps_never_raise_anything_but_parse_error(data: st.DataObject) -> None:
    base = bytearray(data.draw(st.sampled_from([DMP, windows_dump()])))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, min(len(base) - 1, 4096)))
        base[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(base)))
    try:
        info = read_minidump(bytes(base[:cut]))
    except ParseError:
        return
    report = to_report(info)  # whatever was read must still make a report
    assert report.format == "minidump"
