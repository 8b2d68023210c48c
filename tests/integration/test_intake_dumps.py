"""Dumps through intake, for real: the committed Breakpad minidump (pure reader, and a stand-in
stackwalker printing what the real one printed for it), an ELF core written by gdb from a program
built here, and a Wheaty text with no usable stack read from its companion dump."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.flow import Outcome
from crashpilot.ingest.dumps import SymbolOptions
from crashpilot.ingest.intake import ingest_bytes, ingest_file
from crashpilot.ingest.watch import ingest_paths
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.groups import list_groups
from crashpilot.store.reports import get_report

DATA = Path(__file__).resolve().parents[1] / "data"
DMP = DATA / "dumps" / "breakpad_crash.dmp"
WHEATY_BARE = DATA / "crashes" / "wheaty" / "ac_win32_release_unsymbolized.txt"
PROGS = Path(__file__).resolve().parent / "dumpprogs"
REV = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
OUR_FRAMES = ["game::WorldSession::ReadLevel", "game::WorldSession::HandleLogin", "main"]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "symbols"
    shutil.copytree(DATA / "dumps" / "symbols", root / REV)
    return root


def stand_in_stackwalker(tmp_path: Path, output: str) -> Path:
    """An executable that prints what the real minidump_stackwalk printed for DMP."""
    script = tmp_path / "bin" / "minidump_stackwalk"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!/bin/sh\ncat {DATA / 'dumps' / output}\n")
    script.chmod(0o755)
    return script


def report_of(engine: Engine, rid: int) -> dict[str, object]:
    with engine.connect() as conn:
        report = get_report(conn, rid)
    assert report is not None
    return report


def test_minidump_without_stackwalker_is_grouped_and_needs_symbols(
    engine: Engine, blobs: BlobStore, tmp_path: Path
) -> None:
    dump = tmp_path / "crash.dmp"
    shutil.copy(DMP, dump)
    symbols = SymbolOptions(stackwalker=str(tmp_path / "no-such-stackwalker"))
    res = ingest_file(engine, blobs, dump, symbols=symbols)
    assert not res.quarantined and res.formats == ("minidump",) and res.outcomes == (Outcome.NEW_GROUP,)
    report = report_of(engine, res.report_ids[0])
    parsed = report["parsed"]
    assert isinstance(parsed, dict) and parsed["extra"]["needs_symbols"] is True
    assert report["signature"] is not None and "breakpad_crash+0x" in str(report["signature"])
    # the same dump again (another name) is one report; as bytes through ingest_bytes too
    assert ingest_bytes(engine, blobs, DMP.read_bytes(), source="upload", symbols=symbols).duplicate


def test_minidump_symbolized_per_revision_from_its_file_name(
    engine: Engine, blobs: BlobStore, tmp_path: Path, store: Path
) -> None:
    dump = tmp_path / f"{REV[:12]}_worldserver.exe_[2025_10_30_17_10_47].dmp"
    shutil.copy(DMP, dump)
    walker = stand_in_stackwalker(tmp_path, "breakpad_crash.stackwalk.txt")
    res = ingest_file(engine, blobs, dump, symbols=SymbolOptions(folder=store, stackwalker=str(walker)))
    assert not res.quarantined and res.formats == ("minidump",)
    report = report_of(engine, res.report_ids[0])
    parsed = report["parsed"]
    assert isinstance(parsed, dict)
    functions = [f["function"] for f in parsed["crashing_thread"]["frames"]]
    assert functions[:3] == OUR_FRAMES
    assert report["revision"] == REV[:12]
    assert parsed["extra"]["symbolized_by"] == "minidump_stackwalk"
    with engine.connect() as conn:
        [group] = list_groups(conn)
    assert group["signature"].startswith("SIGSEGV") and "game::WorldSession::ReadLevel" in group["signature"]
    assert group["revisions"] == [REV[:12]]


def test_wheaty_text_without_a_stack_is_read_from_its_dump(
    engine: Engine, blobs: BlobStore, tmp_path: Path, store: Path
) -> None:
    folder = tmp_path / "Crashes"
    folder.mkdir()
    name = f"{REV[:12]}+_worldserver.exe_[2025_10_30_17_10_47]"
    shutil.copy(WHEATY_BARE, folder / f"{name}.txt")
    shutil.copy(DMP, folder / f"{name}.dmp")
    walker = stand_in_stackwalker(tmp_path, "breakpad_crash.stackwalk.txt")
    [res] = ingest_paths(
        engine, blobs, [folder], symbols=SymbolOptions(folder=store, stackwalker=str(walker))
    )
    assert not res.quarantined and res.formats == ("minidump",)
    with engine.connect() as conn:
        row = conn.execute(sa.select(schema.crash_reports)).one()
    assert row.companion_sha256 == blobs.put(DMP.read_bytes())
    assert row.revision == REV[:12]
    assert row.parsed["read_from"].startswith("companion dump")
    assert row.parsed["extra"]["dirty_build"] is True  # the '+' in the file name
    assert [f["function"] for f in row.parsed["crashing_thread"]["frames"]][:3] == OUR_FRAMES


def test_wheaty_text_keeps_its_own_report_when_the_dump_names_no_functions(
    engine: Engine, blobs: BlobStore, tmp_path: Path
) -> None:
    folder = tmp_path / "Crashes"
    folder.mkdir()
    shutil.copy(WHEATY_BARE, folder / "crash.txt")
    shutil.copy(DMP, folder / "crash.dmp")
    symbols = SymbolOptions(stackwalker=str(tmp_path / "no-such-stackwalker"))
    [res] = ingest_paths(engine, blobs, [folder], symbols=symbols)
    assert res.formats == ("wheaty",) and not res.quarantined
    with engine.connect() as conn:
        [group] = list_groups(conn)
    assert group["signature"].startswith("INTEGER_DIVIDE_BY_ZERO | worldserver.exe+")


@pytest.mark.skipif(
    not (shutil.which("gcc") and shutil.which("gdb")),
    reason="needs gcc and gdb to build a program and write its core",
)
def test_core_file_with_its_binary_names_our_functions(
    engine: Engine, blobs: BlobStore, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    run = {"cwd": build, "check": True, "capture_output": True, "timeout": 120}
    subprocess.run(["gcc", "-g", "-O0", "-o", "worldserver", str(PROGS / "core_crash.c")], **run)  # type: ignore[call-overload]
    folder = tmp_path / "Crashes"
    folder.mkdir()
    core = folder / "worldserver.core"
    gdb = [
        "gdb",
        "-batch",
        "-nx",
        "-ex",
        "run",
        "-ex",
        f"generate-core-file {core}",
        "-ex",
        "kill",
        "./worldserver",
    ]
    subprocess.run(gdb, **run)  # type: ignore[call-overload]
    assert core.is_file()
    symbols = SymbolOptions(binary=build / "worldserver", timeout=60)
    [res] = ingest_paths(engine, blobs, [folder], symbols=symbols)
    assert not res.quarantined and res.formats == ("core",)
    with engine.connect() as conn:
        [group] = list_groups(conn)
    assert group["signature"] == "SIGSEGV | read_level | handle_login | main"
    # without the binary the core still groups, by module + offset, and says symbols are missing
    bare = ingest_bytes(engine, blobs, core.read_bytes() + b"\0", source="x", kind="dump")
    assert bare.formats == ("core",) and not bare.quarantined
    parsed = report_of(engine, bare.report_ids[0])["parsed"]
    assert isinstance(parsed, dict) and parsed["extra"]["needs_symbols"] is True
