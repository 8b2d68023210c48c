"""Grouping through real intake into a real SQLite store: one bug one group, two bugs two.

The fuzzy stage is tested on a gdb and an ASan report of one real bug, made here by the real
compiler, the real program and real gdb.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.formats import parse_bytes
from crashpilot.ingest.intake import ingest_bytes
from crashpilot.signature.fuzzy import join_new_group, resolve, rolled_up_counts
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import write_transaction

TESTS = Path(__file__).resolve().parents[1]
CORPUS = TESTS.parents[1] / "shared" / "corpus" / "crashes"
GDB = (TESTS / "data" / "samples" / "gdb-segv.txt").read_text()


def ingest(engine: Engine, blobs: BlobStore, text: str | bytes) -> int:
    data = text.encode() if isinstance(text, str) else text
    result = ingest_bytes(engine, blobs, data, source="cli")
    assert not result.quarantined, result
    with engine.connect() as conn:
        r = schema.crash_reports
        gid = conn.execute(sa.select(r.c.group_id).where(r.c.sha256 == result.sha256)).scalar_one()
    return int(gid)


def test_corpus_reports_sharing_object_getuint32value_stay_apart(engine: Engine, blobs: BlobStore) -> None:
    names = ["tc-14296", "tc-21628", "arcemu-231"]
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}")
    groups = [ingest(engine, blobs, (CORPUS / f"{n}.txt").read_bytes()) for n in names]
    assert len(set(groups)) == 3
    with engine.connect() as conn:
        sigs = conn.execute(sa.select(schema.crash_groups.c.signature)).scalars().all()
    assert all("Object::GetUInt32Value" in s for s in sigs)


def _rebased(text: str, shift: int) -> str:
    return re.sub(r"0x([0-9a-f]{12,16})", lambda m: hex(int(m.group(1), 16) + shift), text)


def test_same_crash_with_other_absolute_addresses_is_one_group(engine: Engine, blobs: BlobStore) -> None:
    first = ingest(engine, blobs, GDB)
    second = ingest(engine, blobs, _rebased(GDB, 0x7F0000))
    assert first == second
    with engine.connect() as conn:
        assert conn.execute(sa.select(schema.crash_groups.c.count)).scalar_one() == 2


def _unsymbolized(offsets: list[int], base: int) -> str:
    head = "Exception code: C0000005 ACCESS_VIOLATION\n\nCall stack:\nAddress   Frame     Function      SourceFile\n"
    rows = [f"{base + off:08X}  00000000  0001:{off:08X} D:\\srv\\worldserver.exe" for off in offsets] + [
        f"{0x75000000 + 0x1E989:08X}  00000000  0001:0001E989 C:\\Windows\\SYSTEM32\\KERNEL32.DLL"
    ]
    return head + "\n".join(rows) + "\n"


def test_unsymbolized_crashes_split_by_module_offset_and_join_across_bases(
    engine: Engine, blobs: BlobStore
) -> None:
    a = ingest(engine, blobs, _unsymbolized([0x31A1B4, 0x319F02, 0x10D3E5], 0x00400000))
    rebased = ingest(engine, blobs, _unsymbolized([0x31A1B4, 0x319F02, 0x10D3E5], 0x01200000))
    other = ingest(engine, blobs, _unsymbolized([0x2210C0, 0x319F02, 0x10D3E5], 0x00400000))
    assert a == rebased != other


def _real_reports(tmp_path: Path) -> tuple[str, str]:
    """A gdb backtrace and an ASan report of the same null dereference, made for real."""
    if not (shutil.which("gcc") and shutil.which("gdb")):
        pytest.fail("gcc and gdb are needed (CI installs them)")
    src = tmp_path / "segv.c"
    src.write_text((TESTS / "data" / "crashes" / "asan" / "segv-null.c").read_text())
    subprocess.run(["gcc", "-g", "-O0", str(src), "-o", str(tmp_path / "plain")], check=True)
    subprocess.run(
        ["gcc", "-g", "-O0", "-fsanitize=address", str(src), "-o", str(tmp_path / "asan")], check=True
    )
    gdb = subprocess.run(
        ["gdb", "-batch", "-nx", "-ex", "run", "-ex", "bt", str(tmp_path / "plain")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    asan = subprocess.run(
        [str(tmp_path / "asan")], capture_output=True, text=True, timeout=60, check=False
    ).stderr
    return gdb, asan


def test_fuzzy_joins_gdb_and_asan_of_one_bug_and_keeps_another_bug_apart(
    engine: Engine, blobs: BlobStore, tmp_path: Path
) -> None:
    gdb, asan = _real_reports(tmp_path)
    (g,), (a,) = parse_bytes(gdb.encode()), parse_bytes(asan.encode())
    assert (g.format, a.format) == ("gdb", "asan")
    assert g.signature != a.signature  # SIGSEGV vs SEGV: the exact key keeps formats apart
    first = ingest(engine, blobs, gdb)
    second = ingest(engine, blobs, asan)
    assert first != second
    with write_transaction(engine) as conn:
        join = join_new_group(conn, second, a)
    assert join is not None and join.target_id == first
    assert "same top frame target_level" in join.reason and "SEGV ~ SIGSEGV" in join.reason
    # A different bug with the same top frame but other callers is not joined.
    other_text = re.sub(r"main \(\)", "load_realm ()", gdb)
    (o,) = parse_bytes(other_text.encode())
    third = ingest(engine, blobs, other_text)
    assert third not in (first, second)
    with write_transaction(engine) as conn:
        assert join_new_group(conn, third, o) is None
    with engine.connect() as conn:
        g_ = schema.crash_groups
        row = conn.execute(sa.select(g_.c.merged_into, g_.c.merge_reason).where(g_.c.id == second)).one()
        assert row.merged_into == first and row.merge_reason == join.reason
        assert (
            conn.execute(
                sa.select(schema.crash_reports.c.signature).where(schema.crash_reports.c.group_id == second)
            ).scalar_one()
            == a.signature
        )  # key stays pre-fuzzy
        assert resolve(conn, second) == first and resolve(conn, third) == third
        assert rolled_up_counts(conn) == {first: 2, third: 1}
        kinds = (
            conn.execute(
                sa.select(schema.events.c.kind).where(
                    schema.events.c.entity == "group", schema.events.c.entity_id == second
                )
            )
            .scalars()
            .all()
        )
        assert "merged" in kinds
