"""``resign`` on a real SQLite store after a frame-list change: what moves, and that it says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.ingest.intake import ingest_bytes
from crashpilot.signature.rules import use_extra_lists
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.resign import resign


def gdb(*functions: str) -> bytes:
    lines = ['Thread 1 "worldserver" received signal SIGSEGV, Segmentation fault.']
    for i, fn in enumerate(functions):
        lines.append(
            f"#{i}  0x00000000011{i:05x} in {fn} (this=0x0) at /src/server/game/{fn.split('::')[0]}.cpp:{10 + i}"
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def lists(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "lists"
    folder.mkdir()
    yield folder
    use_extra_lists(None)


def groups(engine: Engine) -> dict[str, tuple[int, int, int | None]]:
    g = schema.crash_groups
    with engine.connect() as conn:
        rows = conn.execute(sa.select(g.c.signature, g.c.id, g.c.count, g.c.merged_into)).all()
    return {r.signature: (r.id, r.count, r.merged_into) for r in rows}


def test_resign_after_list_change_merges_splits_and_is_idempotent(
    engine: Engine, tmp_path: Path, lists: Path
) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    tail = ("Loot::Take", "Player::SendLoot", "WorldSession::HandleLoot")
    for data in (
        gdb("SafeCall::RunA", *tail),  # a project wrapper on top: two groups for one bug
        gdb("SafeCall::RunB", *tail),
        gdb("Hub::Dispatch", "Map::Update", "Map::Tick", "World::Update"),  # one group, two bugs
        gdb("Hub::Dispatch", "Map::Update", "Map::Tick", "Battleground::Update"),
    ):
        assert not ingest_bytes(engine, blobs, data, source="cli").quarantined
    before = groups(engine)
    assert len(before) == 3
    hub = before["SIGSEGV | Hub::Dispatch | Map::Update | Map::Tick"]
    assert hub[1] == 2

    (lists / "irrelevant.txt").write_text("^SafeCall::\n")
    (lists / "prefix.txt").write_text("^Hub::Dispatch$\n")
    use_extra_lists(lists)

    dry = resign(engine, dry_run=True)
    assert groups(engine) == before and len(dry.moves) == 4

    summary = resign(engine)
    assert [m.report_id for m in summary.moves] == [m.report_id for m in dry.moves]
    after = groups(engine)
    loot = after["SIGSEGV | Loot::Take | Player::SendLoot | WorldSession::HandleLoot"]
    assert loot[1] == 2 and loot[2] is None
    emptied = [gid for gid, count, into in after.values() if count == 0]
    assert len(emptied) == 1 and after_into(after, emptied[0]) == loot[0]
    assert summary.merged == {emptied[0]: loot[0]}
    world = after["SIGSEGV | Hub::Dispatch | Map::Update | Map::Tick | World::Update"]
    bg = after["SIGSEGV | Hub::Dispatch | Map::Update | Map::Tick | Battleground::Update"]
    assert world[1] == bg[1] == 1 and hub[0] in (world[0], bg[0])  # the old group keeps one share
    assert summary.split == {
        hub[0]: sorted(
            [
                "SIGSEGV | Hub::Dispatch | Map::Update | Map::Tick | Battleground::Update",
                "SIGSEGV | Hub::Dispatch | Map::Update | Map::Tick | World::Update",
            ]
        )
    }
    text = "\n".join(summary.lines())
    assert "4 moved" in text and "split into" in text and f"merged into #{loot[0]}" in text

    with engine.connect() as conn:
        r, e = schema.crash_reports, schema.events
        rows = conn.execute(sa.select(r.c.signature, r.c.parsed, r.c.group_id)).all()
        assert all(row.parsed["signature"] == row.signature for row in rows)
        assert all(row.parsed["signature_rules"] == summary.rules for row in rows)
        assert all(after[row.signature][0] == row.group_id for row in rows)
        moved = conn.execute(sa.select(sa.func.count()).where(e.c.kind == "resigned")).scalar_one()
        assert moved == 4
        jobs = conn.execute(sa.select(schema.jobs.c.group_id)).scalars().all()
        assert set(after[s][0] for s in after if s not in before) <= set(jobs)  # new groups get analysed

    again = resign(engine)
    assert again.moves == [] and again.unchanged == again.reports == 4 and groups(engine) == after


def after_into(after: dict[str, tuple[int, int, int | None]], gid: int) -> int | None:
    return next(into for g, _, into in after.values() if g == gid)


def test_resign_with_unchanged_rules_moves_nothing(engine: Engine, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    for path in sorted((Path(__file__).resolve().parents[1] / "data" / "crashes").glob("*/*.txt")):
        ingest_bytes(engine, blobs, path.read_bytes(), source="cli")
    before = groups(engine)
    summary = resign(engine)
    assert summary.reports >= 40 and summary.moves == [] and groups(engine) == before


def test_resign_gives_older_groups_their_fuzzy_keys(engine: Engine, blobs: BlobStore) -> None:
    """Groups stored before the fuzzy keys existed are compared again once resign has run."""
    frames = ("Loot::Take", "Player::SendLoot", "WorldSession::HandleLoot")
    assert not ingest_bytes(engine, blobs, gdb(*frames), source="cli").quarantined
    g = schema.crash_groups
    with engine.begin() as conn:
        (stored,) = conn.execute(sa.select(g.c.fuzzy_top, g.c.fuzzy_keys)).all()
        assert stored.fuzzy_top == "Loot::Take" and list(stored.fuzzy_keys) == list(frames)
        conn.execute(sa.update(g).values(fuzzy_top=None, fuzzy_keys=None))  # as an older version left it
    resign(engine)
    with engine.connect() as conn:
        (again,) = conn.execute(sa.select(g.c.fuzzy_top, g.c.fuzzy_keys)).all()
    assert again.fuzzy_top == "Loot::Take" and list(again.fuzzy_keys) == list(frames)
