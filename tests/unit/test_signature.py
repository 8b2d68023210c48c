"""Signatures: normalization, the frame lists, fallbacks, and splitting different bugs apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crashpilot.formats import parse_text
from crashpilot.models import CrashReport, Frame, Thread
from crashpilot.serial import report_from_json
from crashpilot.signature import frame_key, frame_keys, make_signature, signature_frames
from crashpilot.signature.normalize import normalize_function, normalize_offset
from crashpilot.signature.rules import lists_version, rules_version, use_extra_lists

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("static unsigned int Object::GetUInt32Value(unsigned short) const", "Object::GetUInt32Value"),
        (
            "std::vector<int, std::allocator<int> >::operator[](unsigned long) const",
            "std::vector<T>::operator[]",
        ),
        ("void Foo::bar<int>(int&) const &", "Foo::bar<T>"),
        ("Spell::_cast+2AC", "Spell::_cast"),
        ("foo(int) [clone .cold]", "foo"),
        ("foo [clone .isra.0] [clone .cold]", "foo"),
        ("Foo::{lambda(int)#2}::operator()(int) const", "Foo::{lambda}::operator()"),
        ("Foo::run()::$_3::operator()() const", "Foo::run"),
        ("int __cdecl main(int, char**)", "main"),
        ("operator new(unsigned long)", "operator new"),
        ("operator<<(std::ostream&, Foo const&)", "operator<<"),
        ("Foo::operator<(Foo const&) const", "Foo::operator<"),
        ("`anonymous namespace'::CrashFunction", "(anonymous)::CrashFunction"),
        ("(anonymous namespace)::x::y(int)", "(anonymous)::x::y"),
        ("Acore::ObjectUpdater::Visit<Creature>+7D", "Acore::ObjectUpdater::Visit<T>"),
        ("std::__cxx11::basic_string<char>::size[abi:cxx11]() const", "std::__cxx11::basic_string<T>::size"),
    ],
)
def test_normalize_function(raw: str, want: str) -> None:
    assert normalize_function(raw) == want


@pytest.mark.parametrize("raw", ["??", "0x00401000", "<unknown>", "[0x333208]", "", None])
def test_placeholders_are_no_function(raw: str | None) -> None:
    assert normalize_function(raw) is None


def test_offsets_compare_without_leading_zeros_or_case() -> None:
    assert normalize_offset("0x0001F00D") == normalize_offset("0x1f00d") == "0x1f00d"
    assert normalize_offset("0001:0004AC98") == "0001:0004ac98"
    a = Frame(module="C:\\srv\\worldserver.exe", module_offset="0x00027896", address="0x7ff6a0027896")
    b = Frame(module="/opt/worldserver.exe", module_offset="0x27896", address="0x140027896")
    assert frame_key(a) == frame_key(b) == "worldserver.exe+0x27896"


def _report(*frames: Frame, kind: str = "SIGSEGV", message: str | None = None) -> CrashReport:
    return CrashReport(
        format="gdb", crash_kind=kind, message=message, crashing_thread=Thread(0, None, frames)
    )


def _fn(name: str, in_app: bool = True) -> Frame:
    return Frame(function=name, in_app=in_app)


def test_depth_counts_meaningful_frames_only() -> None:
    r = _report(
        _fn("Object::GetUInt32Value"), _fn("Item::GetEnchantmentId"), _fn("Player::Apply"), _fn("A"), _fn("B")
    )
    assert signature_frames(r.frames, 1) == ["Object::GetUInt32Value", "Item::GetEnchantmentId"]
    assert make_signature(r, 2) == "SIGSEGV | Object::GetUInt32Value | Item::GetEnchantmentId | Player::Apply"


def test_irrelevant_abort_and_handler_frames_are_skipped() -> None:
    r = _report(
        _fn("raise", False),
        _fn("abort", False),
        _fn("Trinity::Assert"),
        _fn("WheatyExceptionReport::Handler"),
        _fn("Spell::_cast"),
        _fn("Spell::cast"),
        kind="assertion",
    )
    assert make_signature(r) == "assertion | Spell::_cast | Spell::cast"


def test_sentinel_drops_the_frames_above_it() -> None:
    handler = [_fn("PrintBacktrace"), _fn("MyCrashLogger::Dump"), _fn("<signal handler called>", False)]
    a = _report(*handler, _fn("Loot::Take"), _fn("Player::Loot"))
    b = _report(_fn("Loot::Take"), _fn("Player::Loot"))
    assert make_signature(a) == make_signature(b) == "SIGSEGV | Loot::Take | Player::Loot"
    pure = _report(_fn("abort", False), _fn("__cxa_pure_virtual", False), _fn("Unit::Update"), kind="SIGABRT")
    assert make_signature(pure) == "SIGABRT | __cxa_pure_virtual | Unit::Update"


def test_unsymbolized_frames_fall_back_to_module_offset_outside_runtimes() -> None:
    def unsym(*offsets: str) -> CrashReport:
        frames = [Frame(module="ntdll.dll", module_offset="0x9f00")]
        frames += [Frame(module="D:\\srv\\worldserver.exe", module_offset=o) for o in offsets]
        return _report(*frames, kind="ACCESS_VIOLATION")

    a, b, c = unsym("0x1a2b", "0x3c4d"), unsym("0x1a2b", "0x3c4d"), unsym("0x5555", "0x3c4d")
    assert make_signature(a) == "ACCESS_VIOLATION | worldserver.exe+0x1a2b | worldserver.exe+0x3c4d"
    assert make_signature(a) == make_signature(b) != make_signature(c)


def test_offset_only_signatures_carry_the_abort_message() -> None:
    frames = (
        Frame(module="libmysql.dll", module_offset="0x1b2d4"),
        Frame(module="worldserver.exe", module_offset="0x10"),
    )
    one = _report(
        *frames, kind="BREAKPOINT", message="Map.cpp:220 in Map::AddToGrid ASSERTION FAILED: cell.IsValid()"
    )
    two = _report(
        *frames, kind="BREAKPOINT", message="Spell.cpp:3512 in Spell::_cast ASSERTION FAILED: m_caster"
    )
    assert make_signature(one) != make_signature(two)
    assert "N in Map::AddToGrid" in make_signature(one)
    plain = _report(*frames, kind="ACCESS_VIOLATION", message="EXCEPTION_ACCESS_VIOLATION_READ at 0x0")
    assert make_signature(plain) == "ACCESS_VIOLATION | worldserver.exe+0x10"


def test_no_frames_uses_fault_module_then_message() -> None:
    r = CrashReport(
        format="wheaty",
        crash_kind="ACCESS_VIOLATION",
        extra={"fault_module": "C:\\a\\auth.exe", "fault_module_offset": "01:0004AC98"},
    )
    assert make_signature(r) == "ACCESS_VIOLATION | auth.exe+01:0004ac98"
    assert make_signature(CrashReport(format="x", crash_kind="abort", message="boom 42")) == "abort | boom N"
    assert make_signature(CrashReport(format="x")) == "crash | <no frames>"


WHEATY = """Exception code: {code}
Fault address:  00007FFB1F8FCF19 01:000000000001BF19 C:\\Windows\\System32\\KERNELBASE.dll

