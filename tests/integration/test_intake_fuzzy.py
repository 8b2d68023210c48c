"""The fuzzy stage inside intake: a near-identical new group joins an open one; the rest split."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from crashpilot.ingest.intake import ingest_bytes
from crashpilot.store import migrate, schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import make_engine


def gdb_text(frames: list[str], addr: str = "0x0000555555555000") -> bytes:
    lines = ["Program terminated with signal SIGSEGV, Segmentation fault."]
    for i, fn in enumerate(frames):
        lines.append(f"#{i}  {addr[:-3]}{i:03x} in {fn} (this=0x0) at /build/game/src/server/{fn.split('::')[0]}.cpp:{100 + i}")
    return ("\n".join(lines) + "\n").encode()


def test_near_identical_stack_joins_and_queues_no_second_analysis(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    blobs = BlobStore(tmp_path / "blobs")
    base = [f"Game::Step{i}" for i in range(1, 9)]
    variant = base[:2] + ["Game::Other3"] + base[3:]  # third frame differs: another exact signature
    unrelated = ["Loot::Roll"] + base[1:]  # another top frame: never joined

    first = ingest_bytes(engine, blobs, gdb_text(base), source="a")
    second = ingest_bytes(engine, blobs, gdb_text(variant, "0x00007fff00001000"), source="b")
    third = ingest_bytes(engine, blobs, gdb_text(unrelated), source="c")

    g, j = schema.crash_groups, schema.jobs
    with engine.connect() as conn:
        groups = {r.id: r for r in conn.execute(sa.select(g))}
        analyse_jobs = {r.group_id for r in conn.execute(sa.select(j.c.group_id).where(j.c.stage == "analyse"))}
    (a,), (b,), (c,) = first.group_ids, second.group_ids, third.group_ids
    assert len({a, b, c}) == 3  # three exact signatures
    assert groups[b].merged_into == a and groups[b].status == "merged"
    assert "joined group" in groups[b].status_reason and groups[b].merge_reason
    assert groups[c].merged_into is None and groups[c].status == "new"
    assert analyse_jobs == {a, c}
