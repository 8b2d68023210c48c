"""The folder watcher with real watchdog observers (inotify and polling) on real files."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashpilot.ingest import watch as watch_mod
from crashpilot.ingest.intake import IngestResult
from crashpilot.ingest.limits import Limits
from crashpilot.ingest.watch import Watcher, WatchFolder
from crashpilot.store import schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.groups import list_groups

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
GDB = (SAMPLES / "gdb-segv.txt").read_bytes()
ASAN = (SAMPLES / "asan-uaf.txt").read_bytes()


class Seen:
    """Collects on_ingested calls (from the watcher thread)."""

    def __init__(self) -> None:
        self.items: list[tuple[Path, IngestResult, float]] = []
        self.lock = threading.Lock()

    def __call__(self, result: IngestResult) -> None:
        with self.lock:
            self.items.append((Path(result.source), result, time.monotonic()))

    def names(self) -> list[str]:
        with self.lock:
            return [p.name for p, _, _ in self.items]

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        until(lambda: len(self.items) >= n, timeout, f"{n} ingested, got {self.names()}")


def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    p = tmp_path / "Crashes"
    p.mkdir()
    return p


@pytest.fixture(params=[False, True], ids=["inotify", "polling"])
def poll(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def make_watcher(engine: Engine, blobs: BlobStore, folder: Path, seen: Seen, **kw: object) -> Watcher:
    kw.setdefault("settle_seconds", 0.3)
    kw.setdefault("poll_interval", 0.1)
    return Watcher(engine, blobs, [WatchFolder(folder, ("*.txt", "*.log", "*.dmp"))], on_ingested=seen, **kw)  # type: ignore[arg-type]


@pytest.fixture
def running(engine: Engine, blobs: BlobStore, folder: Path, poll: bool) -> Iterator[tuple[Watcher, Seen]]:
    seen = Seen()
    w = make_watcher(engine, blobs, folder, seen, poll=poll, dump_grace=0.5)
    w.start()
    assert w.polling is poll
    try:
        yield w, seen
    finally:
        w.stop()


def n_reports(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(schema.crash_reports)).scalar_one())


def test_slow_chunked_write_is_taken_once_after_close(
    running: tuple[Watcher, Seen], folder: Path, engine: Engine
) -> None:
    w, seen = running
    path = folder / "backtrace.log"
    chunks = [GDB[i : i + 200] for i in range(0, len(GDB), 200)]
    with open(path, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
            fh.flush()
            # Native mode: gaps longer than the settle time, so only the close event may finish it.
            # Polling: gaps shorter than the settle time, so the size keeps changing until the end.
            time.sleep(0.1 if w.polling else 0.45)
        closed_at = time.monotonic()
    seen.wait_for(1)
    time.sleep(0.5)
    assert seen.names() == ["backtrace.log"]
    _, result, at = seen.items[0]
    assert at >= closed_at
    assert not result.quarantined and result.size == len(GDB)
    assert n_reports(engine) == 1


def test_file_moved_into_folder(
    running: tuple[Watcher, Seen], folder: Path, tmp_path: Path, engine: Engine
) -> None:
    _, seen = running
    outside = tmp_path / "staging.txt"
    outside.write_bytes(ASAN)
    os.rename(outside, folder / "moved.txt")
    seen.wait_for(1)
    assert seen.items[0][1].group_ids
    assert (folder / "moved.txt").read_bytes() == ASAN  # never moved or deleted by us


def test_bad_files_quarantined_and_watcher_goes_on(
    engine: Engine, blobs: BlobStore, folder: Path, poll: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = Seen()
    w = make_watcher(engine, blobs, folder, seen, poll=poll, limits=Limits(text_max_bytes=4096))
    real = watch_mod.ingest_one

    def flaky(engine: Engine, blobs: BlobStore, path: Path, *a: object, **k: object) -> IngestResult | None:
        if path.name == "trips-intake.txt":
            raise RuntimeError("intake bug")
        return real(engine, blobs, path, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(watch_mod, "ingest_one", flaky)
    real_batch = watch_mod.ingest_batch

    def flaky_batch(engine: Engine, blobs: BlobStore, paths: list[Path], *a: object, **k: object) -> object:
        if any(p.name == "trips-intake.txt" for p in paths):
            raise RuntimeError("intake bug")  # the watcher then takes the files one by one
        return real_batch(engine, blobs, paths, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(watch_mod, "ingest_batch", flaky_batch)
    with w:
        (folder / "garbage.txt").write_bytes((SAMPLES / "garbage.txt").read_bytes())
        (folder / "empty.txt").write_bytes(b"")
        (folder / "binary.log").write_bytes(bytes(range(256)) * 8)
        (folder / "huge.txt").write_bytes(GDB * 10)
        (folder / "trips-intake.txt").write_bytes(ASAN + b"\n")
        seen.wait_for(5)
        (folder / "good.txt").write_bytes(GDB)
        seen.wait_for(6)
    results = {p.name: r for p, r, _ in seen.items}
    assert results["good.txt"].group_ids and not results["good.txt"].quarantined
    reasons = {name: r.reason for name, r in results.items() if name != "good.txt"}
    assert all(results[n].quarantined for n in reasons)
    assert "no known crash format" in (reasons["garbage.txt"] or "")
    assert reasons["empty.txt"] == "empty input"
    assert "binary" in (reasons["binary.log"] or "")
    assert "too large" in (reasons["huge.txt"] or "")
    assert reasons["trips-intake.txt"] == "intake error: RuntimeError: intake bug"
    assert all(p.exists() for p in folder.iterdir())  # nothing moved or deleted


def test_dump_pairs_with_text_and_lone_dump_waits_for_grace(
    running: tuple[Watcher, Seen], folder: Path, engine: Engine
) -> None:
    _, seen = running
    (folder / "crash_a.dmp").write_bytes(b"MDMP" + b"\x07" * 100)
    time.sleep(0.2)
    (folder / "crash_a.txt").write_bytes(GDB)
    (folder / "crash_b.dmp").write_bytes(b"MDMP" + b"\x08" * 100)
    seen.wait_for(2)
    time.sleep(0.7)
    assert sorted(seen.names()) == ["crash_a.txt", "crash_b.dmp"]
    with engine.connect() as conn:
        rows = {Path(r.source).name: r for r in conn.execute(sa.select(schema.crash_reports))}
    assert rows["crash_a.txt"].companion_sha256 is not None and rows["crash_a.txt"].status == "grouped"
    # not a readable minidump: symbolizing it fails, and it is quarantined with the reason
    assert rows["crash_b.dmp"].format == "minidump" and rows["crash_b.dmp"].reason.startswith("dump: ")


def test_start_scan_and_restart(engine: Engine, blobs: BlobStore, folder: Path, poll: bool) -> None:
    (folder / "old1.txt").write_bytes(GDB)
    (folder / "old2.log").write_bytes(ASAN)
    (folder / "ignored.core.json").write_bytes(b"{}")
    past = time.time() - 60
    for p in folder.iterdir():
        os.utime(p, (past, past))
    seen = Seen()
    with make_watcher(engine, blobs, folder, seen, poll=poll):
        seen.wait_for(2)
    assert sorted(seen.names()) == ["old1.txt", "old2.log"]
    # Stopped: one file rewritten in place with new content, one added, one only touched.
    (folder / "old1.txt").write_bytes(GDB.replace(b"index=22", b"index=23"))
    (folder / "new.txt").write_bytes(ASAN.replace(b"==4711==", b"==9999=="))
    seen2 = Seen()
    with make_watcher(engine, blobs, folder, seen2, poll=poll):
        seen2.wait_for(2)
        time.sleep(0.5)
    assert sorted(seen2.names()) == ["new.txt", "old1.txt"]
    assert n_reports(engine) == 4
    seen3 = Seen()
    with make_watcher(engine, blobs, folder, seen3, poll=poll):
        time.sleep(0.6)
    assert seen3.names() == []


def storm_text(bug: int, rng: random.Random) -> bytes:
    """A gdb report of one of three bugs, with addresses and arguments that vary every time."""
    funcs = [
        ("Spell::EffectHeal", "Spells/SpellEffects.cpp"),
        ("Map::RemoveFromMap", "Maps/Map.cpp"),
        ("Creature::Update", "Entities/Creature/Creature.cpp"),
    ][bug]
    lines = ['Thread 1 "worldserver" received signal SIGSEGV, Segmentation fault.', ""]
    stack = [
        funcs,
        ("World::UpdateSessions", "World/World.cpp"),
        ("WorldRunnable::run", "worldserver/Main.cpp"),
    ]
    for i, (fn, file) in enumerate(stack):
        addr = rng.randrange(0x400000, 0x7FFFFFFFFFFF)
        this = rng.randrange(0x7F0000000000, 0x7FFFFFFFFFFF)
        lines.append(
            f"#{i}  0x{addr:016x} in {fn} (this=0x{this:x}, diff={rng.randrange(1, 500)}) "
            f"at /home/tc/src/server/game/{file}:{rng.randrange(10, 4000)}"
        )
    return ("\n".join(lines) + "\n").encode()


def test_crash_storm_three_bugs(engine: Engine, blobs: BlobStore, folder: Path) -> None:
    rng = random.Random(7)
    expected = [0, 0, 0]
    for i in range(300):
        bug = rng.choice([0, 0, 0, 1, 1, 2])
        expected[bug] += 1
        (folder / f"crash_{i:04d}.log").write_bytes(storm_text(bug, rng))
    seen = Seen()
    with make_watcher(engine, blobs, folder, seen, settle_seconds=0.0):
        seen.wait_for(300, timeout=60)
    with engine.connect() as conn:
        groups = list_groups(conn)
        jobs = conn.execute(sa.select(sa.func.count()).select_from(schema.jobs)).scalar_one()
    assert sorted(g["count"] for g in groups) == sorted(expected)
    assert jobs == 3
    assert all(g["signature"].startswith("SIGSEGV | ") for g in groups)


def test_watcher_survives_missing_file(running: tuple[Watcher, Seen], folder: Path) -> None:
    _, seen = running
    tmp = folder / "vanishes.txt"
    with open(tmp, "wb") as fh:  # removed before it is closed: the close event names a gone file
        fh.write(GDB)
        fh.flush()
        tmp.unlink()
    (folder / "stays.txt").write_bytes(ASAN)
    seen.wait_for(1)
    time.sleep(0.4)
    assert seen.names() == ["stays.txt"]
