"""GitHubForge for real: PyGithub over HTTP against the loopback GitHub REST server, and real
``git push`` to a bare repository behind ``git http-backend``."""

from __future__ import annotations

import logging
import os
import subprocess
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crashpilot.backends.forges.github import GitHubForge
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.errors import ConfigError, PermanentError, PolicyViolation, TransientError
from crashpilot.forge_server import FakeGitHub
from crashpilot.git import Git
from crashpilot.git_http import GitHttpServer
from crashpilot.protocols import Forge

TOKEN = "ghp_" + "k3Y9" * 9
REPO = "acme/core"
BRANCH = "crashpilot/17"


@dataclass
class World:
    work: Path
    bare: Path
    api: FakeGitHub
    git: GitHttpServer
    sleeps: list[float] = field(default_factory=list)
    forges: list[GitHubForge] = field(default_factory=list)

    def forge(self, token: str = TOKEN, retries: int = 3, **kw: object) -> GitHubForge:
        policy = RetryPolicy(max_retries=retries, base_delay=0.5, jitter=0.0, sleep=self.sleeps.append)
        options: dict[str, object] = dict(
            base_url=self.api.url,
            retry=policy,
            timeout=1,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        options.update(kw)
        f = GitHubForge(REPO, token, **options)  # type: ignore[arg-type]
        self.forges.append(f)
        return f

    def remote_sha(self, branch: str) -> str | None:
        res = subprocess.run(
            ["git", "--git-dir", str(self.bare), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
        )
        return res.stdout.strip() if res.returncode == 0 else None

    def posts(self, path: str) -> int:
        return sum(1 for r in self.api.requests if r.method == "POST" and r.path == path)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    remotes = tmp_path / "remotes"
    bare = remotes / "acme" / "core.git"
    bare.parent.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work = tmp_path / "work"
    git = Git.init(work)
    (work / "Group.cpp").write_text("void Group::RemoveMember() { m_leader->Reset(); }\n")
    git.run("add", "-A")
    git.run("commit", "-q", "-m", "init")
    git.run("push", "-q", str(bare), "main")
    git.checkout(BRANCH, create_from="main")
    (work / "Group.cpp").write_text("void Group::RemoveMember() { if (m_leader) m_leader->Reset(); }\n")
    git.run("commit", "-q", "-am", "fix(Core/Group): null leader")
    with GitHttpServer(remotes, TOKEN) as git_server, FakeGitHub(TOKEN, git_root=remotes) as api:
        api.add_repo("acme", "core", clone_url=f"{git_server.url}/acme/core.git")
        w = World(work, bare, api, git_server)
        yield w
        for f in w.forges:
            f.close()


def published(world: World) -> GitHubForge:
    forge = world.forge()
    forge.push(world.work, BRANCH, "main")
    return forge


def test_satisfies_the_protocol(world: World) -> None:
    assert isinstance(world.forge(), Forge)


def test_push_then_open_pr_once(world: World) -> None:
    forge = world.forge()
    main_before = world.remote_sha("main")
    sha = forge.push(world.work, BRANCH, "main")
    assert sha == Git(world.work).rev_parse(BRANCH)
    assert world.remote_sha(BRANCH) == sha
    assert world.remote_sha("main") == main_before
    assert world.git.requests and all(r.authorized for r in world.git.requests)
    assert any(r.path.endswith("/git-receive-pack") and r.method == "POST" for r in world.git.requests)

    pr = forge.open_pr(BRANCH, "main", "Fix crash: `SIGSEGV`", "## Crash\nbody text")
    assert (pr.number, pr.branch, pr.base, pr.head_sha) == (1, BRANCH, "main", sha)
    assert pr.url.endswith("/acme/core/pull/1")
    again = forge.open_pr(BRANCH, "main", "other title", "other body")
    assert again == pr
    assert forge.find_pr(BRANCH) == pr
    assert world.posts("/repos/acme/core/pulls") == 1
    (pull,) = world.api.pulls(REPO)
    assert pull["body"] == "## Crash\nbody text" and pull["head"]["ref"] == BRANCH
    assert not any("merge" in r.path for r in world.api.requests)


def test_a_new_forge_after_a_restart_finds_the_open_pr(world: World) -> None:
    first = published(world).open_pr(BRANCH, "main", "t", "b")
    second = world.forge().open_pr(BRANCH, "main", "t", "b")
    assert second.number == first.number
    assert len(world.api.pulls(REPO)) == 1


def test_repush_after_a_rewritten_fix(world: World) -> None:
    forge = published(world)
    git = Git(world.work)
    git.run("commit", "-q", "--amend", "-m", "fix(Core/Group): null leader, second try")
    sha = forge.push(world.work, BRANCH, "main")
    assert world.remote_sha(BRANCH) == sha


def test_502_after_the_pr_was_created_does_not_make_a_second(world: World) -> None:
    forge = published(world)
    world.api.fail("POST", "/repos/acme/core/pulls", status=502, after=True)
    pr = forge.open_pr(BRANCH, "main", "t", "b")
    assert pr.number == 1
    assert world.posts("/repos/acme/core/pulls") == 1
    assert len(world.api.pulls(REPO)) == 1
    assert forge.retries == 1 and world.sleeps == [0.5]


def test_502_before_creating_is_retried(world: World) -> None:
    forge = published(world)
    world.api.fail("POST", "/repos/acme/core/pulls", status=503, times=2)
    pr = forge.open_pr(BRANCH, "main", "t", "b")
    assert pr.number == 1
    assert world.posts("/repos/acme/core/pulls") == 3
    assert forge.retries == 2 and world.sleeps == [0.5, 1.0]


def test_timeouts_are_retried_without_a_second_pr(world: World) -> None:
    forge = published(world)
    world.api.fail("GET", "/repos/acme/core/pulls", status=None, delay=2.5)  # find_pr times out once
    world.api.fail(
        "POST", "/repos/acme/core/pulls", status=None, delay=2.5, after=True
    )  # created, answer late
    pr = forge.open_pr(BRANCH, "main", "t", "b")
    assert pr.number == 1
    assert len(world.api.pulls(REPO)) == 1
    assert forge.retries == 2


def test_persistent_5xx_gives_up_as_transient(world: World) -> None:
    forge = published(world)
    world.api.fail("POST", "/repos/acme/core/pulls", status=500, times=10)
    with pytest.raises(TransientError, match="HTTP 500"):
        forge.open_pr(BRANCH, "main", "t", "b")
    assert world.posts("/repos/acme/core/pulls") == 4 and forge.retries == 3
    assert world.api.pulls(REPO) == []


def test_base_and_default_branch_are_refused(world: World) -> None:
    forge = world.forge()
    with pytest.raises(PolicyViolation):
        forge.push(world.work, "main", "main")
    with pytest.raises(PolicyViolation):
        forge.push(world.work, "main", "develop")  # main is the repository's default branch
    with pytest.raises(PolicyViolation):
        forge.open_pr("main", "main", "t", "b")
    assert world.git.requests == []
    assert world.posts("/repos/acme/core/pulls") == 0
    assert not hasattr(forge, "merge")


def test_push_url_with_credentials_is_refused(world: World) -> None:
    with pytest.raises(ConfigError, match="credentials"):
        world.forge(push_url=f"http://bot:{TOKEN}@127.0.0.1:1/acme/core.git")


def test_bad_token_is_permanent_and_never_shown(world: World) -> None:
    bad = "ghp_" + "BAD0" * 9
    with pytest.raises(PermanentError) as info:
        world.forge(token=bad).open_pr(BRANCH, "main", "t", "b")
    assert "401" in str(info.value)
    assert bad not in "".join(traceback.format_exception(info.value))


def test_git_server_refusing_the_token_is_permanent(world: World, tmp_path: Path) -> None:
    with GitHttpServer(tmp_path / "remotes", "another-token") as strict:
        forge = world.forge(push_url=f"{strict.url}/acme/core.git")
        with pytest.raises(PermanentError, match="git push failed") as info:
            forge.push(world.work, BRANCH, "main")
    assert strict.requests and not any(r.authorized for r in strict.requests)
    assert TOKEN not in "".join(traceback.format_exception(info.value))
    assert world.remote_sha(BRANCH) is None


def test_git_server_down_is_transient(world: World) -> None:
    forge = world.forge(push_url="http://127.0.0.1:9/acme/core.git", retries=1)
    with pytest.raises(TransientError):
        forge.push(world.work, BRANCH, "main")
    assert forge.retries == 1


def test_the_token_never_reaches_config_logs_errors_or_bodies(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    forge = published(world)
    world.api.fail("POST", "/repos/acme/core/pulls", status=502, after=True)
    pr = forge.open_pr(BRANCH, "main", f"title {TOKEN}", f"body with {TOKEN} in it")
    forge.comment(pr, f"note {TOKEN}")
    forge.pr_state(pr)
    assert TOKEN not in (world.work / ".git" / "config").read_text()
    assert TOKEN not in (world.bare / "config").read_text()
    assert TOKEN not in caplog.text
    (pull,) = world.api.pulls(REPO)
    assert TOKEN not in pull["body"] and TOKEN not in pull["title"]
    assert TOKEN not in "".join(world.api.issue_comments(REPO, pr.number))
    assert TOKEN not in repr(forge)


def test_pr_state_follows_reviews_merge_and_close(world: World) -> None:
    forge = published(world)
    pr = forge.open_pr(BRANCH, "main", "t", "b")
    state = forge.pr_state(pr)
    assert (state.status, state.changes_requested, state.feedback) == ("open", False, ())

    world.api.add_review(
        REPO,
        1,
        "alice",
        "CHANGES_REQUESTED",
        "Check m_leader earlier.",
        comments=[("Group.cpp", 1, "not here")],
    )
    world.api.add_review(REPO, 1, "alice", "COMMENTED", "also, style")  # a comment does not lift the request
    world.api.add_review(REPO, 1, "bob", "APPROVED")
    state = forge.pr_state(pr)
    assert state.changes_requested and state.status == "open"
    assert [(f.kind, f.author, f.body) for f in state.feedback] == [
        ("review", "alice", "Check m_leader earlier."),
        ("inline", "alice", "not here"),
    ]
    assert state.feedback[1].path == "Group.cpp" and state.feedback[1].line == 1
    assert state.approved_by == ("bob",)

    world.api.set_head(REPO, 1, "f" * 40)  # crashpilot pushed a new fix: the old request is answered
    assert not forge.pr_state(pr).changes_requested
    world.api.add_review(REPO, 1, "alice", "CHANGES_REQUESTED", "still wrong")
    assert [f.body for f in forge.pr_state(pr).feedback] == ["still wrong"]
    world.api.add_review(REPO, 1, "alice", "APPROVED")
    assert not forge.pr_state(pr).changes_requested

    world.api.merge(REPO, 1, sha="a" * 40)
    merged = forge.pr_state(pr)
    assert (merged.status, merged.merged_sha, merged.changes_requested) == ("merged", "a" * 40, False)


def test_closed_without_merge_is_closed(world: World) -> None:
    forge = published(world)
    pr = forge.open_pr(BRANCH, "main", "t", "b")
    world.api.close(REPO, pr.number)
    assert forge.pr_state(pr).status == "closed"
    assert forge.find_pr(BRANCH) is None


def test_comment_is_posted_once_even_after_a_502(world: World) -> None:
    forge = published(world)
    pr = forge.open_pr(BRANCH, "main", "t", "b")
    world.api.fail("POST", "/repos/acme/core/issues/1/comments", status=502, after=True)
    forge.comment(pr, "Rebuilt after review: tests pass.")
    assert world.api.issue_comments(REPO, 1) == ["Rebuilt after review: tests pass."]
    assert forge.retries == 1


def test_enterprise_base_url_with_api_prefix(tmp_path: Path) -> None:
    with FakeGitHub(TOKEN, prefix="/api/v3") as api:
        api.add_repo("acme", "core", default_branch="master")
        forge = GitHubForge(
            REPO, TOKEN, base_url=api.url, seconds_between_requests=None, seconds_between_writes=None
        )
        try:
            pr = forge.open_pr(BRANCH, "master", "t", "b")
        finally:
            forge.close()
    assert pr.number == 1 and pr.base == "master"
    assert api.url.endswith("/api/v3")


def test_a_large_push_goes_through_chunked_transfer(world: World) -> None:
    git = Git(world.work)
    (world.work / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    git.run("add", "blob.bin")
    git.run("commit", "-q", "-m", "big")
    sha = world.forge().push(world.work, BRANCH, "main")
    assert world.remote_sha(BRANCH) == sha
    check = subprocess.run(
        ["git", "--git-dir", str(world.bare), "fsck", "--no-progress"], capture_output=True
    )
    assert check.returncode == 0, check.stderr
