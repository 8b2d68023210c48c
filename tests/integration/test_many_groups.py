"""Many groups at once, for real: 5 crash groups queued together, 2 real workers in threads, ONE
build slot, real git worktrees, real cc builds, the real anthropic SDK against the loopback replay.

Every group must end with a pull request (or NEEDS_HUMAN); the build command logs its own start
and end, and no two builds may overlap; a crash that arrives again for a group whose fix is in
flight only counts up (one run per group, no second ANALYSE)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from crashpilot.ingest.files import ingest_paths
from crashpilot.store.jobs import list_jobs

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the bench package at the repo root
from bench.many_groups import crash_text, overlaps, run_many  # noqa: E402

pytestmark = pytest.mark.skipif(not (shutil.which("cc") and shutil.which("git")), reason="needs cc and git")

N = 5


def test_five_groups_two_workers_one_build_slot(tmp_path: Path) -> None:
    again: dict[str, Any] = {}

    def crash_again(app: Any, incoming: Path) -> None:
        """A group's crash arrives again while its fix is in flight."""
        from crashpilot.store.groups import list_groups

        with app.engine.connect() as conn:
            busy = [g for g in list_groups(conn) if g["status"] in ("fixing", "building", "verifying")]
        group = busy[0]
        k = int(re.search(r"handler_(\d+)", group["signature"]).group(1))  # type: ignore[union-attr]
        f = incoming / "again.txt"
        f.write_text(crash_text(k, N, pid=9999))  # other bytes, same crash
        [result] = ingest_paths(app.engine, app.blobs, [f], **app.ingest_options())
        again.update(group=group["id"], status=group["status"], joined=list(result.group_ids))
        again["app"] = app

    r = run_many(tmp_path, N, workers=2, slots=1, timeout=240, build_hold=0.15, while_running=crash_again)
    assert len(r.statuses) == N
    assert all(s in ("pr_open", "needs_human") for s in r.statuses.values()), r.statuses
    assert (
        list(r.statuses.values()).count("pr_open") == N
    )  # this fix builds and passes: every group gets a PR
    # builds really ran (each group's BUILD, and VERIFY's base and fix builds), never two at once
    assert r.builds >= N + 1
    assert r.overlapping_builds == 0
    # the crash that came again joined its group: counted, no second run, no second ANALYSE
    assert again["joined"] == [again["group"]]
    assert r.extra["counts"][again["group"]] == 2
    assert set(r.runs_per_group.values()) == {1}
    with again["app"].engine.connect() as conn:
        assert len(list_jobs(conn, stage="analyse")) == N
    assert r.wall_s > 0 and r.peak_tree_rss_mb > 0


def test_overlap_detection_reads_the_build_log(tmp_path: Path) -> None:
    log = tmp_path / "builds.log"
    log.write_text("start 1.0 10\nend 2.0 10\nstart 2.5 11\nend 3.0 11\n")
    assert overlaps(log) == (2, 0)
    log.write_text("start 1.0 10\nstart 1.5 11\nend 2.0 10\nend 3.0 11\n")
    assert overlaps(log) == (2, 1)
    log.write_text("start 1.0 10\n")  # a build that never ended counts as overlapping
    assert overlaps(log) == (1, 1)
