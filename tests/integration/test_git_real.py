"""The git wrapper against real repositories in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashpilot.errors import CommandFailed
from crashpilot.git import Git, Identity

BOT = Identity("crashpilot-bot", "bot@crashpilot.invalid")
HUMAN = Identity("Jane Dev", "jane@example.invalid")


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    g = Git.init(tmp_path / "repo")
    (g.root / "src").mkdir()
    (g.root / "src" / "a.cpp").write_text("int a() {\n  return 1;\n}\n")
    (g.root / "README").write_text("hello\n")
    g.commit("initial", HUMAN)
    return g


def _author(g: Git, rev: str = "HEAD") -> tuple[str, str]:
    out = g.run("log", "-1", "--format=%an|%ae|%cn|%ce", rev).stdout.strip().split("|")
    assert out[0] == out[2] and out[1] == out[3]
    return out[0], out[1]


def test_root_head_and_branch(repo: Git) -> None:
    sub = Git(repo.root / "src")
    assert sub.toplevel() == repo.root.resolve()
    assert len(repo.head()) == 40
    assert repo.current_branch() == "main"
    assert repo.ls_files() == ["README", "src/a.cpp"]
    assert repo.is_clean()


def test_commit_uses_the_bot_identity_over_the_environment(repo: Git) -> None:
    # conftest sets GIT_AUTHOR_NAME=Test Author; the bot identity must still win.
    (repo.root / "src" / "a.cpp").write_text("int a() {\n  return 2;\n}\n")
    sha = repo.commit("fix: return 2\n\nbody", BOT)
    assert sha == repo.head()
    assert _author(repo) == ("crashpilot-bot", "bot@crashpilot.invalid")
    assert repo.log(max_count=1)[0].subject == "fix: return 2"


def test_branches_diff_numstat_and_apply(repo: Git) -> None:
    base = repo.head()
    repo.checkout("crashpilot/g1", create_from=base)
    assert repo.current_branch() == "crashpilot/g1"
    (repo.root / "src" / "a.cpp").write_text("int a() {\n  if (!p) return 0;\n  return 1;\n}\n")
    (repo.root / "src" / "new.h").write_text("#pragma once\n")
    (repo.root / "README").unlink()
    repo.stage_all()
    text = repo.diff(base, cached=True)
    assert "+  if (!p) return 0;" in text
    rows = {r.path: (r.added, r.deleted) for r in repo.numstat(base, cached=True)}
    assert rows == {"src/a.cpp": (1, 0), "src/new.h": (1, 0), "README": (0, 1)}
    repo.commit("guard", BOT)
    assert repo.is_ancestor(base, "crashpilot/g1")
    assert not repo.is_ancestor("crashpilot/g1", base)
    # The same patch applies to the base, and refuses to apply twice.
    repo.checkout("main")
    repo.apply_check(text)
    repo.apply(text)
    assert "if (!p)" in (repo.root / "src" / "a.cpp").read_text()
    with pytest.raises(CommandFailed):
        repo.apply_check(text)
    repo.reset_hard()
    repo.clean()
    assert repo.is_clean()


def test_numstat_rename_and_binary(repo: Git) -> None:
    base = repo.head()
    repo.run("mv", "README", "README.md")
    (repo.root / "blob.bin").write_bytes(bytes(range(256)))
    repo.stage_all()
    rows = {r.path: r for r in repo.numstat(base, cached=True)}
    assert rows["README.md"].old_path == "README"
    assert rows["blob.bin"].added is None and rows["blob.bin"].deleted is None


def test_merge_no_ff_and_delete_branch(repo: Git) -> None:
    base = repo.head()
    repo.checkout("crashpilot/g2", create_from=base)
    (repo.root / "fix.txt").write_text("x\n")
    fix = repo.commit("fix", BOT)
    merged = repo.merge("crashpilot/g2", into="main", identity=BOT)
    assert repo.current_branch() == "main"
    assert merged != fix
    assert repo.is_ancestor(fix, "main")
    parents = repo.run("log", "-1", "--format=%P").stdout.split()
    assert len(parents) == 2
    repo.delete_branch("crashpilot/g2")
    assert not repo.branch_exists("crashpilot/g2")


def test_merge_conflict_is_aborted_and_raised(repo: Git) -> None:
    base = repo.head()
    repo.checkout("side", create_from=base)
    (repo.root / "README").write_text("side\n")
    repo.commit("side", BOT)
    repo.checkout("main")
    (repo.root / "README").write_text("main\n")
    repo.commit("main", BOT)
    with pytest.raises(CommandFailed):
        repo.merge("side", into="main", identity=BOT)
    assert repo.is_clean()
    assert (repo.root / "README").read_text() == "main\n"


def test_worktrees(repo: Git, tmp_path: Path) -> None:
    wt = tmp_path / "slot0"
    repo.worktree_add(wt, "crashpilot/g3", base="main")
    other = Git(wt)
    assert other.current_branch() == "crashpilot/g3"
    assert (wt / "src" / "a.cpp").exists()
    paths = [Path(w["worktree"]).resolve() for w in repo.worktree_list()]
    assert wt.resolve() in paths
    repo.worktree_remove(wt)
    assert not wt.exists()
    repo.worktree_prune()
    assert len(repo.worktree_list()) == 1


def test_blame_log_and_show(repo: Git) -> None:
    path = repo.root / "src" / "a.cpp"
    path.write_text("int a() {\n  return 42;\n}\n")
    second = repo.commit("answer", BOT)
    lines = repo.blame("src/a.cpp", 1, 3)
    assert [b.line for b in lines] == [1, 2, 3]
    assert lines[1].sha == second and lines[1].author_name == "crashpilot-bot"
    assert lines[1].text == "  return 42;"
    assert lines[0].sha != second and lines[0].author_email == "jane@example.invalid"
    assert lines[0].summary == "initial"
    touched = repo.log_lines("src/a.cpp", 2, 2)
    assert [c.subject for c in touched] == ["answer", "initial"]
    assert [c.subject for c in repo.log("README")] == ["initial"]
    assert repo.show("HEAD~1", "src/a.cpp") == "int a() {\n  return 1;\n}\n"
    assert "return 42" in repo.show("HEAD")


def test_suspicious_ref_is_refused(repo: Git) -> None:
    with pytest.raises(CommandFailed, match="suspicious"):
        repo.checkout("--orphan")
    with pytest.raises(CommandFailed):
        repo.rev_parse("no-such-branch")
