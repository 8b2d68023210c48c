"""Intake against a real SQLite store, the real parsers and a real blob folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.flow import Outcome
from crashpilot.ingest.intake import ingest_bytes, ingest_file, part_sha
from crashpilot.ingest.limits import Limits
from crashpilot.ingest.watch import ingest_paths
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.groups import get_group, list_groups, stats
from crashpilot.store.reports import get_report, list_quarantine

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
GDB = (SAMPLES / "gdb-segv.txt").read_bytes()
ASAN = (SAMPLES / "asan-uaf.txt").read_bytes()


def count(engine: Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def test_new_report_creates_group_and_analyse_job(engine: Engine, blobs: BlobStore) -> None:
    res = ingest_bytes(engine, blobs, GDB, source="cli")
    assert not res.duplicate and not res.quarantined
    assert res.outcomes == (Outcome.NEW_GROUP,)
    assert blobs.read(res.sha256) == GDB
    with engine.connect() as conn:
        groups = list_groups(conn)
        assert len(groups) == 1
        g = groups[0]
        assert g["count"] == 1 and g["status"] == "new"
        assert g["signature"].startswith("SIGSEGV | Object::GetUInt32Value")
        assert g["first_seen"].endswith("Z") and g["first_seen"] == g["last_seen"]
        jobs = conn.execute(sa.select(schema.jobs.c.stage, schema.jobs.c.group_id)).all()
        assert [(j.stage, j.group_id) for j in jobs] == [("analyse", g["id"])]
        detail = get_group(conn, g["id"])
        assert detail is not None
        assert [r["id"] for r in detail["reports"]] == list(res.report_ids)
        assert [e["kind"] for e in detail["events"]] == ["created"]


def test_same_content_twice_is_one_report(engine: Engine, blobs: BlobStore, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.log"
    a.write_bytes(ASAN)
    b.write_bytes(ASAN)
    first = ingest_file(engine, blobs, a)
    second = ingest_file(engine, blobs, b)
    assert not first.duplicate and second.duplicate
    assert second.report_ids == first.report_ids and second.group_ids == first.group_ids
    assert count(engine, schema.crash_reports) == 1
    assert count(engine, schema.jobs) == 1
    with engine.connect() as conn:
        assert list_groups(conn)[0]["count"] == 1
        report = get_report(conn, first.report_ids[0])
        assert report is not None
        assert [e["kind"] for e in report["events"]] == ["ingested", "seen_again"]
        assert report["events"][1]["detail"] == {"source": str(b)}


def test_known_group_counts_and_collects_revisions(engine: Engine, blobs: BlobStore) -> None:
    r1 = ingest_bytes(engine, blobs, GDB, source="x")
    variant = GDB.replace(b"0x7fff7caf3c00", b"0x7fff11112222").replace(b"Revision", b"")
    r2 = ingest_bytes(engine, blobs, variant, source="y")
    assert r2.outcomes == (Outcome.KNOWN_GROUP,) and r2.group_ids == r1.group_ids
    with engine.connect() as conn:
        g = list_groups(conn)[0]
    assert g["count"] == 2
    assert count(engine, schema.jobs) == 1


def test_fixed_group_seen_again_regresses(engine: Engine, blobs: BlobStore) -> None:
    r1 = ingest_bytes(engine, blobs, ASAN, source="x")
    gid = r1.group_ids[0]
    with engine.begin() as conn:
        conn.execute(
            sa.update(schema.crash_groups).where(schema.crash_groups.c.id == gid).values(status="fixed")
        )
    r2 = ingest_bytes(engine, blobs, ASAN.replace(b"==4711==", b"==4712=="), source="y")
    assert r2.outcomes == (Outcome.REGRESSED,)
    with engine.connect() as conn:
        g = get_group(conn, gid)
    assert g is not None and g["status"] == "regressed"
    assert [e["kind"] for e in g["events"]] == ["created", "regressed"]
    assert count(engine, schema.jobs, schema.jobs.c.stage == "analyse") == 2


@pytest.mark.parametrize(
    ("data", "reason_part"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x00\x01\x02\x03binary\xff\xfe\x00" * 100, "binary"),
        (b"hello, this is not a crash report\n", "no known crash format"),
    ],
)
def test_bad_input_is_quarantined_and_kept(
    engine: Engine, blobs: BlobStore, data: bytes, reason_part: str
) -> None:
    res = ingest_bytes(engine, blobs, data, source="cli")
    assert res.quarantined and res.reason is not None and reason_part in res.reason
    assert "\n" not in res.reason
    assert blobs.read(res.sha256) == data
    with engine.connect() as conn:
        q = list_quarantine(conn)
        assert [r["id"] for r in q] == list(res.report_ids)
        assert stats(conn)["groups"] == 0


def test_oversize_text_and_dump_quarantined(engine: Engine, blobs: BlobStore, tmp_path: Path) -> None:
    limits = Limits(text_max_bytes=len(GDB) - 1, dump_max_bytes=64)
    big = tmp_path / "big.txt"
    big.write_bytes(GDB)
    res = ingest_file(engine, blobs, big, limits=limits)
    assert res.quarantined and res.reason is not None and "too large" in res.reason and "text" in res.reason
    dump = tmp_path / "big.dmp"
    dump.write_bytes(b"MDMP" + b"\x00" * 100)
    res2 = ingest_file(engine, blobs, dump, limits=limits)
    assert res2.quarantined and "dump limit of 64" in (res2.reason or "")
    assert blobs.read(res2.sha256) == dump.read_bytes()


def test_broken_dump_is_quarantined_with_the_reason(engine: Engine, blobs: BlobStore, tmp_path: Path) -> None:
    dump = tmp_path / "e34c629a654c_worldserver.exe_[7-10_18-36-20].dmp"
    dump.write_bytes(b"MDMP\x93\xa7" + bytes(range(256)) * 4)
    res = ingest_file(engine, blobs, dump)
    assert res.formats == ("minidump",) and res.quarantined
    assert res.reason is not None and res.reason.startswith("dump: ") and "stream" in res.reason
    assert blobs.read(res.sha256) == dump.read_bytes()


def test_several_reports_in_one_file(engine: Engine, blobs: BlobStore) -> None:
    other_bug = ASAN.replace(b"Unit::GetHealth", b"Creature::GetLoot").replace(b"==4711==", b"==4800==")
    data = ASAN + b"\n" + other_bug
    res = ingest_bytes(engine, blobs, data, source="cli")
    assert len(res.report_ids) == 2, res
    assert set(res.outcomes) == {Outcome.NEW_GROUP}
    with engine.connect() as conn:
        rows = (
            conn.execute(sa.select(schema.crash_reports).order_by(schema.crash_reports.c.id)).mappings().all()
        )
    assert rows[0]["sha256"] == res.sha256 and rows[1]["sha256"] == part_sha(res.sha256, 1)
    assert [r["parsed"]["part"] for r in rows] == [0, 1]
    assert all(r["parsed"]["blob_sha256"] == res.sha256 for r in rows)
    again = ingest_bytes(engine, blobs, data, source="cli")
    assert again.duplicate and count(engine, schema.crash_reports) == 2


def test_parser_bug_is_quarantined(engine: Engine, blobs: BlobStore) -> None:
    def broken(data: bytes, **_: object) -> list[object]:
        raise KeyError("boom")

    res = ingest_bytes(engine, blobs, GDB, source="cli", parse=broken)
    assert res.quarantined and res.reason == "parser error: KeyError('boom')"


def test_wheaty_revision_from_file_name(engine: Engine, blobs: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "3f33f776e3ba+_worldserver.exe_[2025_10_30_17_10_47].txt"
    path.write_bytes(ASAN)
    res = ingest_file(engine, blobs, path)
    with engine.connect() as conn:
        report = get_report(conn, res.report_ids[0])
        assert report is not None and report["revision"] == "3f33f776e3ba"
        assert report["parsed"]["extra"]["dirty_build"] is True
        assert report["parsed"]["revision"] == "3f33f776e3ba"
        assert list_groups(conn)[0]["revisions"] == ["3f33f776e3ba"]


def test_ingest_paths_pairs_dump_with_text(engine: Engine, blobs: BlobStore, tmp_path: Path) -> None:
    folder = tmp_path / "Crashes"
    (folder / "sub").mkdir(parents=True)
    (folder / "crash1.dmp").write_bytes(b"MDMP" + b"\x01" * 64)
    (folder / "crash1.txt").write_bytes(GDB)
    (folder / "lone.dmp").write_bytes(b"MDMP" + b"\x02" * 64)
    (folder / "sub" / "asan.log").write_bytes(ASAN)
    seen: list[tuple[int, int, str]] = []
    results = ingest_paths(engine, blobs, [folder], progress=lambda d, t, p, r: seen.append((d, t, p.name)))
    assert [s[:2] for s in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len(results) == 3
    with engine.connect() as conn:
        rows = {Path(r.source).name: r for r in conn.execute(sa.select(schema.crash_reports)).all()}
    assert set(rows) == {"crash1.txt", "lone.dmp", "asan.log"}
    assert rows["crash1.txt"].companion_sha256 == blobs.put(b"MDMP" + b"\x01" * 64)
    assert rows["lone.dmp"].format == "minidump" and rows["lone.dmp"].status == "quarantined"
    assert rows["asan.log"].status == "grouped"


def _events(engine: Engine, kind: str) -> list[sa.Row[Any]]:
    e = schema.events
    with engine.connect() as conn:
        return list(conn.execute(sa.select(e).where(e.c.kind == kind).order_by(e.c.id)))


def test_batches_store_each_content_once_and_count_groups_exactly(
    engine: Engine, blobs: BlobStore, tmp_path: Path
) -> None:
    before = ingest_bytes(engine, blobs, ASAN, source="earlier")
    folder = tmp_path / "in"
    folder.mkdir()
    gdb_variant = GDB.replace(b"0x7fff7caf3c00", b"0x7fff11112222")
    files = {
        "a1.txt": GDB,
        "a2.txt": gdb_variant,  # same bug, other addresses: same group
        "a3.txt": GDB,  # same bytes as a1, in the same batch: one report
        "b1.txt": ASAN,  # stored before the batch: seen again
        "c1.txt": b"not a crash at all\n",
        "d1.txt": gdb_variant.replace(b"0x7fff11112222", b"0x7fff33334444"),
        "d2.txt": GDB,  # same bytes as a1, in a later batch
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    results = ingest_paths(engine, blobs, [folder], batch_size=3)
    by_name = {Path(r.source).name: r for r in results}
    assert sorted(by_name) == sorted(files)
    assert [n for n, r in sorted(by_name.items()) if r.duplicate] == ["a3.txt", "b1.txt", "d2.txt"]
    assert by_name["a3.txt"].report_ids == by_name["a1.txt"].report_ids == by_name["d2.txt"].report_ids
    assert by_name["b1.txt"].report_ids == before.report_ids
    assert by_name["c1.txt"].quarantined and "no known crash format" in (by_name["c1.txt"].reason or "")
    assert by_name["a1.txt"].outcomes == (Outcome.NEW_GROUP,)
    assert by_name["a2.txt"].outcomes == by_name["d1.txt"].outcomes == (Outcome.KNOWN_GROUP,)
    assert count(engine, schema.crash_reports) == 5  # ASAN, GDB, 2 variants, garbage
    with engine.connect() as conn:
        counts = {g["signature"].split(" | ")[0]: g["count"] for g in list_groups(conn)}
    assert sorted(counts.values()) == [1, 3]
    assert count(engine, schema.jobs) == 2
    again = _events(engine, "seen_again")
    assert sorted(Path(e.detail["source"]).name for e in again) == ["a3.txt", "b1.txt", "d2.txt"]
    assert all(blobs.read(r.sha256) == files[Path(r.source).name] for r in results)


def test_a_fixed_group_regresses_once_in_a_batch(engine: Engine, blobs: BlobStore, tmp_path: Path) -> None:
    gid = ingest_bytes(engine, blobs, ASAN, source="x").group_ids[0]
    with engine.begin() as conn:
        conn.execute(
            sa.update(schema.crash_groups).where(schema.crash_groups.c.id == gid).values(status="fixed")
        )
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"r{i}.txt").write_bytes(ASAN.replace(b"==4711==", f"=={5000 + i}==".encode()))
    results = ingest_paths(engine, blobs, [folder])
    assert [r.outcomes for r in results] == [
        (Outcome.REGRESSED,),
        (Outcome.KNOWN_GROUP,),
        (Outcome.KNOWN_GROUP,),
    ]
    with engine.connect() as conn:
        g = get_group(conn, gid)
    assert g is not None and g["status"] == "regressed" and g["count"] == 4
    assert [e["kind"] for e in g["events"]] == ["created", "regressed"]
    assert count(engine, schema.jobs, schema.jobs.c.stage == "analyse") == 2


def test_a_failing_batch_is_taken_one_by_one(
    engine: Engine, blobs: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crashpilot.ingest import batch as batch_mod

    def broken(*_: object, **__: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(batch_mod, "write_planned", broken)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_bytes(GDB)
    (folder / "b.txt").write_bytes(ASAN)
    (folder / "c.txt").write_bytes(b"")
    results = ingest_paths(engine, blobs, [folder])
    assert [Path(r.source).name for r in results] == ["a.txt", "b.txt", "c.txt"]
    assert [bool(r.group_ids) for r in results] == [True, True, False]
    assert results[2].reason == "empty input"
    assert count(engine, schema.crash_reports) == 3 and not any(r.duplicate for r in results)


def test_tracked_batch_skips_unchanged_files(engine: Engine, blobs: BlobStore, tmp_path: Path) -> None:
    from crashpilot.ingest.batch import ingest_batch
    from crashpilot.ingest.plan import IngestOptions

    paths = [tmp_path / "a.txt", tmp_path / "b.txt"]
    paths[0].write_bytes(GDB)
    paths[1].write_bytes(ASAN)
    first = ingest_batch(engine, blobs, paths, IngestOptions(), track=True)
    assert all(t.result is not None and not t.result.duplicate for t in first)
    with engine.connect() as conn:
        ledger = {r.path: r.sha256 for r in conn.execute(sa.select(schema.watched_files))}
    assert ledger == {str(p): t.result.sha256 for p, t in zip(paths, first, strict=True) if t.result}
    second = ingest_batch(engine, blobs, paths, IngestOptions(), track=True)
    assert [t.result for t in second] == [None, None]
    paths[1].write_bytes(ASAN + b"\n")  # rewritten: taken again
    third = ingest_batch(engine, blobs, paths, IngestOptions(), track=True)
    assert third[0].result is None and third[1].result is not None and not third[1].result.duplicate
