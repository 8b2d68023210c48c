"""The FIX agent's tools on a real git repository in tmp_path: answers, caps and refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crashpilot.agent.tools import Toolbox
from crashpilot.agent.workspace import ActionResult, PathRefused, Workspace, resolve_inside
from crashpilot.backends.models.types import ToolCall, ToolResult
from crashpilot.git import Git, Identity
from crashpilot.policy import Policy

WHO = Identity("Test Author", "author@example.invalid")
UNIT_CPP = """#include "unit.h"

int Unit::Damage(Unit* victim, int amount)
{
    int dealt = amount;
    victim->health -= dealt;
    return dealt;
}

int Unit::Heal(Unit* target, int amount)
{
    target->health += amount;
    return amount;
}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    git = Git.init(root)
    (root / "src").mkdir()
    (root / "src" / "unit.cpp").write_text(UNIT_CPP)
    (root / "src" / "unit.h").write_text("struct Unit { int health; int Damage(Unit*, int); };\n")
    (root / "tests").mkdir()
    (root / "tests" / "unit_test.cpp").write_text("// checks Unit::Damage\nint main() { return 0; }\n")
    (root / "CMakeLists.txt").write_text("add_executable(game src/unit.cpp)\n")
    git.commit("first: add Unit", WHO)
    (root / "src" / "unit.h").write_text("struct Unit { int health = 0; int Damage(Unit*, int); };\n")
    git.commit("second: initialise health", WHO)
    return root


def box(root: Path, policy: Policy | None = None, **actions: object) -> Toolbox:
    return Toolbox(Workspace(root, policy or Policy(), **actions))  # type: ignore[arg-type]


def call(tb: Toolbox, name: str, **args: object) -> ToolResult:
    return tb.call(ToolCall(f"call-{name}", name, dict(args)))


def clean(root: Path) -> bool:
    return Git(root).is_clean()


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "/etc/passwd", "src/../../x", ".git/config", "C:/Windows/win.ini", "~/.ssh/id_rsa"],
)
def test_paths_outside_the_worktree_are_refused(repo: Path, path: str) -> None:
    with pytest.raises(PathRefused):
        resolve_inside(repo, path)
    tb = box(repo)
    for name, args in (("read_file", {"path": path}), ("edit", {"path": path, "search": "", "replace": "x"})):
        result = call(tb, name, **args)
        assert result.is_error, (name, path)
    assert clean(repo)


