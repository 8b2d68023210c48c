"""The pipeline from a crash file to a verified fix on a branch, for real.

The sample project (minirealm) is committed to a fresh git repository, built by the real g++ and
crashed under the real gdb; that crash text is ingested, and a real :class:`Worker` runs ANALYSE,
FIX, BUILD, VERIFY, PUBLISH and TRACK with the real ``anthropic`` / ``openai`` SDKs talking to a
scripted :class:`ReplayServer` on 127.0.0.1. Build slots are real git worktrees.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crashpilot import demo
from crashpilot.app import App, make_backends, open_app, stage_handlers
from crashpilot.backends.models import RetryPolicy, ToolCall
from crashpilot.backends.models.anthropic import AnthropicModel
from crashpilot.backends.models.openai import OpenAIModel
from crashpilot.git import Git, Identity
from crashpilot.handoff import approve, reject
from crashpilot.ingest.files import ingest_paths
from crashpilot.replay import Failure, ReceivedRequest, ReplayServer, Step, Turn, load_transcript
from crashpilot.settings import load
from crashpilot.store import runs
from crashpilot.store.exchanges import list_exchanges
from crashpilot.store.groups import get_group
from crashpilot.store.schema import artifacts
from crashpilot.worker import Worker

pytestmark = pytest.mark.skipif(
    not (shutil.which("g++") and shutil.which("make") and shutil.which("gdb")),
    reason="needs g++, make and gdb",
)

KEY = "sk-live-pipeline-NEVER-SHOWN-4242"
BOT = Identity("crashpilot", "crashpilot@localhost")
DEMO_TURNS = load_transcript(demo.transcript_path())
ANALYSIS, READ, GOOD_EDIT, FINISH = DEMO_TURNS[0], DEMO_TURNS[1], DEMO_TURNS[2], DEMO_TURNS[-1]


@pytest.fixture(scope="module")
def crash_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The crash the sample program really makes, as gdb prints it."""
    root = tmp_path_factory.mktemp("crashsrc") / "minirealm"
    demo.prepare_project(root)
    demo.build_project(root)
    how, text = demo.crash_report(root)
    assert how == "gdb" and "SIGSEGV" in text
    return text


@dataclass
class Setup:
    project: Path
    app: App
    base: str

    @property
    def git(self) -> Git:
        return Git(self.project)

    def group(self) -> dict[str, Any]:
        with self.app.engine.connect() as conn:
            group = get_group(conn, 1)
        assert group is not None
        return group

    def run_row(self) -> dict[str, Any]:
        with self.app.engine.connect() as conn:
            row = runs.latest_run(conn, 1)
        assert row is not None
        return row

    def pr(self) -> dict[str, Any] | None:
        with self.app.engine.connect() as conn:
            return runs.latest_pr(conn, 1)


def make_setup(tmp_path: Path, crash_text: str, **flags: Any) -> Setup:
    project = tmp_path / "minirealm"
    git = demo.prepare_project(project)
    settings = load(
        config=project / "crashpilot.toml",
        env={},
        flags={"home": str(tmp_path / "home"), "reproduce.runs": 2, "model.retries": 0, **flags},
    )
    app = open_app(settings)
    crash = tmp_path / "incoming" / "worldserver-crash.txt"
    crash.parent.mkdir()
    crash.write_text(crash_text)
    [result] = ingest_paths(app.engine, app.blobs, [crash], **app.ingest_options())
    assert result.group_ids == (1,) or list(result.group_ids) == [1]
    return Setup(project, app, git.head())


def model_for(server: ReplayServer, provider: str, timeout: float = 30.0) -> Callable[..., Any]:
    retry = RetryPolicy(max_retries=0, base_delay=0.001, max_delay=0.01)

    def make(budget: Any, record: Any) -> Any:
        if provider == "anthropic":
            return AnthropicModel(
                "claude-test",
                api_key=KEY,
                base_url=server.anthropic_base_url,
                timeout=timeout,
                retry=retry,
                budget=budget,
                record=record,
            )
        return OpenAIModel(
            "gpt-test",
            api_key=KEY,
            base_url=server.openai_base_url,
            timeout=timeout,
            retry=retry,
            budget=budget,
            record=record,
        )

    return make


