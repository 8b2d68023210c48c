"""PUBLISH and TRACK on the ``github`` forge for real: the sample crash goes through the real
pipeline, PyGithub talks to the loopback GitHub REST server and ``git push`` reaches a bare
repository behind ``git http-backend``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_pipeline import DEMO_TURNS, Setup, crash_text, drive, make_setup, model_for  # noqa: F401

from crashpilot.app import forge_backends, make_backends
from crashpilot.backends.forges.github import GitHubForge
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.flow import Outcome
from crashpilot.forge_server import FakeGitHub
from crashpilot.forge_setup import Forges
from crashpilot.git import Git
from crashpilot.git_http import GitHttpServer
from crashpilot.replay import ReplayServer, by_conversation
from crashpilot.stages import publish, track
from crashpilot.store import runs
from crashpilot.worker import Context

TOKEN = "ghp_" + "Zq7" * 12
REPO = "acme/minirealm"
PULLS = "/repos/acme/minirealm/pulls"


@dataclass
class World:
    s: Setup
    api: FakeGitHub
    git: GitHttpServer
    bare: Path
    forges: Forges

    def remote_sha(self, branch: str) -> str | None:
        res = subprocess.run(
            ["git", "--git-dir", str(self.bare), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
        )
        return res.stdout.strip() if res.returncode == 0 else None

    def _with_forges(self, backends: dict[str, Any]) -> dict[str, Any]:
        backends.pop("forges").close()  # the one made from the settings; ours retries fast
        return {**backends, "forges": self.forges}

    def backends(self, server: ReplayServer) -> dict[str, Any]:
        return self._with_forges(make_backends(self.s.app, model=model_for(server, "anthropic")))

    def ctx(self) -> Context:
        return Context(
            self.s.app.engine, self.s.app.settings, "test", self._with_forges(make_backends(self.s.app))
        )

    def posts(self) -> int:
        return sum(1 for r in self.api.requests if r.method == "POST" and r.path == PULLS)


@pytest.fixture
def world(tmp_path: Path, crash_text: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:  # noqa: F811
    monkeypatch.setenv(
        "GITHUB_TOKEN", TOKEN
    )  # make_backends builds its own forge; tests swap in a fast-retry one
    remotes = tmp_path / "remotes"
    bare = remotes / "acme" / "minirealm.git"
    bare.parent.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    with GitHttpServer(remotes, TOKEN) as git_server, FakeGitHub(TOKEN, git_root=remotes) as api:
        api.add_repo("acme", "minirealm", clone_url=f"{git_server.url}/acme/minirealm.git")
        s = make_setup(
            tmp_path,
            crash_text,
            **{
                "forge.kind": "github",
                "forge.repo": REPO,
                "forge.base_url": api.url,
                "forge.commit_template": "fix(Core/{area}): {summary}",
            },
        )
        s.git.run("push", "-q", str(bare), "main")
        policy = RetryPolicy(max_retries=3, base_delay=0.01, jitter=0.0, sleep=lambda _: None)
        forge = GitHubForge(
            REPO,
            TOKEN,
            base_url=api.url,
            retry=policy,
            timeout=2,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        w = World(s, api, git_server, bare, Forges(kind="github", by_repo={"": forge}, secrets=(TOKEN,)))
        yield w
        forge.close()


def track_job(w: World) -> Any:
    import sqlalchemy as sa

    from crashpilot.store.schema import jobs

    with w.s.app.engine.connect() as conn:
        row = (
            conn.execute(sa.select(jobs).where(jobs.c.stage == "track").order_by(jobs.c.id.desc()))
            .mappings()
            .first()
        )
    assert row is not None
    return SimpleNamespace(
        id=row["id"], group_id=row["group_id"], payload=dict(row["payload"]), stage="track"
    )


def test_crash_to_github_pull_request_through_a_502_after_create(world: World) -> None:
    w = world
    w.api.fail("POST", PULLS, status=502, after=True)  # GitHub made the PR, the answer was lost
    with ReplayServer(DEMO_TURNS) as server:
        stages = drive(w.s, w.backends(server))
    assert stages == ["analyse", "fix", "build", "verify", "publish", "track"]
    # exactly one pull request, found again by its branch after the failed POST
    (pull,) = w.api.pulls(REPO)
    assert w.posts() == 1 and pull["head"]["ref"] == "crashpilot/1" and pull["base"]["ref"] == "main"
    # the branch was pushed through git http-backend; main on the remote is untouched
    head = w.s.git.rev_parse("crashpilot/1")
    assert w.remote_sha("crashpilot/1") == head and w.remote_sha("main") == w.s.base
    assert any(r.path.endswith("/git-receive-pack") for r in w.git.requests)
    # the bot's commit: repo convention, crash and root cause named, on the verified tree
    author, message = w.s.git.run("log", "-1", "--format=%an <%ae>%n%B", head).stdout.split("\n", 1)
    assert author == "crashpilot <crashpilot@localhost>"
    assert message.startswith("fix(Core/src): SIGSEGV") and "Root cause: Player::StoreLootItem" in message
    run = w.s.run_row()
    assert (
        w.s.git.run("rev-parse", f"{head}^{{tree}}").stdout
        == w.s.git.run("rev-parse", f"{run['result']['fix']['head']}^{{tree}}").stdout
    )
    # the body: crash, count, signature, stack, root cause, change, evidence, disclosure
    body = pull["body"]
    for needle in (
        "## Crash",
        "Occurrences: **1**",
        "- Signature:",
        "## Stack (top frames)",
        "Player::StoreLootItem",
        "## Root cause",
        "## The change and why",
        "```diff",
        "reproduced-and-fixed",
        "base build: reproducer: CRASHED",
        "fixed build: reproducer: no crash",
        "fixed build: tests: ok",
        "anthropic:claude-test",
        "model cost: unknown",
        "**Review before merging.**",
    ):
        assert needle in body, needle
    assert "crashpilot approve" not in body and TOKEN not in body
    group = w.s.group()
    assert group["status"] == "pr_open" and group["pr_url"] == pull["html_url"]
    assert run["result"]["pr"]["number"] == pull["number"]

    # PUBLISH again (a worker killed after the PR was opened): same commit, same PR, no new POST
    job = track_job(w)
    again = publish.run(job, w.ctx())
    assert again.outcome is Outcome.OK and again.payload is not None and again.payload["head"] == head
    assert len(w.api.pulls(REPO)) == 1 and w.posts() == 1

    # TRACK: waiting, then changes requested (review text goes to FIX), then merged -> FIXED
    assert track.run(job, w.ctx()).outcome is Outcome.WAITING
    w.api.add_review(
        REPO,
        pull["number"],
        "maintainer",
        "CHANGES_REQUESTED",
        "Also log the decayed corpse.",
        comments=[("src/player.cpp", 40, "use LOG_DEBUG here")],
    )
    asked = track.run(job, w.ctx())
    assert asked.outcome is Outcome.CHANGES_REQUESTED and asked.payload is not None
    assert "Also log the decayed corpse." in asked.payload["feedback"]
    assert "use LOG_DEBUG here" in asked.payload["feedback"]
    w.api.merge(REPO, pull["number"])
    merged = track.run(job, w.ctx())
    assert merged.outcome is Outcome.MERGED
    with w.s.app.engine.connect() as conn:
        assert runs.get_run(conn, run["id"])["status"] == "merged"  # type: ignore[index]
    assert not any("merge" in r.path for r in w.api.requests)


def test_closed_pull_request_is_rejected(world: World) -> None:
    w = world
    with ReplayServer(DEMO_TURNS) as server:
        drive(w.s, w.backends(server))
    (pull,) = w.api.pulls(REPO)
    w.api.close(REPO, pull["number"])
    assert track.run(track_job(w), w.ctx()).outcome is Outcome.CLOSED


def test_forges_from_settings_need_a_repo_and_use_the_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = forge_backends(world.s.app, {"GITHUB_TOKEN": TOKEN})["forges"]
    try:
        forge = made.for_repo("")
        assert isinstance(forge, GitHubForge) and forge.repo_name == REPO and made.secrets == (TOKEN,)
        assert forge.find_pr("crashpilot/1") is None
    finally:
        made.close()
    assert Git(world.s.project).current_branch() == "main"


def conversation_replay(script: list[Any]) -> ReplayServer:
    """Answers by where the conversation stands (ANALYSE, or FIX turn n), so FIX can run again."""
    return ReplayServer(
        [], check_tool_results=False, choose=by_conversation(script[0], script[1:], repeat_last=True)
    )


def test_changes_requested_go_back_to_fix_and_the_same_pull_request(world: World) -> None:
    import sqlalchemy as sa

    from crashpilot.store.db import utcnow
    from crashpilot.store.schema import jobs

    w = world
    with conversation_replay(DEMO_TURNS) as server:
        drive(w.s, w.backends(server))
        (pull,) = w.api.pulls(REPO)
        first = w.s.git.rev_parse("crashpilot/1")
        w.api.add_review(REPO, pull["number"], "maintainer", "CHANGES_REQUESTED", "Please ALSO-LOG-IT here.")
        with w.s.app.engine.begin() as conn:  # the poll interval has passed
            conn.execute(jobs.update().where(jobs.c.stage == "track").values(not_before=utcnow()))
        asked_at = len(server.requests)
        stages = drive(w.s, w.backends(server))
        fix_prompt = server.requests[asked_at].raw
    assert stages == ["track", "fix", "build", "verify", "publish", "track"]
    assert "ALSO-LOG-IT" in fix_prompt  # the reviewer's words reached FIX (as fenced data)
    second = w.s.git.rev_parse("crashpilot/1")
    assert second != first and w.remote_sha("crashpilot/1") == second
    assert len(w.api.pulls(REPO)) == 1 and w.posts() == 1  # the same pull request, pushed again
    assert w.s.group()["status"] == "pr_open"
    with w.s.app.engine.connect() as conn:
        waiting = conn.execute(
            sa.select(jobs.c.status).where(jobs.c.stage == "track").order_by(jobs.c.id.desc())
        ).first()
    assert waiting is not None and waiting[0] == "queued"  # the old request was answered by the new head


def test_forge_down_longer_than_the_retries_then_the_job_retried_makes_one_pr(world: World) -> None:
    import sqlalchemy as sa

    from crashpilot.store.db import utcnow
    from crashpilot.store.schema import jobs

    w = world
    w.api.fail("POST", PULLS, status=503, times=4)  # more than the forge's own 3 retries
    w.api.fail("GET", PULLS, status=None, delay=3.0, times=1)  # and one lookup that times out (2 s)
    with ReplayServer(DEMO_TURNS) as server:
        stages = drive(w.s, w.backends(server))
        assert stages[-1] == "publish" and w.api.pulls(REPO) == []
        with w.s.app.engine.connect() as conn:
            job = conn.execute(
                sa.select(jobs.c.status, jobs.c.last_error).where(jobs.c.stage == "publish")
            ).one()
        assert job.status == "queued" and "HTTP 503" in job.last_error  # transient: retried later
        with w.s.app.engine.begin() as conn:  # the backoff has passed
            conn.execute(jobs.update().where(jobs.c.stage == "publish").values(not_before=utcnow()))
        assert drive(w.s, w.backends(server)) == ["publish", "track"]
    assert len(w.api.pulls(REPO)) == 1 and w.posts() == 5
    assert w.s.group()["status"] == "pr_open"