Call stack:
Address   Frame     Function      SourceFile
00007FFB1F8FCF19  0000009E2D7FE1F0  DebugBreak+2
00007FFB0A11C2D4  0000009E2D7FE220  0001:000000000001B2D4 C:\\tc\\bin\\libmysql.dll
00007FFB1D2A1E5A  0000009E2D7FE260  raise+1DA
00007FFB1D2A2F31  0000009E2D7FE290  abort+31
00007FF7C0E51A2B  0000009E2D7FE2D0  Trinity::Assert+1BB  C:\\tc\\src\\common\\Debugging\\Errors.cpp line 90
{frames}
"""


def _wheaty(code: str, *frames: tuple[str, str, int]) -> CrashReport:
    lines = [
        f"00007FF7C10A{i:04X}  0000009E2D7FE6A0  {fn}+2AC  C:\\tc\\src\\server\\game\\{src} line {line}"
        for i, (fn, src, line) in enumerate(frames)
    ]
    (report,) = parse_text(WHEATY.format(code=code, frames="\n".join(lines)))
    assert report.format == "wheaty"
    return report


def test_mysql_breakpoint_aborts_with_different_callers_split() -> None:
    spell = _wheaty(
        "80000003 BREAKPOINT", ("Spell::_cast", "Spell.cpp", 3512), ("Spell::cast", "Spell.cpp", 3390)
    )
    grid = _wheaty(
        "80000003 BREAKPOINT", ("Map::AddToGrid", "Map.cpp", 220), ("Map::AddToMap", "Map.cpp", 512)
    )
    again = _wheaty(
        "80000003 BREAKPOINT", ("Spell::_cast", "Spell.cpp", 3520), ("Spell::cast", "Spell.cpp", 3391)
    )
    assert spell.signature == "BREAKPOINT | Spell::_cast | Spell::cast"
    assert grid.signature == "BREAKPOINT | Map::AddToGrid | Map::AddToMap"
    assert again.signature == spell.signature  # line numbers do not split


def test_generic_top_frame_keeps_different_bugs_apart() -> None:
    gdb = (DATA.parent / "samples" / "gdb-segv.txt").read_text()
    (a,) = parse_text(gdb)
    (b,) = parse_text(gdb.replace("Item::GetEnchantmentId", "Item::GetStackCount"))
    assert a.signature.startswith("SIGSEGV | Object::GetUInt32Value | Item::GetEnchantmentId")
    assert b.signature.startswith("SIGSEGV | Object::GetUInt32Value | Item::GetStackCount")


def test_same_assertion_text_in_different_functions_splits() -> None:
    text = (
        "{file}:{line} in {fn} ASSERTION FAILED:\n  index < m_valuesCount || PrintIndexError(index, true)\n"
    )
    (a,) = parse_text(
        text.format(file="/src/server/game/Entities/Object/Object.cpp", line=617, fn="SetUInt32Value")
    )
    (b,) = parse_text(
        text.format(file="/src/server/game/Entities/Object/Object.cpp", line=301, fn="GetUInt32Value")
    )
    assert a.signature != b.signature and a.crash_kind == b.crash_kind == "assertion"


def test_frame_keys_skip_irrelevant_frames_without_depth_cut() -> None:
    r = _report(_fn("abort", False), *(_fn(f"F{i}") for i in range(12)))
    assert frame_keys(r.frames, 8) == [f"F{i}" for i in range(8)]


def _golden_reports() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted(DATA.glob("*/*.expected.json")):
        out.extend(json.loads(path.read_text(encoding="utf-8")))
    return out


def test_stored_json_gives_back_the_same_signature() -> None:
    """resign rebuilds reports from stored JSON: with unchanged rules nothing may move."""
    reports = _golden_reports()
    assert len(reports) > 40
    for parsed in reports:
        assert make_signature(report_from_json(parsed)) == parsed["signature"], parsed["signature"]


def test_extra_lists_change_signatures_and_version(tmp_path: Path) -> None:
    r = _report(_fn("Log::outCrash"), _fn("Loot::Take"), _fn("Player::Loot"))
    before, version = make_signature(r), lists_version()
    (tmp_path / "irrelevant.txt").write_text("^Log::outCrash$\n")
    try:
        use_extra_lists(tmp_path)
        assert make_signature(r) == "SIGSEGV | Loot::Take | Player::Loot" != before
        assert lists_version() != version and rules_version(3).endswith(".3")
    finally:
        use_extra_lists(None)
    assert make_signature(r) == before and lists_version() == version
