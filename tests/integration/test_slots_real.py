"""Build slots on a real repository: exclusive per host, clean on reuse, incremental builds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crashpilot.git import Git, Identity
from crashpilot.proc import clean_env, run
from crashpilot.slots import Slot, Slots, SlotTimeout

PROJECT = Path(__file__).parent / "cprojects" / "multi"
BOT = Identity("bot", "bot@example.invalid")


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    """main: the multi project; b1 changes alpha.cpp and adds a file; b2 changes beta.cpp."""
    g = Git.init(tmp_path / "repo")
    for f in PROJECT.iterdir():
        shutil.copy(f, g.root / f.name)
    g.commit("initial", BOT)
    g.checkout("crashpilot/b1", create_from="main")
    (g.root / "alpha.cpp").write_text((g.root / "alpha.cpp").read_text().replace("return 5;", "return 50;"))
    (g.root / "b1only.txt").write_text("only on b1\n")
    g.commit("b1", BOT)
    g.checkout("crashpilot/b2", create_from="main")
    (g.root / "beta.cpp").write_text((g.root / "beta.cpp").read_text().replace("return 4;", "return 40;"))
    g.commit("b2", BOT)
    g.checkout("main")
    return g


def _configure(slot: Slot) -> None:
    if not (slot.build_dir / "CMakeCache.txt").exists():
        env = clean_env(os.environ, extra=dict(slot.env))
        run(["cmake", "-S", str(slot.worktree), "-B", str(slot.build_dir)], timeout=120, env=env).check()


def _build(slot: Slot) -> tuple[int, str]:
    """Configure (first time) and build in the slot; return (objects compiled, build output)."""
    _configure(slot)
    env = clean_env(os.environ, extra=dict(slot.env))
    res = run(["cmake", "--build", str(slot.build_dir)], timeout=300, env=env, merge_output=True).check()
    compiled = sum("Building CXX object" in line for line in res.stdout.splitlines())
    return compiled, res.stdout


def _program(slot: Slot) -> str:
    return run([str(slot.build_dir / "multi")], timeout=30, env={}).check().stdout.strip()


def test_reused_slot_is_clean_and_on_the_right_branch(repo: Git, tmp_path: Path) -> None:
    slots = Slots(repo.root, tmp_path / "slots", 1, ccache=False)
    with slots.acquire("crashpilot/b1", "main") as slot:
        assert slot.git.current_branch() == "crashpilot/b1"
        assert (slot.worktree / "b1only.txt").exists()
        (slot.worktree / "junk.txt").write_text("agent leftovers\n")
        (slot.worktree / "gamma.cpp").write_text("broken\n")
        (slot.worktree / "newdir").mkdir()
        (slot.worktree / "newdir" / "x.cpp").write_text("int x;\n")
        first_tree = slot.worktree
    with slots.acquire("crashpilot/b2", "main") as slot:
        assert slot.worktree == first_tree
        assert slot.git.current_branch() == "crashpilot/b2"
        assert slot.git.is_clean()
        assert not (slot.worktree / "junk.txt").exists()
        assert not (slot.worktree / "newdir").exists()
        assert not (slot.worktree / "b1only.txt").exists()
        assert (slot.worktree / "gamma.cpp").read_text() == (PROJECT / "gamma.cpp").read_text()
        assert "return 40;" in (slot.worktree / "beta.cpp").read_text()
    # A missing branch is created from the base; the idle slot holds no branch.
    with slots.acquire("crashpilot/new", "main") as slot:
        assert slot.git.head() == repo.rev_parse("main")
    assert repo.branch_exists("crashpilot/new")
    assert Git(first_tree).current_branch() is None
    # The main work tree can check the branch out: no slot keeps it.
    repo.checkout("crashpilot/b1")


def test_build_folder_is_reused_incrementally(repo: Git, tmp_path: Path) -> None:
    slots = Slots(repo.root, tmp_path / "slots", 1, ccache=False)
    with slots.acquire("crashpilot/b1", "main") as slot:
        compiled, _ = _build(slot)
        assert compiled == 4
        assert _program(slot) == "59"
    with slots.acquire("crashpilot/b2", "main") as slot:
        compiled, out = _build(slot)
        # b1 -> b2 differs in alpha.cpp and beta.cpp only: two objects, not four.
        assert compiled == 2, out
        assert _program(slot) == "50"
    with slots.acquire("crashpilot/b2", "main") as slot:
        compiled, out = _build(slot)
        assert compiled == 0, out


@pytest.mark.skipif(shutil.which("ccache") is None, reason="ccache not installed (optional accelerator)")
def test_ccache_hits_survive_a_different_slot_path(repo: Git, tmp_path: Path) -> None:
    slots = Slots(repo.root, tmp_path / "slots", 2, ccache=True, ccache_dir=tmp_path / "cache")

    def stats(slot: Slot) -> dict[str, int]:
        out = run(
            ["ccache", "--print-stats"], timeout=30, env=clean_env(os.environ, extra=dict(slot.env))
        ).stdout
        return {k: int(v) for k, v in (line.split("\t") for line in out.splitlines() if "\t" in line)}

    with slots.acquire("crashpilot/b1", "main") as first:
        assert first.env["CCACHE_BASEDIR"] == str(first.path.resolve())
        assert _build(first)[0] == 4
        with slots.acquire("crashpilot/b2", "main") as second:
            assert second.index != first.index
            _configure(second)  # (CMake's own compiler checks go through ccache too)
            before = stats(second)
            assert _build(second)[0] == 4  # a fresh build folder compiles everything ...
            after = stats(second)
    hits = lambda s: s.get("direct_cache_hit", 0) + s.get("preprocessed_cache_hit", 0)  # noqa: E731
    # ... but main.cpp and gamma.cpp (same content in b1 and b2) come from the cache.
    assert hits(after) - hits(before) == 2
    assert after.get("cache_miss", 0) - before.get("cache_miss", 0) == 2


def test_wait_for_a_busy_slot_times_out(repo: Git, tmp_path: Path) -> None:
    slots = Slots(repo.root, tmp_path / "slots", 1, ccache=False, poll_interval=0.05)
    with slots.acquire("crashpilot/b1", "main"):
        with pytest.raises(SlotTimeout):
            with slots.acquire("crashpilot/b2", "main", wait=0.3):
                pass  # pragma: no cover
    with slots.acquire("crashpilot/b2", "main", wait=0.3) as slot:
        assert slot.branch == "crashpilot/b2"


HOLDER = textwrap.dedent(
    """
    import sys, time
    from crashpilot.slots import Slots
    repo, slots_dir, branch, out = sys.argv[1:5]
    with Slots(repo, slots_dir, 1, ccache=False, poll_interval=0.02).acquire(branch, "main") as slot:
        start = time.time()
        time.sleep(0.7)
        end = time.time()
    open(out, "w").write(f"{start} {end} {slot.index}")
    """
)


def test_two_processes_never_hold_one_slot_at_once(repo: Git, tmp_path: Path) -> None:
    outs = [tmp_path / "p1.txt", tmp_path / "p2.txt"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(repo.root), str(tmp_path / "slots"), branch, str(out)]
        )
        for branch, out in zip(["crashpilot/b1", "crashpilot/b2"], outs, strict=True)
    ]
    for p in procs:
        assert p.wait(timeout=60) == 0
    (s1, e1, i1), (s2, e2, i2) = ([float(x) for x in o.read_text().split()] for o in outs)
    assert i1 == i2 == 0
    assert e1 <= s2 or e2 <= s1, f"overlap: {s1}-{e1} and {s2}-{e2}"


@pytest.mark.parametrize("ignored", [True, False], ids=["module-ignored-by-core", "module-not-ignored"])
def test_a_slot_holds_each_module_at_its_folder(tmp_path: Path, ignored: bool) -> None:
    """Core + a nested module clone: the slot has both worktrees, each reset and on its own branch."""
    core = Git.init(tmp_path / "core")
    (core.root / ".gitignore").write_text("/modules/*/\n" if ignored else "/build/\n")
    (core.root / "main.c").write_text("int main(void) { return 0; }\n")
    core.commit("core", BOT)
    mod = Git.init(core.root / "modules" / "mod-x", branch="trunk")
    (mod.root / "x.c").write_text("int x = 1;\n")
    mod.commit("module", BOT)
    mod_base = mod.head()
    slots = Slots(core.root, tmp_path / "slots", 1, ccache=False, modules=["modules/mod-x"])
    assert slots.module_bases() == {"modules/mod-x": mod_base}
    with slots.acquire("crashpilot/7", "main") as slot:
        (m,) = slot.modules
        assert m.worktree == slot.worktree / "modules" / "mod-x" and m.base == mod_base
        assert (m.worktree / "x.c").read_text() == "int x = 1;\n"
        assert m.git.current_branch() == "crashpilot/7" and mod.branch_exists("crashpilot/7")
        (m.worktree / "x.c").write_text("int x = 2;\n")
        (m.worktree / "junk.o").write_text("left over\n")
        (slot.worktree / "main.c").write_text("broken\n")
    # A second job: every repository is clean again; the module worktree was reused, not re-made.
    marker = slots.slot_path(0) / "src" / "modules" / "mod-x" / ".git"
    before = marker.read_text()
    with slots.acquire("crashpilot/7", "main") as slot:
        (m,) = slot.modules
        assert (m.worktree / "x.c").read_text() == "int x = 1;\n" and not (m.worktree / "junk.o").exists()
        assert (slot.worktree / "main.c").read_text() == "int main(void) { return 0; }\n"
        assert marker.read_text() == before
        m.git.stage_all()
        (m.worktree / "x.c").write_text("int x = 3;\n")
        m.git.commit("fix in the module", BOT)
        slot.git.run("checkout", "-q", "--detach")
        core.delete_branch("crashpilot/7", force=True)
    # create=False: a repository without the branch stays at its base; one with it checks it out.
    with slots.acquire("crashpilot/7", "main", create=False) as slot:
        assert slot.git.current_branch() is None and slot.git.head() == core.head()
        assert (slot.modules[0].worktree / "x.c").read_text() == "int x = 3;\n"
    assert not core.branch_exists("crashpilot/7")
    assert mod.current_branch() == "trunk" and Git(marker.parent).current_branch() is None
