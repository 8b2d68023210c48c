"""A two-repository project end to end: the crash is in a module that is a git repository of its own
(nested in the core's folder, ignored by the core); the real pipeline fixes it in the module's
worktree of the build slot, the core's Makefile builds core + module, the reproducer crashes on the
base and not on the fix, and the pull request is in the MODULE repository (locally, then on GitHub
through the loopback forge). The core repository gets no fix branch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_pipeline import Setup, drive, model_for

from crashpilot.app import make_backends, open_app
from crashpilot.backends.forges.github import GitHubForge
from crashpilot.backends.models import ToolCall
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.forge_server import FakeGitHub
from crashpilot.forge_setup import Forges
from crashpilot.git import Git, Identity
from crashpilot.git_http import GitHttpServer
from crashpilot.handoff import approve
from crashpilot.ingest.files import ingest_paths
from crashpilot.proc import run
from crashpilot.replay import ReplayServer, Turn
from crashpilot.settings import load
from crashpilot.store import runs
from crashpilot.store.db import utcnow, write_transaction
from crashpilot.store.schema import jobs

pytestmark = pytest.mark.skipif(
    not (shutil.which("gcc") and shutil.which("make") and shutil.which("gdb")),
    reason="needs gcc, make and gdb",
)

DEV = Identity("dev", "dev@example.invalid")
MODULE = "modules/mod-x"
TOKEN = "ghp_" + "Qx9" * 12
MAIN_C = """#include <stdio.h>
int mod_x_value(const int *p);
int main(int argc, char **argv)
{
    int seven = 7;
    (void)argv;
    printf("%d\\n", mod_x_value(argc > 1 ? NULL : &seven));
    return 0;
}
"""
X_C = """#include <stddef.h>
int mod_x_value(const int *p)
{
    return *p + 1;
}
"""
MAKEFILE = """build/app: main.c modules/mod-x/src/x.c
\tmkdir -p build
\tgcc -g -O0 -o build/app main.c modules/mod-x/src/x.c
"""
ROOT_CAUSE = "mod_x_value dereferences p without a check; main passes NULL when given an argument"
TURNS = [
    Turn(
        text="mod_x_value reads through a null pointer.",
        tool_calls=(
            ToolCall(
                "",
                "report_analysis",
                {
                    "root_cause": ROOT_CAUSE,
                    "fault_location": f"{MODULE}/src/x.c:4 mod_x_value",
                    "fault_in_stack": True,
                    "fixability": "fix",
                    "plan": "1. Return 0 for a null pointer in mod_x_value.",
                    "confidence": 0.9,
                },
            ),
        ),
        input_tokens=900,
        output_tokens=120,
    ),
    Turn(
        tool_calls=(
            ToolCall(
                "",
                "edit",
                {
                    "path": f"{MODULE}/src/x.c",
                    "search": "    return *p + 1;",
                    "replace": "    return p ? *p + 1 : 0;",
                },
            ),
        ),
        input_tokens=1500,
        output_tokens=60,
    ),
    Turn(
        tool_calls=(
            ToolCall(
                "",
                "finish",
                {
                    "root_cause": ROOT_CAUSE,
                    "summary": "mod_x_value returns 0 for a null pointer instead of reading through it.",
                    "kind": "fix",
                    "confidence": 0.9,
                    "fault_location": f"{MODULE}/src/x.c:4 mod_x_value",
                },
            ),
        ),
        input_tokens=1700,
        output_tokens=80,
    ),
]


def make_project(tmp_path: Path) -> tuple[Git, Git]:
    core = Git.init(tmp_path / "core")
    (core.root / ".gitignore").write_text("/modules/*/\n/build/\n")
    (core.root / "main.c").write_text(MAIN_C)
    (core.root / "Makefile").write_text(MAKEFILE)
    core.commit("core", DEV)
    mod = Git.init(core.root / MODULE, branch="trunk")
    (mod.root / "src").mkdir()
    (mod.root / "src" / "x.c").write_text(X_C)
    mod.commit("module", DEV)
    return core, mod


def crash_text(core: Git) -> str:
    run(["make"], cwd=core.root, timeout=120).check()
    res = run(
        ["gdb", "-nx", "-batch", "-ex", "run", "-ex", "bt", "--args", "build/app", "crash"],
        cwd=core.root,
        timeout=120,
        merge_output=True,
    )
    shutil.rmtree(core.root / "build")
    assert "SIGSEGV" in res.output and "mod_x_value" in res.output, res.output[-2000:]
    return res.output


def setup(tmp_path: Path, **flags: Any) -> tuple[Setup, Git, Git]:
    core, mod = make_project(tmp_path)
    text = crash_text(core)
    settings = load(
        env={},
        flags={
            "home": str(tmp_path / "home"),
            "project.repo": str(core.root),
            "project.base_branch": "main",
            "project.in_app": ["main.c", "modules/"],
            "project.modules": [MODULE],
            "build.command": "make",
            "reproduce.command": "build/app crash",
            "reproduce.runs": 2,
            "agent.run_tools": False,
            "model.retries": 0,
            **flags,
        },
    )
    app = open_app(settings)
    crash = tmp_path / "incoming" / "app-crash.txt"
    crash.parent.mkdir()
    crash.write_text(text)
    [result] = ingest_paths(app.engine, app.blobs, [crash], **app.ingest_options())
    assert list(result.group_ids) == [1]
    return Setup(core.root, app, core.head()), core, mod


def prs(home: str, *args: str) -> str:
    """``crashpilot prs`` as a user runs it; its standard output."""
    cmd = [sys.executable, "-m", "crashpilot", "prs", "--home", home, *args]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "GITHUB_TOKEN": ""}
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def check_fix_is_in_the_module(s: Setup, core: Git, mod: Git, mod_base: str) -> str:
    run_row = s.run_row()
    assert run_row["verification"] == "reproduced-and-fixed", run_row["result"].get("verify")
    verify = run_row["result"]["verify"]
    assert verify["base"]["reproducer"]["crashes"] == 2 and verify["fix"]["reproducer"]["crashes"] == 0
    fix = run_row["result"]["fix"]
    assert fix["repo"] == MODULE and fix["files"] == [f"{MODULE}/src/x.c"] and fix["head"] == s.base
    branch = "crashpilot/1"
    assert not core.branch_exists(branch)  # the core has no fix branch
    assert core.rev_parse("main") == s.base and core.is_clean()
    assert mod.current_branch() == "trunk" and mod.rev_parse("trunk") == mod_base and mod.is_clean()
    head = mod.rev_parse(branch)
    assert mod.run("rev-parse", f"{branch}^").stdout.strip() == mod_base  # one commit on the base
    assert mod.show(branch, "src/x.c") == X_C.replace("return *p + 1;", "return p ? *p + 1 : 0;")
    message = mod.run("log", "-1", "--format=%an%n%B", branch).stdout
    assert message.startswith("crashpilot\n") and "mod_x_value" in message
    return head


def test_a_module_fix_becomes_a_local_pull_request_in_the_module(tmp_path: Path) -> None:
    s, core, mod = setup(tmp_path)
    mod_base = mod.head()
    with ReplayServer(TURNS) as server:
        stages = drive(s, make_backends(s.app, model=model_for(server, "anthropic")))
        assert not server.problems and server.remaining == 0
    assert stages == ["analyse", "fix", "build", "verify", "publish", "track"]
    head = check_fix_is_in_the_module(s, core, mod, mod_base)
    pr = s.pr()
    assert pr is not None and pr["status"] == "open" and pr["verification"] == "reproduced-and-fixed"
    assert pr["branch"] == "crashpilot/1" and pr["base"] == "trunk" and pr["head_sha"] == head
    assert s.run_row()["result"]["pr"]["repo"] == MODULE
    # the slot's worktree of the module was left without the branch checked out
    assert (s.app.settings.home / "slots" / "slot-0" / "src" / MODULE / "src" / "x.c").exists()
    # approve merges into the module's base branch; TRACK ends the flow in FIXED
    merged = approve(
        s.app.engine, core.root, 1, Identity("crashpilot", "crashpilot@localhost"), modules=[mod.root]
    )
    assert mod.rev_parse("trunk") == merged["merged_sha"] != mod_base
    assert mod.run("rev-parse", "trunk^2").stdout.strip() == head
    assert core.rev_parse("main") == s.base and not core.branch_exists("crashpilot/1")
    assert drive(s, {}) == ["track"]
    assert s.group()["status"] == "fixed"


def test_a_module_fix_becomes_a_github_pull_request_in_the_module_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    remotes = tmp_path / "remotes"
    (remotes / "acme").mkdir(parents=True)
    with GitHttpServer(remotes, TOKEN) as git_server, FakeGitHub(TOKEN, git_root=remotes) as api:
        s, core, mod = setup(
            tmp_path,
            **{
                "forge.kind": "github",
                "forge.repo": "acme/core",
                "forge.module_repos": [f"{MODULE}=acme/mod-x"],
                "forge.base_url": api.url,
            },
        )
        for name, repo in (("core", core), ("mod-x", mod)):  # the remotes the user's clones came from
            bare = remotes / "acme" / f"{name}.git"
            subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
            branch = str(repo.current_branch())
            repo.run("push", "-q", str(bare), f"{branch}:{branch}")
            api.add_repo("acme", name, default_branch=branch, clone_url=f"{git_server.url}/acme/{name}.git")
        mod_base = mod.head()
        retry = RetryPolicy(max_retries=1, base_delay=0.01, jitter=0.0, sleep=lambda _: None)
        made = {
            key: GitHubForge(
                name,
                TOKEN,
                base_url=api.url,
                retry=retry,
                timeout=2,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
            for key, name in (("", "acme/core"), (MODULE, "acme/mod-x"))
        }
        forges = Forges(kind="github", by_repo=dict(made), secrets=(TOKEN,))
        try:
            with ReplayServer(TURNS) as server:
                backends = make_backends(s.app, model=model_for(server, "anthropic"))
                backends.pop("forges").close()
                stages = drive(s, {**backends, "forges": forges})
                assert not server.problems and server.remaining == 0
            assert stages == ["analyse", "fix", "build", "verify", "publish", "track"]
            head = check_fix_is_in_the_module(s, core, mod, mod_base)
            assert api.pulls("acme/core") == []
            (pull,) = api.pulls("acme/mod-x")
            assert pull["head"]["ref"] == "crashpilot/1" and pull["base"]["ref"] == "trunk"
            assert "reproduced-and-fixed" in pull["body"] and "`src/x.c`: +1 −1" in pull["body"]
            pushed = subprocess.run(
                ["git", "--git-dir", str(remotes / "acme" / "mod-x.git"), "rev-parse", "crashpilot/1"],
                capture_output=True,
                text=True,
            )
            assert pushed.stdout.strip() == head
            assert s.run_row()["result"]["pr"]["forge_repo"] == "acme/mod-x"
            # `crashpilot prs` lists the GitHub pull request, with its URL
            home = str(s.app.settings.home)
            (listed,) = json.loads(prs(home, "--json"))
            assert listed["url"] == pull["html_url"] and listed["forge"] == "github"
            assert (listed["id"], listed["status"], listed["repo"]) == (pull["number"], "open", "acme/mod-x")
            assert listed["head_sha"] == head and listed["base"] == "trunk" and listed["group_id"] == 1
            assert pull["html_url"] in prs(home)
            # a maintainer merges it on the forge: TRACK ends the flow in FIXED
            api.merge("acme/mod-x", pull["number"])
            backends = make_backends(s.app)
            backends.pop("forges").close()
            with write_transaction(s.app.engine) as conn:  # the TRACK job is due now
                conn.execute(jobs.update().where(jobs.c.status == "queued").values(not_before=utcnow()))
            assert drive(s, {**backends, "forges": forges}) == ["track"]
            assert s.group()["status"] == "fixed"
            assert json.loads(prs(home, "--json")) == []  # nothing open any more
            assert [pr["status"] for pr in json.loads(prs(home, "--json", "--all"))] == ["merged"]
            with s.app.engine.connect() as conn:
                assert runs.get_run(conn, s.run_row()["id"])["status"] == "merged"  # type: ignore[index]
        finally:
            for f in made.values():
                f.close()


def test_the_agent_cannot_reach_a_module_git_folder(tmp_path: Path) -> None:
    """A module's worktree has its own ``.git`` (a file naming the git folder): never an edit target."""
    from crashpilot.agent.workspace import PathRefused, resolve_inside

    core, mod = make_project(tmp_path)
    assert resolve_inside(core.root, f"{MODULE}/src/x.c")[0] == f"{MODULE}/src/x.c"
    for bad in (f"{MODULE}/.git", f"{MODULE}/.git/config", f"./{MODULE}/.git/HEAD", ".git/config"):
        with pytest.raises(PathRefused, match=r"\.git folder"):
            resolve_inside(core.root, bad)
    (core.root / "link").symlink_to(mod.root / ".git")
    with pytest.raises(PathRefused, match=r"\.git folder"):
        resolve_inside(core.root, "link/HEAD")


def test_a_fix_changing_core_and_module_at_once_goes_to_a_human(tmp_path: Path) -> None:
    s, core, mod = setup(tmp_path)
    core_edit = Turn(
        tool_calls=(
            ToolCall("", "edit", {"path": "main.c", "search": "int seven = 7;", "replace": "int seven = 8;"}),
        )
    )
    turns = [TURNS[0], TURNS[1], core_edit, TURNS[2]]
    with ReplayServer(turns) as server:
        stages = drive(s, make_backends(s.app, model=model_for(server, "anthropic")))
        assert not server.problems and server.remaining == 0
    assert stages == ["analyse", "fix"]
    group = s.group()
    assert group["status"] == "needs_human" and "several repositories" in group["status_reason"]
    assert "modules/mod-x" in group["status_reason"] and "the core" in group["status_reason"]
    assert not core.branch_exists("crashpilot/1") and not mod.branch_exists("crashpilot/1")
    assert s.pr() is None
    slot_src = s.app.settings.home / "slots" / "slot-0" / "src"
    assert (slot_src / "main.c").read_text() == MAIN_C and (
        slot_src / MODULE / "src" / "x.c"
    ).read_text() == X_C
