"""TRACK and a human's decision at the same moment: a TRACK job that saw the local pull request
open while ``approve`` / ``reject`` ran must not put the group back to ``pr_open``; the next
TRACK runs at once and ends the flow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crashpilot.app import App, open_app
from crashpilot.flow import Outcome
from crashpilot.git import Git, Identity
from crashpilot.handoff import approve, reject
from crashpilot.settings import load
from crashpilot.stages import track
from crashpilot.store import queue, runs
from crashpilot.store.db import utcnow, write_transaction
from crashpilot.store.schema import crash_groups, events, jobs
from crashpilot.worker import Worker

DEV = Identity("dev", "dev@example.invalid")
BRANCH = "crashpilot/1"


def make(tmp_path: Path) -> tuple[App, Git, int]:
    git = Git.init(tmp_path / "repo")
    (git.root / "a.c").write_text("int a;\n")
    git.commit("base", DEV)
    git.checkout(BRANCH, create_from="main")
    (git.root / "a.c").write_text("int a = 1;\n")
    head = git.commit("fix", DEV)
    git.checkout("main")
    app = open_app(load(env={}, flags={"home": str(tmp_path / "home"), "project.repo": str(git.root)}))
    now = utcnow()
    with write_transaction(app.engine) as conn:
        gid = int(
            conn.execute(
                crash_groups.insert().values(
                    signature="f",
                    status="pr_open",
                    count=1,
                    first_seen=now,
                    last_seen=now,
                    revisions=[],
                    updated_at=now,
                    branch=BRANCH,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        run_id = runs.start_run(conn, gid, branch=BRANCH, base_revision=git.rev_parse("main"))
        runs.update_run(conn, run_id, status="pr_open", stage="track")
        runs.open_pr(
            conn,
            group_id=gid,
            run_id=run_id,
            branch=BRANCH,
            base="main",
            head_sha=head,
            verification="builds-only",
            title="Fix f",
            body="body",
        )
        queue.enqueue(
            conn, "track", group_id=gid, run_id=run_id, payload={"run_id": run_id, "branch": BRANCH}
        )
    return app, git, gid


def worker(app: App, handler: Callable[[Any, Any], Any]) -> Worker:
    return Worker(
        app.engine,
        {"track": handler},
        settings=app.settings,
        backends={},
        requeue_delay=3600,
        poll=0.01,
        on_error=lambda job, exc: pytest.fail(f"{job.stage}: {exc!r}"),
    )


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_during_a_track_run_is_kept(tmp_path: Path, decision: str) -> None:
    app, git, gid = make(tmp_path)
    seen: list[Outcome] = []

    def decide() -> None:
        if decision == "approve":
            approve(app.engine, git.root, gid, DEV)
        else:
            reject(app.engine, git.root, gid, reason="not like this")

    def racing(job: Any, ctx: Any) -> Any:
        result = track.run(job, ctx)  # the pull request is still open when TRACK reads it
        seen.append(result.outcome)
        if len(seen) == 1:
            decide()  # ... and the human decides before TRACK records what it saw
        return result

    end = "fixed" if decision == "approve" else "rejected"
    w = worker(app, racing)
    assert w.run_once()
    assert seen == [Outcome.WAITING]
    with app.engine.connect() as conn:
        status = conn.execute(sa.select(crash_groups.c.status).where(crash_groups.c.id == gid)).scalar_one()
        changes = [
            r.to_state
            for r in conn.execute(
                sa.select(events.c.to_state)
                .where(
                    events.c.entity == "group", events.c.entity_id == gid, events.c.kind == "status_changed"
                )
                .order_by(events.c.id)
            )
        ]
        (queued,) = conn.execute(sa.select(jobs).where(jobs.c.status == "queued")).mappings()
    assert status == end and changes == [end]  # never back to pr_open
    # the next TRACK is due now (not after the requeue delay) and ends the flow
    assert w.run_once()
    assert seen == [Outcome.WAITING, Outcome.MERGED if decision == "approve" else Outcome.CLOSED]
    with app.engine.connect() as conn:
        assert (
            conn.execute(sa.select(crash_groups.c.status).where(crash_groups.c.id == gid)).scalar_one() == end
        )
        assert runs.latest_pr(conn, gid)["status"] == ("merged" if decision == "approve" else "rejected")  # type: ignore[index]


def test_without_a_decision_track_keeps_the_pull_request_open(tmp_path: Path) -> None:
    app, _, gid = make(tmp_path)
    w = worker(app, track.run)
    assert w.run_once()
    with app.engine.connect() as conn:
        assert (
            conn.execute(sa.select(crash_groups.c.status).where(crash_groups.c.id == gid)).scalar_one()
            == "pr_open"
        )
        (queued,) = conn.execute(sa.select(jobs).where(jobs.c.status == "queued")).mappings()
    assert queued["stage"] == "track"
    assert not w.run_once()  # the next poll waits for the requeue delay
