"""approve / reject of local pull requests on a real git repository (no build needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashpilot.errors import CrashpilotError
from crashpilot.git import Git, Identity
from crashpilot.handoff import approve, reject
from crashpilot.store import migrate, runs
from crashpilot.store.db import make_engine, utcnow, write_transaction
from crashpilot.store.schema import crash_groups

BOT = Identity("crashpilot", "crashpilot@localhost")
DEV = Identity("Dev", "dev@example.invalid")


def _setup(tmp_path: Path) -> tuple[object, Git, str]:
    git = Git.init(tmp_path / "repo")
    (git.root / "a.c").write_text("int a;\n")
    git.commit("base", DEV)
    git.checkout("crashpilot/1", create_from="main")
    (git.root / "a.c").write_text("int a = 0;\n")
    head = git.commit("fix", BOT)
    git.checkout("main")
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(engine)
    now = utcnow()
    with write_transaction(engine) as conn:
        conn.execute(
            crash_groups.insert().values(
                id=1,
                signature="sig",
                status="pr_open",
                count=1,
                first_seen=now,
                last_seen=now,
                revisions=[],
                updated_at=now,
            )
        )
        runs.open_pr(
            conn,
            group_id=1,
            run_id=None,
            branch="crashpilot/1",
            base="main",
            head_sha=head,
            verification="tests-pass",
            title="Fix",
            body="body",
        )
    return engine, git, head


def test_approve_with_another_branch_checked_out_merges_without_touching_it(tmp_path: Path) -> None:
    engine, git, head = _setup(tmp_path)
    git.checkout("work", create_from="main")
    (git.root / "notes.txt").write_text("user's unfinished work\n")  # an untracked file stays put
    pr = approve(engine, git.root, 1, BOT)  # type: ignore[arg-type]
    assert git.current_branch() == "work" and (git.root / "notes.txt").exists()
    assert git.rev_parse("main") == pr["merged_sha"] and git.run("rev-parse", "main^2").stdout.strip() == head
    assert not git.branch_exists("crashpilot/1")
    with engine.connect() as conn:  # type: ignore[attr-defined]
        assert runs.latest_pr(conn, 1)["status"] == "merged"  # type: ignore[index]
        assert conn.execute(crash_groups.select()).mappings().one()["status"] == "fixed"
    with pytest.raises(CrashpilotError, match="already merged"):
        approve(engine, git.root, 1, BOT)  # type: ignore[arg-type]


def test_approve_refuses_a_branch_moved_after_verification_and_reject_drops_it(tmp_path: Path) -> None:
    engine, git, head = _setup(tmp_path)
    git.checkout("crashpilot/1")
    (git.root / "a.c").write_text("int a = 1;\n")
    git.commit("unverified change", DEV)
    git.checkout("main")
    with pytest.raises(CrashpilotError, match="not merging unverified code"):
        approve(engine, git.root, 1, BOT)  # type: ignore[arg-type]
    assert git.rev_parse("main") != head and git.branch_exists("crashpilot/1")
    pr = reject(engine, git.root, 1, reason="moved by hand")  # type: ignore[arg-type]
    assert pr["status"] == "rejected" and not git.branch_exists("crashpilot/1")
    with engine.connect() as conn:  # type: ignore[attr-defined]
        group = conn.execute(crash_groups.select()).mappings().one()
    assert group["status"] == "rejected" and "moved by hand" in group["status_reason"]
