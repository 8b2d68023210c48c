"""A project of two repositories (core + a module with its own git repository): the fix's branch
and pull request go to the repository that owns the changed files, on its own forge."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from crashpilot.app import make_backends, open_app
from crashpilot.backends.forges.github import GitHubForge
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.errors import ConfigError, PolicyViolation
from crashpilot.flow import Outcome
from crashpilot.forge_server import FakeGitHub
from crashpilot.forge_setup import Forges
from crashpilot.git import Git, Identity
from crashpilot.git_http import GitHttpServer
from crashpilot.projects import RepoMap
from crashpilot.settings import load
from crashpilot.stages import publish
from crashpilot.store import runs
from crashpilot.store.db import utcnow, write_transaction
from crashpilot.store.schema import crash_groups
from crashpilot.worker import Context

TOKEN = "ghp_" + "Mm4" * 12
DEV = Identity("dev", "dev@example.invalid")
MODULE = "modules/mod-playerbots"
DIFF = """diff --git a/modules/mod-playerbots/src/Bot.cpp b/modules/mod-playerbots/src/Bot.cpp
--- a/modules/mod-playerbots/src/Bot.cpp
+++ b/modules/mod-playerbots/src/Bot.cpp
@@ -1 +1 @@
-void Bot::Update() { m_master->Say(); }
+void Bot::Update() { if (m_master) m_master->Say(); }
"""


def test_repo_map_owner_and_target(tmp_path: Path) -> None:
    repos = RepoMap(tmp_path, [MODULE, "modules/mod-x/"], [f"{MODULE}=acme/mod-playerbots"], "acme/core")
    assert repos.owner("src/server/game/Groups/Group.cpp").is_core
    assert repos.owner(f"{MODULE}/src/Bot.cpp").key == MODULE
    assert repos.owner("modules/mod-playerbots-old/a.cpp").is_core  # a prefix of the name is not the folder
    assert repos.target([f"{MODULE}/src/Bot.cpp", f"{MODULE}/src/Bot.h"]).forge_repo == "acme/mod-playerbots"
    assert repos.get(MODULE).relative(f"{MODULE}/src/Bot.cpp") == "src/Bot.cpp"
    with pytest.raises(PolicyViolation, match="several repositories"):
        repos.target(["src/a.cpp", f"{MODULE}/src/Bot.cpp"])
    with pytest.raises(ConfigError):
        RepoMap(tmp_path, ["../outside"])
    with pytest.raises(ConfigError, match="not in project.modules"):
        RepoMap(tmp_path, [], ["modules/other=acme/other"])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    remotes = tmp_path / "remotes"
    core_dir = tmp_path / "core"
    core = Git.init(core_dir)
    (core_dir / ".gitignore").write_text("/modules/*/\n")
    (core_dir / "src").mkdir()
    (core_dir / "src" / "Group.cpp").write_text("void Group::Disband() {}\n")
    core.commit("core", DEV)
    mod_dir = core_dir / MODULE
    mod = Git.init(mod_dir, branch="master")
    (mod_dir / "src").mkdir()
    (mod_dir / "src" / "Bot.cpp").write_text("void Bot::Update() { m_master->Say(); }\n")
    mod.commit("module", DEV)
    for name, repo in (("core", core_dir), ("mod-playerbots", mod_dir)):
        bare = remotes / "acme" / f"{name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        branch = Git(repo).current_branch()
        Git(repo).run("push", "-q", str(bare), f"{branch}:{branch}")
    with GitHttpServer(remotes, TOKEN) as git_server, FakeGitHub(TOKEN, git_root=remotes) as api:
        api.add_repo("acme", "core", clone_url=f"{git_server.url}/acme/core.git")
        api.add_repo(
            "acme",
            "mod-playerbots",
            default_branch=str(mod.current_branch()),
            clone_url=f"{git_server.url}/acme/mod-playerbots.git",
        )
        settings = load(
            env={},
            flags={
                "home": str(tmp_path / "home"),
                "project.repo": str(core_dir),
                "project.modules": [MODULE],
                "forge.kind": "github",
                "forge.repo": "acme/core",
                "forge.module_repos": [f"{MODULE}=acme/mod-playerbots"],
                "forge.base_url": api.url,
            },
        )
        app = open_app(settings)
        policy = RetryPolicy(max_retries=1, base_delay=0.01, jitter=0.0, sleep=lambda _: None)
        forges = {
            key: GitHubForge(
                name,
                TOKEN,
                base_url=api.url,
                retry=policy,
                timeout=2,
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
            for key, name in (("", "acme/core"), (MODULE, "acme/mod-playerbots"))
        }
        yield SimpleNamespace(
            app=app,
            api=api,
            core=core,
            mod=mod,
            remotes=remotes,
            forges=Forges(kind="github", by_repo=dict(forges), secrets=(TOKEN,)),
        )
        for f in forges.values():
            f.close()


def test_a_fix_in_the_module_goes_to_the_module_repository(project: SimpleNamespace) -> None:
    p = project
    base = p.core.head()
    now = utcnow()
    with write_transaction(p.app.engine) as conn:
        gid = conn.execute(
            crash_groups.insert().values(
                signature="Bot::Update",
                status="verifying",
                crash_kind="SIGSEGV",
                title="SIGSEGV in Bot::Update",
                count=3,
                first_seen=now,
                last_seen=now,
                revisions=[],
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        run_id = runs.start_run(conn, gid, branch=f"crashpilot/{gid}", base_revision=base)
        runs.add_result(
            conn,
            run_id,
            fix={
                "root_cause": "m_master is null after logout",
                "summary": "guard it",
                "files": [f"{MODULE}/src/Bot.cpp"],
                "head": base,
            },
        )
        runs.update_run(conn, run_id, verification="builds-only")
    job = SimpleNamespace(
        id=1,
        group_id=gid,
        stage="publish",
        payload={
            "run_id": run_id,
            "branch": f"crashpilot/{gid}",
            "head": base,
            "base_sha": base,
            "previous_diff": DIFF,
        },
    )
    backends = make_backends(p.app)
    backends.pop("forges").close()  # the ones made from the settings; ours retry fast
    ctx = Context(p.app.engine, p.app.settings, "test", {**backends, "forges": p.forges})
    result = publish.run(job, ctx)
    again = publish.run(job, ctx)  # a restart: the same commit, the same pull request
    assert result.outcome is Outcome.OK and again.payload == result.payload
    assert p.api.pulls("acme/core") == []
    (pull,) = p.api.pulls("acme/mod-playerbots")
    assert pull["head"]["ref"] == f"crashpilot/{gid}" and pull["base"]["ref"] == p.mod.current_branch()
    assert "`src/Bot.cpp`: +1 −1" in pull["body"] and "Occurrences: **3**" in pull["body"]
    branch = f"crashpilot/{gid}"
    assert p.mod.show(branch, "src/Bot.cpp") == "void Bot::Update() { if (m_master) m_master->Say(); }\n"
    assert p.mod.run("log", "-1", "--format=%an", branch).stdout.strip() == "crashpilot"
    assert not p.core.branch_exists(branch)  # nothing in the core
    remote = p.remotes / "acme" / "mod-playerbots.git"
    pushed = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", branch], capture_output=True, text=True
    )
    assert pushed.stdout.strip() == p.mod.rev_parse(branch)
    with p.app.engine.connect() as conn:
        url = conn.execute(sa.select(crash_groups.c.pr_url).where(crash_groups.c.id == gid)).scalar_one()
        info = runs.get_run(conn, run_id)["result"]["pr"]  # type: ignore[index]
    assert url == pull["html_url"] and info["repo"] == MODULE and info["forge_repo"] == "acme/mod-playerbots"
