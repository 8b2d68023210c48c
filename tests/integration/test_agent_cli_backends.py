"""Each agent CLI backend against a stand-in of its program on PATH, in a real git worktree.

No model is reachable here, so ``tests/integration/standins/{claude,codex,aider}`` play the
programs: they edit files in their working directory as ``$HOME/standin.json`` says and print
the documented output of the real program. The backends' invocation, the diff pickup, the
policy, the clean-up and the environment scrubbing are real.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from crashpilot.backends.agents import AgentRun, agent_task, make_agent
from crashpilot.git import Git
from crashpilot.policy import Policy

STANDINS = Path(__file__).resolve().parent / "standins"
BACKENDS = ["claude-code", "codex", "aider"]
PROGRAM = {"claude-code": "claude", "codex": "codex", "aider": "aider"}
KEY_ENV = {"claude-code": "ANTHROPIC_API_KEY", "codex": "CODEX_API_KEY", "aider": "ANTHROPIC_API_KEY"}

PLAYER = """#include "player.h"

int Player::Level(const Player* p) {
    return p->level;
}
"""
FIX_SEARCH = "    return p->level;"
FIX_REPLACE = "    if (!p)\n        return 0;\n    return p->level;"
PARENT_SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-parent-0000",
    "OPENAI_API_KEY": "sk-openai-parent-1111",
    "CODEX_API_KEY": "sk-codex-parent-2222",
    "GITHUB_TOKEN": "ghp_parent3333",
    "AWS_SECRET_ACCESS_KEY": "aws-parent-4444",
    "CRASHPILOT_FORGE_TOKEN": "forge-parent-5555",
}


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    """A repository with source, a test and a Makefile, and a worktree on a crashpilot branch."""
    repo = Git.init(tmp_path / "repo")
    root = repo.root
    (root / "src").mkdir()
    (root / "tests").mkdir()
    (root / "src" / "player.cpp").write_text(PLAYER)
    (root / "src" / "player.h").write_text("struct Player { int level; static int Level(const Player*); };\n")
    (root / "tests" / "test_player.cpp").write_text("int main() { return 0; }\n")
    (root / "Makefile").write_text("all:\n\tg++ -c src/player.cpp\n")
    (root / ".gitignore").write_text("build/\n")
    repo.run("add", "-A")
    repo.run("commit", "-qm", "base")
    wt = tmp_path / "wt"
    repo.worktree_add(wt, "crashpilot/g1", base="HEAD")
    (wt / "build").mkdir()
    (wt / "build" / "keep.o").write_text("object")  # an ignored build folder must survive a reset
    return wt


def bin_with(tmp_path: Path, *programs: str) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    (folder / "python3").symlink_to(sys.executable)  # the stand-ins' `#!/usr/bin/env python3`
    for name in programs:
        (folder / name).symlink_to(STANDINS / name)
    return folder


def parent_env(folder: Path) -> dict[str, str]:
    return {**os.environ, **PARENT_SECRETS, "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def configure(mode: str, edits: list[dict[str, str]] | None = None, **extra: Any) -> None:
    cfg = {"mode": mode, "edits": edits or [], **extra}
    (Path(os.environ["HOME"]) / "standin.json").write_text(json.dumps(cfg))


def call() -> dict[str, Any]:
    return json.loads((Path(os.environ["HOME"]) / "standin-call.json").read_text())


def job(wt: Path, folder: Path, **kw: Any) -> AgentRun:
    prompt = agent_task("SIGSEGV in Player::Level (src/player.cpp:4)", Policy(), build="make all")
    args: dict[str, Any] = {
        "worktree": wt, "prompt": prompt, "policy": Policy(), "timeout": 30.0, "env": parent_env(folder),
        "commands": ("make all",), "files": ("src/player.cpp", "tests/test_player.cpp", "../etc/passwd"),
    }  # fmt: skip
    args.update(kw)
    return AgentRun(**args)


def status(wt: Path) -> list[str]:
    return Git(wt).status()


FIX = [{"path": "src/player.cpp", "search": FIX_SEARCH, "replace": FIX_REPLACE}]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_agents_edit_is_picked_up_as_a_diff(backend: str, worktree: Path, tmp_path: Path) -> None:
    folder = bin_with(tmp_path, PROGRAM[backend])
    base = Git(worktree).head()
    configure(
        "edit", FIX + [{"path": "src/guard.h", "content": "#pragma once\n"}], summary="Null check added."
    )
    out = make_agent(backend).run(job(worktree, folder))
    assert out.status == "changed", out.error
    assert out.ok and out.exit_code == 0 and out.error is None
    assert "+    if (!p)" in out.diff and "new file mode" in out.diff
    assert out.changed_files == ("src/guard.h", "src/player.cpp")
    assert Git(worktree).head() == base  # nothing committed
    assert sorted(status(worktree)) == [" M src/player.cpp", "?? src/guard.h"]  # left as the agent left it
    assert "Null check added." in (out.summary or "")
    assert out.claimed_success is True
    assert out.transcript.strip()
    assert (worktree / "build" / "keep.o").exists()
    record = out.exchange()
    assert record["provider"] == backend and record["response"]["status"] == "changed"
    assert "SIGSEGV in Player::Level" in record["request"]["prompt"]
    json.dumps(record)  # storable as JSON


@pytest.mark.parametrize(
    ("backend", "cost", "tokens_in", "tokens_out"),
    [("claude-code", 0.0421, 2000, 250), ("codex", None, 24763, 122), ("aider", 0.011, 2100, 310)],
)
def test_cost_and_tokens_come_from_the_agents_own_output(
    backend: str, cost: float | None, tokens_in: int, tokens_out: int, worktree: Path, tmp_path: Path
) -> None:
    configure("edit", FIX)
    out = make_agent(backend).run(job(worktree, bin_with(tmp_path, PROGRAM[backend])))
    assert out.status == "changed"
    assert out.cost_usd == cost
    assert (out.input_tokens, out.output_tokens) == (tokens_in, tokens_out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_forbidden_edit_is_refused_and_the_worktree_is_clean_again(
    backend: str, worktree: Path, tmp_path: Path
) -> None:
    edits = FIX + [
        {"path": "tests/test_player.cpp", "search": "return 0;", "replace": "return 0; // skip"},
        {"path": "src/extra.cpp", "content": "int x;\n"},
    ]
    configure("edit", edits)
    out = make_agent(backend).run(job(worktree, bin_with(tmp_path, PROGRAM[backend])))
    assert out.status == "refused" and not out.ok
    assert "tests/test_player.cpp" in (out.error or "") and "forbidden" in (out.error or "")
    assert out.diff == "" and "tests/test_player.cpp" in out.discarded_diff
    assert status(worktree) == []
    assert (worktree / "src" / "player.cpp").read_text() == PLAYER
    assert not (worktree / "src" / "extra.cpp").exists()
    assert (worktree / "build" / "keep.o").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_missing_executable_is_a_clear_error(backend: str, worktree: Path, tmp_path: Path) -> None:
    folder = bin_with(tmp_path)  # python3 only
    run = job(worktree, folder, env={**parent_env(folder), "PATH": str(folder)})
    out = make_agent(backend).run(run)
    assert out.status == "missing"
    assert out.error is not None and f"{PROGRAM[backend]} not found on PATH: install with" in out.error
    assert {
        "claude-code": "@anthropic-ai/claude-code@2.1.197",
        "codex": "@openai/codex",
        "aider": "aider-chat",
    }[backend] in out.error
    assert status(worktree) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_non_zero_exit_discards_the_change(backend: str, worktree: Path, tmp_path: Path) -> None:
    configure("fail", FIX)
    out = make_agent(backend).run(job(worktree, bin_with(tmp_path, PROGRAM[backend])))
    assert out.status == "failed"
    assert out.exit_code == 1 and out.claimed_success is False
    assert out.error and "exit code 1" in out.error
    assert "+    if (!p)" in out.discarded_diff and out.diff == ""
    assert status(worktree) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_not_logged_in_is_a_clear_auth_error(backend: str, worktree: Path, tmp_path: Path) -> None:
    configure("auth")
    out = make_agent(backend).run(job(worktree, bin_with(tmp_path, PROGRAM[backend])))
    assert out.status == "auth"
    assert out.error is not None and "not logged in or its key was refused" in out.error
    assert KEY_ENV[backend] in out.error
    assert status(worktree) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hanging_agent_is_killed_with_its_children(backend: str, worktree: Path, tmp_path: Path) -> None:
    configure("hang", FIX)
    started = time.monotonic()
    out = make_agent(backend).run(job(worktree, bin_with(tmp_path, PROGRAM[backend]), timeout=1.5))
    assert time.monotonic() - started < 20
    assert out.status == "timeout" and out.exit_code is None
    assert "+    if (!p)" in out.discarded_diff  # it had edited before it hung: thrown away
    pids = json.loads((Path(os.environ["HOME"]) / "standin-pids.json").read_text())
    for pid in pids.values():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        assert not _alive(pid), f"process {pid} survived the timeout"
    assert status(worktree) == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped by its dead parent's reaper) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_agent_sees_only_the_key_passed_on_purpose(backend: str, worktree: Path, tmp_path: Path) -> None:
    configure("nothing")
    out = make_agent(backend).run(
        job(worktree, bin_with(tmp_path, PROGRAM[backend]), api_key="sk-on-purpose-9")
    )
    assert out.status == "no_change"
    env = call()["env"]
    assert env[KEY_ENV[backend]] == "sk-on-purpose-9"
    leaked = {k for k, v in env.items() if v in PARENT_SECRETS.values()}
    assert leaked == set()
    assert not {"GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "CRASHPILOT_FORGE_TOKEN"} & set(env)
    assert env["HOME"] == os.environ["HOME"]  # its own login files stay reachable
    assert "sk-on-purpose-9" not in json.dumps(out.exchange())


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_a_key_no_key_variable_is_set(backend: str, worktree: Path, tmp_path: Path) -> None:
    configure("nothing")
    make_agent(backend).run(job(worktree, bin_with(tmp_path, PROGRAM[backend])))
    assert KEY_ENV[backend] not in call()["env"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_prompt_and_headless_flags_reach_the_program(
    backend: str, worktree: Path, tmp_path: Path
) -> None:
    configure("nothing")
    make_agent(backend, model="some-model").run(job(worktree, bin_with(tmp_path, PROGRAM[backend])))
    seen = call()
    argv = seen["argv"]
    prompt = seen["stdin"]
    if backend == "aider":
        prompt = (Path(os.environ["HOME"]) / "standin-message.txt").read_text()
    assert "<crash_report>\nSIGSEGV in Player::Level" in prompt and "make all" in prompt
    assert Path(seen["cwd"]).resolve() == worktree.resolve()
    assert argv[argv.index("--model") + 1] == "some-model"
    if backend == "claude-code":
        assert argv[1:4] == ["-p", "--output-format", "json"]
        assert argv[argv.index("--permission-mode") + 1] == "acceptEdits"
        assert "Bash(make all)" in argv and "WebFetch" in argv[argv.index("--disallowedTools") :]
    elif backend == "codex":
        assert argv[1:3] == ["exec", "--json"] and argv[-1] == "-"
        assert argv[argv.index("--sandbox") + 1] == "workspace-write"
        assert "sandbox_workspace_write.network_access=false" in argv
    else:
        assert {"--yes-always", "--no-auto-commits", "--no-dirty-commits", "--no-detect-urls"} <= set(argv)
        assert argv[argv.index("--") + 1 :] == ["src/player.cpp"]  # tests and paths outside refused


@pytest.mark.parametrize("backend", BACKENDS)
def test_commits_made_by_the_agent_are_undone_and_the_change_kept(
    backend: str, worktree: Path, tmp_path: Path
) -> None:
    base = Git(worktree).head()
    configure("commit", FIX)
    out = make_agent(backend).run(job(worktree, bin_with(tmp_path, PROGRAM[backend])))
    assert out.status == "changed" and out.commits_undone == 1
    assert Git(worktree).head() == base
    assert "+    if (!p)" in out.diff and status(worktree) == [" M src/player.cpp"]


def test_aiders_own_cache_is_not_part_of_the_change(worktree: Path, tmp_path: Path) -> None:
    configure("edit", FIX)
    out = make_agent("aider").run(job(worktree, bin_with(tmp_path, "aider")))
    assert out.status == "changed" and out.changed_files == ("src/player.cpp",)
    assert not list(worktree.glob(".aider*")) and ".aider" not in out.diff


@pytest.mark.parametrize("backend", ["claude-code", "codex"])
def test_output_that_is_not_the_documented_json_is_a_failure(
    backend: str, worktree: Path, tmp_path: Path
) -> None:
    configure("garbage")
    out = make_agent(backend).run(job(worktree, bin_with(tmp_path, PROGRAM[backend])))
    assert out.status == "failed" and out.exit_code == 0
    assert out.error and "no JSON" in out.error
    assert status(worktree) == []


def test_an_agent_that_switches_branches_is_put_back_and_its_work_discarded(
    worktree: Path, tmp_path: Path
) -> None:
    configure("branch", FIX)
    out = make_agent("claude-code").run(job(worktree, bin_with(tmp_path, "claude")))
    assert out.status == "failed" and "switched branches" in (out.error or "")
    assert Git(worktree).current_branch() == "crashpilot/g1" and status(worktree) == []
