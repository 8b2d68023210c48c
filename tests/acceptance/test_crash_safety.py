"""Crash safety: ``crashpilot run`` killed with SIGKILL during FIX, BUILD, VERIFY or PUBLISH and
started again ends with one report, one branch and one pull request for the group.

The real CLI runs as a subprocess on the sample project; the model is the demo's recorded
conversation served on 127.0.0.1 by a replay server that answers by the conversation it is sent
(so a FIX started again after the kill gets the same answers again); the GitHub case talks to the
loopback GitHub REST server and pushes through ``git http-backend``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crashpilot import demo
from crashpilot.forge_server import FakeGitHub
from crashpilot.git import Git
from crashpilot.git_http import GitHttpServer
from crashpilot.replay import ReplayServer, by_conversation, load_transcript
from crashpilot.store.db import make_engine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("g++") and shutil.which("make") and shutil.which("gdb")),
        reason="needs g++, make and gdb",
    ),
]

TURNS = load_transcript(demo.transcript_path())
TOKEN = "ghp_" + "Kx9" * 12
REPO = "acme/minirealm"


def conversation_replay(script: list[Any]) -> ReplayServer:
    """Answers by where the conversation stands (ANALYSE, or FIX turn n), so FIX can run again."""
    return ReplayServer(
        [], check_tool_results=False, choose=by_conversation(script[0], script[1:], repeat_last=True)
    )


@pytest.fixture(scope="module")
def crash_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("crashsrc") / "minirealm"
    demo.prepare_project(root)
    demo.build_project(root)
    how, text = demo.crash_report(root)
    assert how == "gdb"
    return text


@pytest.fixture(scope="module")
def model() -> Iterator[ReplayServer]:
    with conversation_replay(TURNS) as server:
        yield server


class Run:
    """One project with crashpilot started, killed and started again as a subprocess."""

    def __init__(self, tmp: Path, crash_text: str, model: ReplayServer, forge: dict[str, str]) -> None:
        self.project = tmp / "minirealm"
        demo.prepare_project(self.project)
        self.home = tmp / "home"
        self.crash_text = crash_text
        self.env = {
            **os.environ,
            "CRASHPILOT_HOME": str(self.home),
            "CRASHPILOT_MODEL_NAME": "anthropic:claude-recorded",
            "CRASHPILOT_MODEL_BASE_URL": model.url,
            "CRASHPILOT_MODEL_RETRIES": "0",
            "ANTHROPIC_API_KEY": "recorded-conversation",
            "CRASHPILOT_WORKER_LEASE_SECONDS": "3",
            "CRASHPILOT_REPRODUCE_RUNS": "1",
            "CRASHPILOT_WATCH_SETTLE_SECONDS": "0.3",
            **forge,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "run.log"

    def start(self) -> None:
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "crashpilot",
                    "--config",
                    str(self.project / "crashpilot.toml"),
                    "run",
                ],
                cwd=self.project,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def drop_crash(self) -> None:
        target = self.project / "crashes" / "worldserver-crash.txt"
        target.parent.mkdir(exist_ok=True)
        target.write_text(self.crash_text)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def query(self, sql: str) -> list[Any]:
        db = self.home / "crashpilot.db"
        if not db.exists():
            return []
        engine = make_engine(f"sqlite:///{db}")
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(sql)))
        except sa.exc.OperationalError:  # tables not made yet
            return []
        finally:
            engine.dispose()

    def wait(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            assert self.proc is None or self.proc.poll() is None, (
                f"crashpilot exited: {self.log.read_text()[-3000:]}"
            )
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}: {self.log.read_text()[-3000:]}")

    def running(self, stage: str) -> bool:
        return bool(self.query(f"SELECT id FROM jobs WHERE stage = '{stage}' AND status = 'running'"))

    def pr_open(self) -> bool:
        return bool(
            self.query(
                "SELECT g.id FROM crash_groups g JOIN jobs j ON j.group_id = g.id "
                "WHERE g.status = 'pr_open' AND j.stage = 'track'"
            )
        )

    def crashpilot_branches(self) -> list[str]:
        out = Git(self.project).run("branch", "--list", "crashpilot/*", "--format=%(refname:short)").stdout
        return out.split()


def _cycle(run: Run, stage: str, kill_when: Callable[[], bool] | None = None) -> None:
    run.start()
    try:
        run.drop_crash()
        # PUBLISH on the local forge takes milliseconds: the kill may land just after it
        quick = stage == "publish" and kill_when is None
        run.wait(lambda: run.running(stage) or (quick and run.pr_open()), 120, f"{stage} to run")
        if kill_when is not None:
            run.wait(kill_when, 60, f"the moment to kill during {stage}")
        else:
            time.sleep(0.4 if stage in ("fix", "verify") else 0.0)
        run.kill()
        # the job was in hand when the process died (the database still says so)
        assert run.running(stage) or quick, f"the kill came after {stage} had ended"
        run.start()  # the same command again: the expired lease is taken over, the job redone
        run.wait(run.pr_open, 150, "a pull request after the restart")
    finally:
        run.stop()
    assert run.query("SELECT count(*) FROM crash_reports")[0][0] == 1
    assert run.query("SELECT count(*) FROM crash_groups")[0][0] == 1
    assert run.crashpilot_branches() == ["crashpilot/1"]
    assert run.query("SELECT count(*) FROM jobs WHERE status = 'failed'")[0][0] == 0


@pytest.mark.parametrize("stage", ["fix", "build", "verify", "publish"])
def test_kill_during_a_stage_then_restart_local(
    stage: str, tmp_path: Path, crash_text: str, model: ReplayServer
) -> None:
    run = Run(tmp_path, crash_text, model, {})
    _cycle(run, stage)
    prs = run.query("SELECT status, branch, head_sha FROM pull_requests")
    assert len(prs) == 1 and prs[0][0] == "open" and prs[0][1] == "crashpilot/1"
    assert Git(run.project).rev_parse("crashpilot/1") == prs[0][2]


@pytest.mark.parametrize("stage", ["verify", "publish"])
def test_kill_during_a_stage_then_restart_github(
    stage: str, tmp_path: Path, crash_text: str, model: ReplayServer
) -> None:
    remotes = tmp_path / "remotes"
    bare = remotes / "acme" / "minirealm.git"
    bare.parent.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    with GitHttpServer(remotes, TOKEN) as git_server, FakeGitHub(TOKEN, git_root=remotes) as api:
        api.add_repo("acme", "minirealm", clone_url=f"{git_server.url}/acme/minirealm.git")
        forge = {
            "CRASHPILOT_FORGE_KIND": "github",
            "CRASHPILOT_FORGE_REPO": REPO,
            "CRASHPILOT_FORGE_BASE_URL": api.url,
            "GITHUB_TOKEN": TOKEN,
        }
        run = Run(tmp_path, crash_text, model, forge)
        Git(run.project).run("push", "-q", str(bare), "main")
        # in PUBLISH, kill right after GitHub made the pull request, before crashpilot heard back
        api.fail("POST", f"/repos/{REPO}/pulls", status=None, delay=3.0, after=True)
        _cycle(run, stage, (lambda: bool(api.pulls(REPO))) if stage == "publish" else None)
        pulls = api.pulls(REPO)
        posts = [r for r in api.requests if r.method == "POST" and r.path == f"/repos/{REPO}/pulls"]
    assert len(pulls) == 1 and len(posts) == 1 and pulls[0]["head"]["ref"] == "crashpilot/1"
    assert run.query("SELECT count(*) FROM pull_requests")[0][0] == 0  # GitHub's, not a local one
    url = run.query("SELECT pr_url FROM crash_groups")[0][0]
    assert url == pulls[0]["html_url"]
