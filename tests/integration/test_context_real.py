"""ANALYSE context on real git repositories: source at the build revision, blame, log -L, HEAD."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashpilot.context import gather
from crashpilot.formats import parse_text
from crashpilot.git import Git
from crashpilot.models import CrashReport, Frame, Thread

LOOT_V1 = """\
#include "loot.h"

namespace game {

template <typename T>
T* Pool<T>::Acquire()
{
    return m_free.empty() ? new T() : Pop();
}

void Loot::NotifyItemRemoved(uint8 slot)
{
    for (auto* viewer : m_viewers)
        viewer->SendLootRemoved(slot);
}

} // namespace game
"""

# Bob's change: the viewers list now holds raw pointers that can dangle.
LOOT_V2 = LOOT_V1.replace(
    "    for (auto* viewer : m_viewers)\n        viewer->SendLootRemoved(slot);",
    "    for (auto* viewer : m_viewers)\n        viewer->GetSession()->SendLootRemoved(GetGUID(), slot);",
)

PLAYER = """\
#include "player.h"

namespace game {

bool Player::StoreLootItem(uint8 slot, Loot* loot)
{
    auto store = [&](LootItem& item) {
        loot->NotifyItemRemoved(slot);
        return StoreItem(item);
    };
    return store(loot->items[slot]);
}

} // namespace game
"""

SCRIPT = "\n".join(f"-- line {n}" for n in range(1, 41)) + "\n"


def _commit(git: Git, files: dict[str, str], message: str, author: str, date: str) -> str:
    for rel, text in files.items():
        path = git.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git.run("add", "-A")
    env = {
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": f"{author.lower()}@example.invalid",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    git.run("commit", "-q", "-m", message, extra_env=env)
    return git.head()


def _line(text: str, needle: str) -> int:
    return next(i for i, t in enumerate(text.splitlines(), start=1) if needle in t)


@pytest.fixture
def history(tmp_path: Path) -> tuple[Git, dict[str, str]]:
    """Alice writes the code, Bob's change is the build, Carol's commit comes after it."""
    git = Git.init(tmp_path / "server")
    shas = {
        "alice": _commit(
            git,
            {"src/loot.cpp": LOOT_V1, "src/player.cpp": PLAYER, "scripts/boss.lua": SCRIPT},
            "loot: notify viewers",
            "Alice",
            "2026-01-05T10:00:00+00:00",
        ),
        "bob": _commit(
            git, {"src/loot.cpp": LOOT_V2}, "loot: notify by session", "Bob", "2026-02-01T09:00:00+00:00"
        ),
        "carol": _commit(
            git,
            {"src/loot.cpp": "// Copyright header added\n// second line\n" + LOOT_V2},
            "add license header",
            "Carol",
            "2026-03-01T08:00:00+00:00",
        ),
    }
    return git, shas


def _report(revision: str | None, *frames: Frame) -> CrashReport:
    return CrashReport(
        format="asan",
        crash_kind="heap-use-after-free",
        revision=revision,
        crashing_thread=Thread(0, None, frames),
        first_app_frame=next((f for f in frames if f.in_app), None),
        signature="heap-use-after-free | game::Loot::NotifyItemRemoved",
    )


CRASH_LINE = _line(LOOT_V2, "GetSession()->SendLootRemoved")
STORE_LINE = _line(PLAYER, "loot->NotifyItemRemoved(slot)")


def _frames() -> tuple[Frame, ...]:
    return (
        Frame("__interceptor_free", module="libasan.so.8"),
        Frame(
            "game::Loot::NotifyItemRemoved(unsigned char)",
            file="/home/build/server/src/loot.cpp",
            line=CRASH_LINE,
            in_app=True,
        ),
        Frame(
            "game::Player::StoreLootItem(unsigned char, game::Loot*)::{lambda(LootItem&)#1}::operator()(LootItem&) const",
            file="/home/build/server/src/player.cpp",
            line=STORE_LINE,
            in_app=True,
        ),
        Frame("boss_update", file="/home/build/server/scripts/boss.lua", line=30, in_app=True),
        Frame("std::vector<int>::at", file="/usr/include/c++/12/bits/stl_vector.h", line=1123),
    )


def test_source_blame_and_history_at_the_build_revision(history: tuple[Git, dict[str, str]]) -> None:
    git, shas = history
    ctx = gather(_report(f"rev {shas['bob'][:10]} (master)", *_frames()), git.root)

    assert ctx.revision.sha == shas["bob"]
    assert ctx.revision.head == shas["carol"]
    assert ctx.revision.head_contains is True and ctx.revision.commits_since == 1

    loot, player, script = ctx.frames
    # Read at Bob's revision: the report's line numbers hold although Carol shifted the file.
    assert loot.source_rev == shas["bob"]
    assert (
        loot.lines[loot.line - loot.first_line].strip()
        == "viewer->GetSession()->SendLootRemoved(GetGUID(), slot);"
    )
    assert loot.function is not None
    assert loot.function.name == "game::Loot::NotifyItemRemoved"
    assert (loot.function.start, loot.function.end) == (
        _line(LOOT_V2, "void Loot::NotifyItemRemoved"),
        _line(LOOT_V2, "viewer->GetSession()") + 1,
    )
    assert loot.name_matches is True
    assert loot.crash_line_sha == shas["bob"]
    assert [c.sha for c in loot.history] == [shas["bob"], shas["alice"]]
    assert [c.subject for c in loot.changed_since_build] == ["add license header"]

    # A lambda frame: the enclosing function is the one holding the lambda.
    assert player.function is not None and player.function.in_lambda
    assert player.function.name == "game::Player::StoreLootItem"
    assert (player.function.start, player.function.end) == (5, 12)
    assert player.crash_line_sha == shas["alice"]
    assert player.name_matches is True

    # Not C/C++: a plain window of ±15 lines.
    assert script.language is None and script.function is None
    assert (script.first_line, script.last_line) == (15, 40)

    # Bob last changed a crash line, so he leads the suspects though Alice wrote more lines.
    first = ctx.suspects[0]
    assert (first.sha, first.author, first.subject) == (shas["bob"], "Bob", "loot: notify by session")
    assert first.crash_lines == (1,) and first.in_history
    alice = next(s for s in ctx.suspects if s.sha == shas["alice"])
    assert alice.crash_lines == (2, 3) and alice.lines > first.lines
    assert alice.date.startswith("2026-01-05")
    assert shas["carol"] not in {s.sha for s in ctx.suspects}

    md = ctx.to_markdown()
    assert "HEAD is 1 commit(s) ahead of the build revision" in md
    assert f"> {CRASH_LINE:>2} |         viewer->GetSession()->SendLootRemoved(GetGUID(), slot);" in md
    assert "file changed after the build" in md and "add license header" in md


def test_unknown_revision_reads_head_and_says_so(history: tuple[Git, dict[str, str]]) -> None:
    git, shas = history
    frame = Frame("game::Loot::NotifyItemRemoved", file="src/loot.cpp", line=CRASH_LINE + 2, in_app=True)
    ctx = gather(_report("deadbeefcafe", frame), git.root)
    assert ctx.revision.sha is None and ctx.revision.head == shas["carol"]
    (fc,) = ctx.frames
    assert fc.source_rev == shas["carol"]
    assert "GetSession()->SendLootRemoved" in fc.lines[fc.line - fc.first_line]
    assert any("not in the repository" in n for n in ctx.notes)
    assert "deadbeefcafe" in ctx.to_markdown()


def test_build_on_another_branch_is_not_contained(history: tuple[Git, dict[str, str]]) -> None:
    git, shas = history
    git.run("checkout", "-q", "-b", "hotfix", shas["alice"])
    hotfix = _commit(
        git, {"src/player.cpp": PLAYER + "// hotfix\n"}, "hotfix", "Dan", "2026-02-10T00:00:00+00:00"
    )
    git.run("checkout", "-q", "main")
    frame = Frame("game::Player::StoreLootItem", file="src/player.cpp", line=STORE_LINE, in_app=True)
    ctx = gather(_report(hotfix, frame), git.root)
    assert ctx.revision.sha == hotfix and ctx.revision.head_contains is False
    assert ctx.revision.commits_since is None
    assert ctx.frames[0].source_rev == hotfix
    assert "does not contain the build revision" in ctx.to_markdown()


def test_long_function_shows_a_window_with_its_header(tmp_path: Path) -> None:
    git = Git.init(tmp_path / "big")
    body = "".join(f"    DoStep({n});\n" for n in range(200))
    text = f"namespace big {{\nvoid Spell::HandleEffects(Unit* target)\n{{\n{body}}}\n}}\n"
    _commit(git, {"src/spell.cpp": text}, "spells", "Eve", "2026-01-01T00:00:00+00:00")
    crash = _line(text, "DoStep(120);")
    frame = Frame("big::Spell::HandleEffects(Unit*)", file="src/spell.cpp", line=crash, in_app=True)
    (fc,) = gather(_report(None, frame), git.root, context_lines=10, max_function_lines=50).frames
    assert fc.function is not None and (fc.function.start, fc.function.end) == (2, 204)
    assert (fc.first_line, fc.last_line) == (crash - 10, crash + 10)
    assert fc.header == "void Spell::HandleEffects(Unit* target)"
    md = gather(_report(None, frame), git.root, context_lines=10, max_function_lines=50).to_markdown()
    assert "   2 | void Spell::HandleEffects(Unit* target)" in md
    assert f"> {crash} |     DoStep(120);" in md


def test_stale_source_is_flagged_when_names_disagree(history: tuple[Git, dict[str, str]]) -> None:
    git, _ = history
    # The report says Loot::Release at a line that now holds NotifyItemRemoved.
    frame = Frame("game::Loot::Release", file="src/loot.cpp", line=CRASH_LINE, in_app=True)
    ctx = gather(_report(None, frame), git.root)
    assert ctx.frames[0].name_matches is False
    assert any("not the one the report names" in n for n in ctx.notes)


def test_frame_selection_skips_outside_files_recursion_and_caps(history: tuple[Git, dict[str, str]]) -> None:
    git, _ = history
    same = Frame("game::Loot::NotifyItemRemoved", file="src/loot.cpp", line=CRASH_LINE, in_app=True)
    frames = (same, same, Frame("x", file="/elsewhere/other.cpp", line=3, in_app=True), *_frames()[2:4])
    ctx = gather(_report(None, *frames), git.root)
    assert [fc.index for fc in ctx.frames] == [0, 3, 4]
    assert [fc.index for fc in gather(_report(None, *frames), git.root, max_frames=1).frames] == [0]


def test_without_git_reads_the_work_tree(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "player.cpp").write_text(PLAYER)
    frame = Frame("game::Player::StoreLootItem", file="src/player.cpp", line=STORE_LINE, in_app=True)
    ctx = gather(_report("abc1234", frame), tmp_path)
    (fc,) = ctx.frames
    assert fc.source_rev is None and fc.function is not None
    assert fc.crash_line_sha is None and fc.history == ()
    assert ctx.suspects == ()
    assert any("not a git repository" in n for n in ctx.notes)


def test_parsed_gdb_report_and_similar_groups(history: tuple[Git, dict[str, str]]) -> None:
    git, shas = history
    text = (
        "Program received signal SIGSEGV, Segmentation fault.\n"
        f"#0  0x00005555555551a9 in game::Loot::NotifyItemRemoved (this=0x0, slot=1 '\\001') at /srv/build/src/loot.cpp:{CRASH_LINE}\n"
        f"#1  0x0000555555555210 in game::Player::StoreLootItem (this=0x5555, slot=1 '\\001', loot=0x0) at /srv/build/src/player.cpp:{STORE_LINE}\n"
        "#2  0x0000555555555300 in main () at /srv/build/src/main.cpp:12\n"
    )
    (report,) = parse_text(text, repo=git.root, in_app_paths=["src/"])
    report = report.with_(revision=shas["bob"])
    similar = [
        (
            "41",
            "SIGSEGV | game::Player::StoreLootItem",
            ["game::Player::StoreLootItem(unsigned char, game::Loot*)"],
        ),
        ("40", "SIGABRT | game::Spell::Cast", ["game::Spell::Cast"]),
    ]
    ctx = gather(report, git.root, similar=similar)
    assert [fc.path for fc in ctx.frames] == ["src/loot.cpp", "src/player.cpp"]
    assert ctx.frames[0].crash_line_sha == shas["bob"]
    assert [g.group_id for g in ctx.similar] == ["41"]
    md = ctx.to_markdown()
    assert "group 41 (score 0.50)" in md
