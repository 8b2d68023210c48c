"""Approval files of the request-queue folder decide local pull requests like approve / reject."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from crashpilot.git import Git, Identity
from crashpilot.handoff import LocalForge
from crashpilot.ingest.approvals import Approvals
from crashpilot.ingest.queue_folder import RequestQueue
from crashpilot.store import runs, schema
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import make_engine, write_transaction

BOT = Identity("crashpilot", "crashpilot@localhost")


def _request(folder: Path, rid: str, location: str) -> None:
    body = {
        "request_id": rid,
        "status": "pending",
        "crash": {"crash_id": f"c-{rid}", "exception_code": "C0000005", "crash_location": location},
    }
    path = folder / "requests" / f"request_{rid}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))


def _setup(tmp_path: Path) -> tuple[sa.Engine, Path, Path, dict[str, int]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    schema.metadata.create_all(engine)
    queue = tmp_path / "crash_analysis_queue"
    _request(queue, "r1", "Unit::DealDamage at Unit.cpp:812")
    _request(queue, "r2", "Group::RemoveMember at Group.cpp:512")
    RequestQueue(queue, engine, BlobStore(tmp_path / "blobs")).scan()
    repo = tmp_path / "core"
    git = Git.init(repo)
    (repo / "a.cpp").write_text("int a;\n")
    git.commit("init", BOT)
    groups: dict[str, int] = {}
    with engine.connect() as conn:
        for source, gid in conn.execute(
            sa.select(schema.crash_reports.c.source, schema.crash_reports.c.group_id)
        ):
            groups[source.removeprefix("queue:")] = int(gid)
    for rid, gid in groups.items():
        branch = f"crashpilot/{gid}"
        git.checkout(branch, create_from="main")
        (repo / "a.cpp").write_text(f"int a = {gid};\n")
        head = git.commit(f"fix {gid}", BOT)
        git.checkout("main")
        with write_transaction(engine) as conn:
            LocalForge().open(
                conn,
                group_id=gid,
                run_id=None,
                branch=branch,
                base="main",
                head_sha=head,
                verification="tests-pass",
                title=f"Fix {rid}",
                body="body",
                actor="test",
            )
    return engine, queue, repo, groups


def test_approved_merges_and_rejected_drops_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine, queue, repo, groups = _setup(tmp_path)
    approvals = Approvals(queue, engine, repo, BOT)
    assert approvals.scan() == []  # no files yet
    (queue / "approvals").mkdir()
    (queue / "approvals" / "approval_r1.json").write_text('{"status": "approved"}')
    (queue / "approvals" / "approval_r2.json").write_text('{"status": "rejected", "reason": "wrong fix"}')
    (queue / "approvals" / "approval_r9.json").write_text('{"status": "maybe"}')
    with caplog.at_level(logging.WARNING, logger="crashpilot.ingest.approvals"):
        decided = approvals.scan()
        approvals.scan()
    assert sorted((d.request_id, d.status) for d in decided) == [("r1", "approved"), ("r2", "rejected")]
    git = Git(repo)
    assert git.show("main", "a.cpp") == f"int a = {groups['r1']};\n"  # merged into main
    assert not git.branch_exists(f"crashpilot/{groups['r1']}") and not git.branch_exists(
        f"crashpilot/{groups['r2']}"
    )
    with engine.connect() as conn:
        assert runs.latest_pr(conn, groups["r1"])["status"] == "merged"  # type: ignore[index]
        assert runs.latest_pr(conn, groups["r2"])["status"] == "rejected"  # type: ignore[index]
        statuses = dict(conn.execute(sa.select(schema.crash_groups.c.id, schema.crash_groups.c.status)).all())
    assert statuses[groups["r1"]] == "fixed" and statuses[groups["r2"]] == "rejected"
    assert [r.message for r in caplog.records].count(
        'approval approval_r9.json not applied: status must be "approved" or "rejected"'
    ) == 1
    assert approvals.scan() == []  # decided once: later scans change nothing


def test_local_forge_refreshes_the_open_pull_request_instead_of_a_second(tmp_path: Path) -> None:
    engine, _, repo, groups = _setup(tmp_path)
    gid = groups["r1"]
    with write_transaction(engine) as conn:
        again = LocalForge().open(
            conn,
            group_id=gid,
            run_id=None,
            branch=f"crashpilot/{gid}",
            base="main",
            head_sha="f" * 40,
            verification="reproduced-and-fixed",
            title="t2",
            body="b2",
            actor="test",
        )
    with engine.connect() as conn:
        rows = runs.list_prs(conn)
    mine = [r for r in rows if r["group_id"] == gid]
    assert len(mine) == 1 and again == f"local:{mine[0]['id']}"
    assert mine[0]["head_sha"] == "f" * 40 and mine[0]["verification"] == "reproduced-and-fixed"