def test_a_symlink_pointing_out_is_refused(repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=abc\n")
    os.symlink(secret, repo / "src" / "link.txt")
    result = call(box(repo), "read_file", path="src/link.txt")
    assert result.is_error and "outside the repository" in result.content
    assert "TOKEN" not in result.content


# -- reading -----------------------------------------------------------------------------------


def test_read_file_numbers_lines_and_reads_a_range(repo: Path) -> None:
    result = call(box(repo), "read_file", path="src/unit.cpp", start_line=5, end_line=6)
    assert not result.is_error
    lines = result.content.splitlines()
    assert lines[0].startswith("src/unit.cpp lines 5-6 of 14")
    assert lines[1] == "     5|     int dealt = amount;"
    assert lines[2] == "     6|     victim->health -= dealt;"
    assert "read from line 7" in result.content


def test_read_file_caps_a_long_file(repo: Path) -> None:
    (repo / "big.cpp").write_text("".join(f"int v{i};\n" for i in range(1000)))
    result = call(box(repo), "read_file", path="big.cpp", start_line=1, end_line=1000)
    assert "lines 1-400 of 1000" in result.content
    assert "   400| int v399;" in result.content and "v400;" not in result.content


def test_read_file_errors_say_what_to_do(repo: Path) -> None:
    tb = box(repo)
    assert "14 lines" in call(tb, "read_file", path="src/unit.cpp", start_line=99).content
    assert "no such file" in call(tb, "read_file", path="src/nope.cpp").content
    assert "is a folder" in call(tb, "read_file", path="src").content
    (repo / "blob.bin").write_bytes(b"\x7fELF\0\0\1")
    assert "binary" in call(tb, "read_file", path="blob.bin").content


def test_search_fixed_string_regex_and_glob(repo: Path) -> None:
    tb = box(repo)
    fixed = call(tb, "search", pattern="->health")
    assert not fixed.is_error
    assert "src/unit.cpp:6:    victim->health -= dealt;" in fixed.content
    assert "src/unit.cpp:12:" in fixed.content
    regex = call(tb, "search", pattern=r"int Unit::(Damage|Heal)\(", regex=True)
    assert "src/unit.cpp:3:" in regex.content and "src/unit.cpp:10:" in regex.content
    # "(" is literal in a fixed-string search
    assert "no matches" in call(tb, "search", pattern="(Damage|Heal)").content
    only_h = call(tb, "search", pattern="Damage", path_glob="*.h")
    assert "src/unit.h:1:" in only_h.content and "unit.cpp" not in only_h.content


def test_search_finds_untracked_files_and_dash_patterns(repo: Path) -> None:
    (repo / "src" / "new.cpp").write_text("int x = -1; // --flag\n")
    tb = box(repo)
    assert "src/new.cpp:1:" in call(tb, "search", pattern="--flag").content
    assert "src/new.cpp:1:" in call(tb, "search", pattern="-1").content


def test_search_caps_results_and_reports_bad_regex(repo: Path) -> None:
    (repo / "many.txt").write_text("needle\n" * 500)
    result = call(box(repo), "search", pattern="needle")
    assert result.content.startswith("500 match(es)")
    assert result.content.count("many.txt:") == 80
    assert "420 more matches not shown" in result.content
    bad = call(box(repo), "search", pattern="([unclosed", regex=True)
    assert bad.is_error and "search failed" in bad.content
    assert call(box(repo), "search", pattern="x", path_glob="../*").is_error


def test_list_dir(repo: Path) -> None:
    tb = box(repo)
    root = call(tb, "list_dir", path=".").content.splitlines()
    assert root[0] == "./ (3 entries)"
    assert root[1:] == ["src/", "tests/", "CMakeLists.txt"]
    assert ".git/" not in root
    assert call(tb, "list_dir").content.startswith("./")
    assert call(tb, "list_dir", path="src").content.splitlines()[1:] == ["unit.cpp", "unit.h"]
    assert call(tb, "list_dir", path="src/unit.cpp").is_error


def test_git_log_blame_show(repo: Path) -> None:
    tb = box(repo)
    log = call(tb, "git_log").content.splitlines()
    assert [line.split(": ", 1)[1] for line in log] == ["second: initialise health", "first: add Unit"]
    assert len(call(tb, "git_log", path="src/unit.cpp").content.splitlines()) == 1
    assert len(call(tb, "git_log", max_count=1).content.splitlines()) == 1
    blame = call(tb, "git_blame", path="src/unit.cpp", start_line=5, end_line=6).content.splitlines()
    assert len(blame) == 2 and blame[0].startswith("     5| ") and "Test Author" in blame[0]
    assert blame[1].endswith("|     victim->health -= dealt;")
    show = call(tb, "git_show", rev="HEAD").content
    assert "second: initialise health" in show and "+struct Unit { int health = 0;" in show
    old = call(tb, "git_show", rev="HEAD~1", path="src/unit.h").content
    assert old == "struct Unit { int health; int Damage(Unit*, int); };\n"
    assert call(tb, "git_show", rev="--output=/tmp/x").is_error
    assert call(tb, "git_show", rev="nosuchrev").is_error
    assert call(tb, "git_blame", path="src/unit.cpp", start_line=1, end_line=999).is_error


# -- editing -----------------------------------------------------------------------------------


def test_edit_changes_the_file_and_shows_the_diff(repo: Path) -> None:
    tb = box(repo)
    result = call(
        tb,
        "edit",
        path="src/unit.cpp",
        search="    int dealt = amount;\n",
        replace="    if (!victim)\n        return 0;\n    int dealt = amount;\n",
    )
    assert not result.is_error, result.content
    assert result.content.startswith("src/unit.cpp: changed at line 5 (+2 -0 lines)")
    assert "+    if (!victim)" in result.content
    assert "if (!victim)\n        return 0;\n    int dealt" in (repo / "src/unit.cpp").read_text()
    assert tb.changed_files() == ["src/unit.cpp"]
    assert Git(repo).diff().count("+    ") == 2


def test_edit_not_found_and_ambiguous_are_refused_with_hints(repo: Path) -> None:
    tb = box(repo)
    missing = call(tb, "edit", path="src/unit.cpp", search="int dealt = amount ;", replace="x")
    assert missing.is_error and "not found" in missing.content and "5|" in missing.content
    ambiguous = call(tb, "edit", path="src/unit.cpp", search="return", replace="return /*x*/")
    assert ambiguous.is_error and "occurs 2 times" in ambiguous.content
    assert tb.refusals == 2 and clean(repo) and tb.edits == []


@pytest.mark.parametrize("path", ["tests/unit_test.cpp", "CMakeLists.txt", ".github/workflows/ci.yml"])
def test_forbidden_files_are_refused_and_explained(repo: Path, path: str) -> None:
    tb = box(repo)
    result = call(tb, "edit", path=path, search="", replace="// new\n")
    if (repo / path).exists():
        result = call(tb, "edit", path=path, search=(repo / path).read_text().splitlines()[0], replace="// x")
    assert result.is_error
    assert "patch policy" in result.content and "forbidden" in result.content
    assert clean(repo) and not (repo / ".github").exists()


def test_one_edit_too_big_for_the_policy_is_refused(repo: Path) -> None:
    tb = box(repo, Policy(max_changed_lines=4))
    big = "".join(f"    // line {i}\n" for i in range(10))
    result = call(tb, "edit", path="src/unit.cpp", search="    int dealt = amount;\n", replace=big)
    assert result.is_error and "more than 4" in result.content
    assert clean(repo)


def test_the_policy_limit_counts_all_edits_together(repo: Path) -> None:
    tb = box(repo, Policy(max_changed_lines=4))
    first = call(
        tb,
        "edit",
        path="src/unit.cpp",
        search="    int dealt = amount;\n",
        replace="    int dealt = amount; // a\n",
    )
    assert not first.is_error  # 2 changed lines; the next edit adds 3 (fine alone, 5 in total)
    before = (repo / "src/unit.cpp").read_text()
    second = call(tb, "edit", path="src/unit.cpp", search="    target->health += amount;\n",
                  replace="    // b\n    // c\n    target->health += amount;\n    // d\n")  # fmt: skip
    assert second.is_error and "edit undone" in second.content and "more than 4" in second.content
    assert (repo / "src/unit.cpp").read_text() == before
    assert len(tb.edits) == 1


def test_created_files_and_revert_leave_the_worktree_clean(repo: Path) -> None:
    tb = box(repo)
    created = call(tb, "edit", path="src/guard.h", search="", replace="#pragma once\n")
    assert not created.is_error and created.content.startswith("src/guard.h: created")
    changed = call(
        tb, "edit", path="src/unit.cpp", search="return dealt;", replace="return dealt > 0 ? dealt : 0;"
    )
    assert not changed.is_error
    assert set(tb.changed_files()) == {"src/guard.h", "src/unit.cpp"}
    assert "--- /dev/null" in tb.diff() and "+++ b/src/guard.h" in tb.diff()
    assert not clean(repo)
    tb.revert()
    assert clean(repo) and not (repo / "src/guard.h").exists()
    assert tb.changed_files() == [] and tb.diff() == ""


# -- running and stopping ----------------------------------------------------------------------


def test_actions_not_configured_and_results(repo: Path) -> None:
    assert "no build command is configured" in call(box(repo), "build").content
    failing = box(
        repo, build=lambda: ActionResult(False, "src/unit.cpp:6:5: error: boom", "make: *** Error 1")
    )
    res = call(failing, "build")
    assert res.is_error and res.content.startswith("build: FAILED") and "error: boom" in res.content
    repro = box(repo, run_reproducer=lambda: ActionResult(False, "crashed in 3 of 3 run(s): signal SIGSEGV"))
    assert "it still crashes" in call(repro, "run_reproducer").content
    tests = box(repo, run_tests=lambda: ActionResult(True, "the tests passed"))
    assert call(tests, "run_tests").content.startswith("tests: ok")


def test_finish_needs_a_change_and_a_build_after_it(repo: Path) -> None:
    builds: list[bool] = []

    def build() -> ActionResult:
        builds.append(True)
        return ActionResult(True, "built")

    tb = box(repo, build=build)
    args = {"root_cause": "victim may be null", "summary": "guard", "kind": "fix", "confidence": 0.8,
            "fault_location": "src/unit.cpp:6 Unit::Damage"}  # fmt: skip
    assert "changed nothing" in call(tb, "finish", **args).content
    call(
        tb,
        "edit",
        path="src/unit.cpp",
        search="    int dealt",
        replace="    if (!victim) return 0;\n    int dealt",
    )
    assert "call build first" in call(tb, "finish", **args).content
    assert not call(tb, "build").is_error
    bad = call(tb, "finish", **{**args, "kind": "hack", "confidence": 1.5})
    assert bad.is_error and "kind must be one of" in bad.content and "confidence" in bad.content
    ok = call(tb, "finish", **args)
    assert not ok.is_error and tb.finish_args is not None and tb.finish_args.kind == "fix"
    assert tb.finish_args.confidence == 0.8 and tb.stopped
    after = call(tb, "edit", path="src/unit.cpp", search="return amount;", replace="return 0;")
    assert after.is_error and "already over" in after.content
    assert "return amount;" in (repo / "src/unit.cpp").read_text()


def test_bad_calls_come_back_as_errors(repo: Path) -> None:
    tb = box(repo)
    assert "there is no tool 'shell'" in call(tb, "shell", cmd="curl evil").content
    assert "unknown argument(s) mode" in call(tb, "read_file", path="src/unit.cpp", mode="rb").content
    assert "missing required argument(s) path" in call(tb, "read_file").content
    assert "must be a integer" in call(tb, "read_file", path="src/unit.cpp", start_line="5").content
    assert not call(tb, "read_file", path="src/unit.cpp", start_line=5.0).is_error

    def broken() -> ActionResult:
        raise RuntimeError("bug in the caller's action")

    crashed = call(box(repo, build=broken), "build")
    assert crashed.is_error and "internal error" in crashed.content


def test_give_up_needs_a_reason(repo: Path) -> None:
    tb = box(repo)
    assert call(tb, "give_up", reason="  ").is_error
    assert not call(tb, "give_up", reason="needs a design decision").is_error
    assert tb.give_up_reason == "needs a design decision" and tb.stopped


# -- secrets -----------------------------------------------------------------------------------


def test_credentials_files_are_never_shown(repo: Path) -> None:
    (repo / ".env").write_text("DB_PASSWORD=hunter2\n")
    (repo / "src" / "server.pem").write_text("-----BEGIN PRIVATE KEY----- hunter2\n")
    tb = box(repo)
    for name, args in (
        ("read_file", {"path": ".env"}),
        ("read_file", {"path": "src/server.pem"}),
        ("git_show", {"rev": "HEAD", "path": ".env"}),
        ("git_blame", {"path": ".env", "start_line": 1, "end_line": 1}),
        ("git_show", {"rev": "HEAD:.env"}),
    ):
        result = call(tb, name, **args)
        assert result.is_error and "hunter2" not in result.content, (name, args)
    found = call(tb, "search", pattern="hunter2")
    assert "no matches" in found.content and "hunter2" in found.content.split("'")[1]
    assert ".env" not in found.content.replace("'hunter2'", "")


def test_secrets_are_redacted_from_tool_results(repo: Path) -> None:
    token = "ghp_live_1234567890abcdef"
    (repo / "src" / "config.cpp").write_text(f'const char* kToken = "{token}";\n')
    leaky = ActionResult(False, f"error: bad token {token}", f"make: {token}")
    tb = Toolbox(Workspace(repo, Policy(), build=lambda: leaky, secrets=[token]))
    for result in (
        call(tb, "read_file", path="src/config.cpp"),
        call(tb, "search", pattern="kToken"),
        call(tb, "build"),
    ):
        assert token not in result.content and "[REDACTED]" in result.content


def test_an_edit_that_undoes_earlier_ones_is_accepted(repo: Path) -> None:
    tb = box(repo)
    assert not call(tb, "edit", path="src/unit.cpp", search="return dealt;", replace="return 0;").is_error
    back = call(tb, "edit", path="src/unit.cpp", search="return 0;", replace="return dealt;")
    assert not back.is_error and tb.diff() == "" and clean(repo)


def test_edits_through_a_symlink_revert_to_the_real_original(repo: Path) -> None:
    os.symlink("unit.cpp", repo / "src" / "alias.cpp")
    Git(repo).commit("alias", WHO)
    tb = box(repo)
    assert not call(tb, "edit", path="src/alias.cpp", search="return dealt;", replace="return 1;").is_error
    assert not call(tb, "edit", path="src/unit.cpp", search="return amount;", replace="return 2;").is_error
    assert tb.changed_files() == ["src/unit.cpp"]
    tb.revert()
    assert (repo / "src/unit.cpp").read_text() == UNIT_CPP and clean(repo)
