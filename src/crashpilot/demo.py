"""``crashpilot demo``: the main job on the embedded default, on bundled sample crashes.

A throw-away home (SQLite, local folders), the real watcher on a crash folder, the sample crash
files written into it one by one as a crashing server would, the real workers moving each new
group through the pipeline, then the groups as ``crashpilot groups`` shows them.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from crashpilot import app as appmod
from crashpilot.settings import load
from crashpilot.store.groups import list_groups, stats
from crashpilot.store.reports import list_quarantine

Out = Callable[[str], None]


def sample_files() -> list[tuple[str, bytes]]:
    folder = resources.files("crashpilot.samples").joinpath("crashes")
    return sorted((f.name, f.read_bytes()) for f in folder.iterdir() if f.is_file())


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def main(home: Path | None = None, keep: bool = False, out: Out = print) -> int:
    made = home is None
    home = home or Path(tempfile.mkdtemp(prefix="crashpilot-demo-"))
    crashes = home / "incoming-crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    settings = load(env={}, flags={"home": str(home), "watch.settle_seconds": 0.3}, search_from=home)
    app = appmod.open_app(settings)
    out(f"crashpilot demo: home {home} (SQLite), watching {crashes}")
    taken: list[Any] = []
    lock = threading.Lock()

    def on_ingested(result: Any) -> None:
        with lock:
            taken.append(result)
        if result.quarantined:
            out(f"  quarantined {Path(result.source).name}: {result.reason}")
        elif not result.duplicate:
            out(f"  ingested    {Path(result.source).name} -> group {', '.join(map(str, result.group_ids))}")

    stop = threading.Event()
    runner = threading.Thread(target=appmod.run, args=(app, stop), kwargs={"extra_watch": [str(crashes)], "on_ingested": on_ingested}, daemon=True)
    started = time.monotonic()
    runner.start()
    samples = sample_files()
    try:
        time.sleep(0.3)  # let the watcher's observer start
        for name, data in samples:
            out(f"crash written: {name}")
            target = crashes / name
            with open(target, "wb") as fh:  # written in pieces, as a crashing process does
                for i in range(0, len(data), 512):
                    fh.write(data[i : i + 512])
                    fh.flush()
        if not _wait(lambda: len(taken) >= len(samples), 30):
            out(f"demo: only {len(taken)} of {len(samples)} files were taken in within 30 s")
            return 1

        def idle() -> bool:
            with app.engine.connect() as conn:
                jobs = stats(conn)["jobs_by_status"]
            return not jobs.get("queued") and not jobs.get("running")

        if not _wait(idle, 60):
            out("demo: the workers did not finish within 60 s")
            return 1
    finally:
        stop.set()
        runner.join(timeout=30)
    elapsed = time.monotonic() - started
    with app.engine.connect() as conn:
        groups = list_groups(conn)
        quarantined = list_quarantine(conn)
    out("")
    out(f"{len(samples)} crash files -> {len(groups)} groups, {len(quarantined)} quarantined, in {elapsed:.1f} s")
    out(f"{'id':>4}  {'count':>5}  {'status':<12} title")
    for g in sorted(groups, key=lambda g: g["id"]):
        out(f"{g['id']:>4}  {g['count']:>5}  {g['status']:<12} {g['title']}")
    briefs = sorted((home / "briefs").glob("*.md"))
    if briefs:
        out("")
        out(f"triage briefs (no model configured, so each group went to a human with a brief): {home / 'briefs'}")
    if made and not keep:
        shutil.rmtree(home, ignore_errors=True)
    else:
        out(f"kept: {home}  (try: crashpilot --home {home} groups)")
    return 0