def drive(s: Setup, backends: dict[str, Any], max_jobs: int = 30) -> list[str]:
    """Run jobs until none is ready; returns the stages run, in order."""
    errors: list[BaseException] = []
    stages: list[str] = []

    def recording(handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(job: Any, ctx: Any) -> Any:
            stages.append(job.stage)
            return handler(job, ctx)

        return run

    worker = Worker(
        s.app.engine,
        {stage: recording(h) for stage, h in stage_handlers().items()},
        settings=s.app.settings,
        backends=backends,
        max_attempts_fix=s.app.settings["worker.max_fix_attempts"],
        requeue_delay=3600,
        poll=0.01,
        on_error=lambda job, exc: errors.append(exc),
    )
    for _ in range(max_jobs):
        if not worker.run_once():
            break
    assert not errors, errors
    return stages


def tc(name: str, **args: Any) -> tuple[ToolCall, ...]:
    return (ToolCall("", name, args),)


def edit(search: str, replace: str, path: str = "src/player.cpp") -> tuple[ToolCall, ...]:
    return tc("edit", path=path, search=search, replace=replace)


def last_tool_texts(request: ReceivedRequest) -> list[str]:
    _, messages, _ = request.conversation()
    return [r.content for r in messages[-1].tool_results]


def first_user_text(request: ReceivedRequest) -> str:
    _, messages, _ = request.conversation()
    return messages[0].text


def no_problems(server: ReplayServer, steps: Sequence[Step]) -> None:
    assert not server.problems, server.problems
    assert server.remaining == 0, f"{server.remaining} scripted turns were not used"


# -- the whole path ------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_crash_file_to_verified_fix_then_approve_merges(
    tmp_path: Path, crash_text: str, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the worker's own environment holds secrets; the build writes out what it can see
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("CRASHPILOT_FORGE_TOKEN", "forge-" + KEY)
    s = make_setup(
        tmp_path, crash_text, **{"build.command": "mkdir -p build && env > build/env.txt && make -j2"}
    )
    with ReplayServer(DEMO_TURNS) as server:
        stages = drive(s, make_backends(s.app, model=model_for(server, provider)))
        no_problems(server, DEMO_TURNS)
        fix_request = server.requests[1]
    assert stages == ["analyse", "fix", "build", "verify", "publish", "track"]
    group = s.group()
    assert group["status"] == "pr_open" and group["branch"] == "crashpilot/1"
    pr = s.pr()
    assert pr is not None and pr["status"] == "open" and pr["verification"] == "reproduced-and-fixed"
    assert "reproducer: CRASHED" in pr["body"] and "reproducer: no crash" in pr["body"]
    assert "```diff" in pr["body"] and "creature ? creature->GetLoot() : nullptr" in pr["body"]
    # the fix is one bot commit on its branch; the base branch and the user's checkout are untouched
    git = s.git
    assert git.rev_parse("main") == s.base and git.is_clean() and git.current_branch() == "main"
    head = git.rev_parse("crashpilot/1")
    assert head == pr["head_sha"] and git.run("rev-parse", "crashpilot/1^").stdout.strip() == s.base
    author, message = git.run("log", "-1", "--format=%an <%ae>%n%B", "crashpilot/1").stdout.split("\n", 1)
    assert author == "crashpilot <crashpilot@localhost>"
    assert "Root cause: Player::StoreLootItem" in message and "SIGSEGV" in message
    assert git.run("diff", "--name-only", s.base, head).stdout.split() == ["src/player.cpp"]
    # the run: analysis, tokens summed from the stored exchanges, evidence from base and fix
    run = s.run_row()
    assert run["verification"] == "reproduced-and-fixed" and run["status"] == "pr_open"
    with s.app.engine.connect() as conn:
        exchanges = list_exchanges(conn, run_id=run["id"])
    assert len(exchanges) == len(DEMO_TURNS) and all(e.error is None for e in exchanges)
    assert run["input_tokens"] == sum(e.input_tokens or 0 for e in exchanges) > 0
    assert KEY not in str([e.request for e in exchanges])
    verify = run["result"]["verify"]
    assert verify["base"]["reproducer"]["crashes"] == 2 and verify["fix"]["reproducer"]["crashes"] == 0
    assert verify["fix"]["tests"]["ok"] and run["result"]["analysis"]["fixability"] == "fix"
    assert "<crash_report>" in first_user_text(fix_request)
    # no build process saw a secret (the build's environment, as it printed it)
    seen = "".join(p.read_text() for p in (s.app.settings.home / "slots").glob("slot-*/src/build/env.txt"))
    assert (
        "PATH=" in seen and KEY not in seen and "ANTHROPIC_API_KEY" not in seen and "CRASHPILOT_" not in seen
    )
    # a human approves: the branch is merged into main, TRACK ends the flow in FIXED
    merged = approve(s.app.engine, s.project, 1, BOT)
    assert git.rev_parse("main") == merged["merged_sha"] != s.base
    assert git.run("rev-parse", "main^2").stdout.strip() == head
    assert not git.branch_exists("crashpilot/1") and git.is_clean()
    assert drive(s, {}) == ["track"]
    assert s.group()["status"] == "fixed" and s.pr()["status"] == "merged"  # type: ignore[index]


# -- failure paths -------------------------------------------------------------------------------

GOOD = GOOD_EDIT.tool_calls[0].arguments
DOES_NOT_COMPILE = edit(
    GOOD["search"], GOOD["replace"].replace('error = "loot is gone";', 'error = "loot is gone"')
)
DOES_NOT_FIX = edit(
    GOOD["search"], GOOD["search"].replace("    Loot* loot", "    // looked up again below\n    Loot* loot")
)
NO_TOOLS = {"agent.run_tools": False}


def anthropic(server: ReplayServer, **kw: Any) -> dict[str, Any]:
    return {"env": make_backends_env(), "model": model_for(server, "anthropic", **kw)}


def make_backends_env() -> dict[str, str]:
    import os

    from crashpilot.proc import clean_env

    return clean_env(os.environ)


def told(words: Sequence[str]) -> Callable[[ReceivedRequest], str | None]:
    """A replay check: the FIX task of this pass tells the agent ``words`` about its last attempt."""

    def check(request: ReceivedRequest) -> str | None:
        text = first_user_text(request)
        missing = [w for w in words if w not in text]
        return f"the task does not mention {missing}" if missing else None

    return check


def test_a_patch_that_does_not_compile_goes_back_to_fix_with_the_compiler_errors(
    tmp_path: Path, crash_text: str
) -> None:
    s = make_setup(tmp_path, crash_text, **NO_TOOLS)
    script: list[Step] = [
        ANALYSIS,
        Turn("Guarding the creature.", DOES_NOT_COMPILE),
        FINISH,
        Turn(
            "The compiler says a semicolon is missing.",
            GOOD_EDIT.tool_calls,
            check=told(["BUILD", "error", "src/player.cpp"]),
        ),
        FINISH,
    ]
    with ReplayServer(script) as server:
        stages = drive(s, anthropic(server))
        no_problems(server, script)
    assert stages == ["analyse", "fix", "build", "fix", "build", "verify", "publish", "track"]
    run = s.run_row()
    assert run["attempts"] == 2 and run["verification"] == "reproduced-and-fixed"
    with s.app.engine.connect() as conn:
        logs = (
            conn.execute(sa.select(artifacts.c.kind).where(artifacts.c.run_id == run["id"])).scalars().all()
        )
    assert logs.count("patch") == 2 and "build_log" in logs
    # only the corrected commit is on the branch; a reviewer rejects it: the branch is dropped
    assert s.git.run("rev-parse", "crashpilot/1^").stdout.strip() == s.base
    reject(s.app.engine, s.project, 1, reason="prefer a different fix")
    assert not s.git.branch_exists("crashpilot/1")
    assert drive(s, {}) == ["track"]
    assert s.group()["status"] == "rejected"


def test_the_fix_loop_ends_in_needs_human_when_its_attempts_are_spent(
    tmp_path: Path, crash_text: str
) -> None:
    s = make_setup(tmp_path, crash_text, **NO_TOOLS, **{"worker.max_fix_attempts": 2})
    script: list[Step] = [ANALYSIS, Turn("", DOES_NOT_COMPILE), FINISH, Turn("", DOES_NOT_COMPILE), FINISH]
    with ReplayServer(script) as server:
        stages = drive(s, anthropic(server))
        no_problems(server, script)
    assert stages == ["analyse", "fix", "build", "fix", "build"]
    group = s.group()
    assert group["status"] == "needs_human" and "after 2 fix attempt(s)" in group["status_reason"]
    assert s.pr() is None and not s.git.branch_exists("crashpilot/1")
    assert s.run_row()["status"] == "needs_human" and s.git.rev_parse("main") == s.base


def test_a_patch_after_which_the_reproducer_still_crashes_is_not_reproduced_and_fixed(
    tmp_path: Path, crash_text: str
) -> None:
    s = make_setup(tmp_path, crash_text, **NO_TOOLS, **{"worker.max_fix_attempts": 1})
    script: list[Step] = [ANALYSIS, Turn("", DOES_NOT_FIX), FINISH]
    with ReplayServer(script) as server:
        stages = drive(s, anthropic(server))
        no_problems(server, script)
    assert stages == ["analyse", "fix", "build", "verify"]
    run = s.run_row()
    assert run["verification"] is None and run["result"]["verify"]["level"] is None
    assert run["result"]["verify"]["fix"]["reproducer"]["crashes"] == 2
    group = s.group()
    assert group["status"] == "needs_human" and "still crashes" in group["status_reason"]
    assert s.pr() is None and not s.git.branch_exists("crashpilot/1")


def test_a_patch_touching_tests_or_ci_is_refused(tmp_path: Path, crash_text: str) -> None:
    s = make_setup(tmp_path, crash_text, **NO_TOOLS)
    runner = (s.project / "tests" / "test_runner.cpp").read_text()
    first_line = runner.splitlines(True)[0]

    def refused(request: ReceivedRequest) -> str | None:
        texts = last_tool_texts(request)
        return None if texts and "forbidden by the patch policy" in texts[0] else f"not refused: {texts}"

    script: list[Step] = [
        ANALYSIS,
        Turn(
            "Make the test accept it.",
            edit(first_line, first_line + "// skip the loot test\n", "tests/test_runner.cpp"),
        ),
        Turn(
            "Then CI.",
            tc("edit", path=".github/workflows/ci.yml", search="", replace="on: push\n"),
            check=refused,
        ),
        Turn("I cannot change those.", tc("give_up", reason="only a test change would help"), check=refused),
    ]
    with ReplayServer(script) as server:
        stages = drive(s, anthropic(server))
        no_problems(server, script)
    assert stages == ["analyse", "fix"]
    assert (s.project / "tests" / "test_runner.cpp").read_text() == runner
    assert not (s.project / ".github").exists() and s.git.is_clean()
    group = s.group()
    assert group["status"] == "needs_human" and "gave_up" in group["status_reason"]
    assert not s.git.branch_exists("crashpilot/1") and s.pr() is None
    # the stage's own check on the committed diff refuses the same paths
    from crashpilot.errors import PolicyViolation
    from crashpilot.stages.setup import policy_from

    diff = "diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml\n--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(PolicyViolation, match="forbidden"):
        policy_from(s.app.settings).check_diff(diff)


def test_garbage_from_the_model_in_analyse_leaves_a_brief_for_a_human(
    tmp_path: Path, crash_text: str
) -> None:
    s = make_setup(tmp_path, crash_text)
    script: list[Step] = [Failure(garbage=True)]
    with ReplayServer(script) as server:
        stages = drive(s, anthropic(server))
    assert stages == ["analyse"]
    group = s.group()
    assert group["status"] == "needs_human" and "analysis failed" in group["status_reason"]
    assert (s.app.settings.home / "briefs" / "group-1.md").exists()
    run = s.run_row()
    assert run["status"] == "needs_human"
    with s.app.engine.connect() as conn:
        [exchange] = list_exchanges(conn, run_id=run["id"])
    assert exchange.error is not None and exchange.response is None
    assert not s.git.branch_exists("crashpilot/1") and s.git.is_clean()


def test_a_model_that_times_out_mid_fix_leaves_nothing_half_done(tmp_path: Path, crash_text: str) -> None:
    s = make_setup(tmp_path, crash_text, **NO_TOOLS)
    script: list[Step] = [ANALYSIS, READ, GOOD_EDIT, Failure(delay=3.0)]
    with ReplayServer(script) as server:
        stages = drive(s, anthropic(server, timeout=0.5))
    assert stages == ["analyse", "fix"]
    group = s.group()
    assert group["status"] == "needs_human" and "model_error" in group["status_reason"]
    assert "timed out" in group["status_reason"]
    assert not s.git.branch_exists("crashpilot/1") and s.git.is_clean() and s.git.rev_parse("main") == s.base
    slot = Git(s.app.settings.home / "slots" / "slot-0" / "src")
    assert slot.is_clean() and slot.head() == s.base  # the edit the agent made was undone
    assert s.run_row()["result"]["agent"]["stop"] == "model_error"


def test_a_spent_budget_stops_the_run_cleanly(tmp_path: Path, crash_text: str) -> None:
    s = make_setup(tmp_path, crash_text, **{"budget.calls": 1})
    script: list[Step] = [ANALYSIS]
    with ReplayServer(script) as server:
        stages = drive(s, anthropic(server))
        no_problems(server, script)
    assert stages == ["analyse", "fix"]
    group = s.group()
    assert group["status"] == "needs_human" and "budget" in group["status_reason"]
    assert s.run_row()["status"] == "needs_human" and not s.git.branch_exists("crashpilot/1")
