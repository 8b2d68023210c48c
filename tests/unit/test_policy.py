"""The patch policy: globs, path checks and unified-diff checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crashpilot.errors import PolicyViolation
from crashpilot.policy import Policy, glob_match, parse_diff


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("src/server/game/Foo.cpp", "src/**", True),
        ("src/server/game/Foo.cpp", "src/**/*.cpp", True),
        ("src/Foo.cpp", "src/**/*.cpp", True),
        ("src/Foo.h", "src/**/*.cpp", False),
        ("src/Foo.cpp", "src/*.cpp", True),
        ("src/a/Foo.cpp", "src/*.cpp", False),
        ("tests/x.cpp", "**/tests/**", True),
        ("a/b/tests/x.cpp", "**/tests/**", True),
        ("a/b/testsx/x.cpp", "**/tests/**", False),
        ("deep/dir/CMakeLists.txt", "CMakeLists.txt", True),
        ("deep/dir/foo_test.cc", "*_test.*", True),
        ("deep/dir/latest.cc", "*_test.*", False),
        ("src/GetLatestTime.cpp", "**/*Test*.cpp", False),
        ("src/SpellTest.cpp", "**/*Test*.cpp", True),
        ("src/a1.cpp", "src/a[0-9].cpp", True),
        ("src/ab.cpp", "src/a[!0-9].cpp", True),
        ("src/a.cpp", "src/?.cpp", True),
    ],
)
def test_glob_match(path: str, pattern: str, expected: bool) -> None:
    assert glob_match(path, pattern) is expected


def test_defaults_forbid_tests_ci_and_build_scripts() -> None:
    policy = Policy()
    for path in [
        "tests/unit/foo.cpp",
        "src/test/helper.cpp",
        "src/game/Spell_test.cpp",
        "test_main.cpp",
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        "CMakeLists.txt",
        "src/server/CMakeLists.txt",
        "cmake/macros/Find.cmake",
        "Makefile",
        "rules.mk",
        "configure.ac",
        "meson.build",
        ".git/config",
        "sub/.git/hooks/pre-commit",
    ]:
        with pytest.raises(PolicyViolation, match="forbidden"):
            policy.check_path(path)
    assert policy.check_path("./src/server/game/Spells/Spell.cpp") == "src/server/game/Spells/Spell.cpp"


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "src/../../x.cpp", "/etc/passwd", "C:/x.cpp", "a\\b.cpp", ""]
)
def test_paths_escaping_the_repo_are_refused(path: str) -> None:
    with pytest.raises(PolicyViolation):
        Policy().check_path(path)


def test_allowed_list_limits_paths_and_message_names_it() -> None:
    policy = Policy(allowed=["src/**"], forbidden=[])
    assert policy.check_path("src/a.cpp") == "src/a.cpp"
    with pytest.raises(PolicyViolation, match=r"outside the paths a fix may change \(src/\*\*\)"):
        policy.check_path("dep/a.cpp")
    # .git stays forbidden even with an empty forbidden list
    with pytest.raises(PolicyViolation, match="forbidden"):
        Policy(allowed=["**"], forbidden=[]).check_path(".git/HEAD")


def test_symlink_pointing_out_of_the_repo_or_into_tests(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    outside = tmp_path / "outside.cpp"
    outside.write_text("x")
    os.symlink(outside, root / "src" / "escape.cpp")
    os.symlink(root / "tests", root / "src" / "t")
    policy = Policy()
    with pytest.raises(PolicyViolation, match="outside the repository"):
        policy.check_path("src/escape.cpp", root=root)
    with pytest.raises(PolicyViolation, match="forbidden"):
        policy.check_path("src/t/x.cpp", root=root)
    assert policy.check_path("src/ok.cpp", root=root) == "src/ok.cpp"


GIT_DIFF = """\
diff --git a/src/game/Spell.cpp b/src/game/Spell.cpp
index 1111111..2222222 100644
--- a/src/game/Spell.cpp
+++ b/src/game/Spell.cpp
@@ -10,6 +10,8 @@ void Spell::cast()
 {
     Unit* target = GetTarget();
-    target->DoDamage(5);
+    if (!target)
+        return;
+    target->DoDamage(5);
 }
-- a removed line that looks like a header
+-- an added line that looks like a header
 // end
diff --git a/src/game/New.h b/src/game/New.h
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/src/game/New.h
@@ -0,0 +1,2 @@
+#pragma once
+int helper();
"""


def test_parse_git_diff_counts_lines() -> None:
    summary = parse_diff(GIT_DIFF)
    spell, new = summary.files
    assert (spell.path, spell.status, spell.added, spell.deleted) == ("src/game/Spell.cpp", "modified", 4, 2)
    assert (new.path, new.status, new.added, new.deleted) == ("src/game/New.h", "added", 2, 0)
    assert summary.changed_lines == 8
    assert Policy().check_diff(GIT_DIFF) == summary


def test_plain_diff_u_is_understood() -> None:
    text = (
        "--- src/a.c\t2024-01-01 00:00:00\n+++ src/a.c\t2024-01-02 00:00:00\n"
        "@@ -1 +1 @@\n-int x;\n+int y;\n"
        "--- src/b.c\n+++ src/b.c\n@@ -1,2 +1,3 @@\n a\n+b\n c\n"
    )
    files = parse_diff(text).files
    assert [(f.path, f.added, f.deleted) for f in files] == [("src/a.c", 1, 1), ("src/b.c", 1, 0)]


def test_diff_violations_are_listed_together() -> None:
    text = (
        "diff --git a/tests/x_test.cpp b/tests/x_test.cpp\n--- a/tests/x_test.cpp\n+++ b/tests/x_test.cpp\n"
        "@@ -1 +1 @@\n-a\n+b\n"
        "diff --git a/old.cpp b/old.cpp\ndeleted file mode 100644\nindex 1..0\n--- a/old.cpp\n+++ /dev/null\n"
        "@@ -1 +0,0 @@\n-gone\n"
        "diff --git a/logo.png b/logo.png\nindex 1..2 100644\nBinary files a/logo.png and b/logo.png differ\n"
        "diff --git a/link b/link\nnew file mode 120000\nindex 0..1\n--- /dev/null\n+++ b/link\n"
        "@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n"
    )
    with pytest.raises(PolicyViolation) as info:
        Policy().check_diff(text)
    msg = str(info.value)
    assert "tests/x_test.cpp: forbidden" in msg
    assert "old.cpp: deleting or renaming" in msg
    assert "logo.png: binary" in msg
    assert "link: symlinks" in msg
    summary = parse_diff(text)
    assert [f.status for f in summary.files] == ["modified", "deleted", "modified", "added"]
    assert Policy(allow_delete=True, forbidden=[]).check_diff(text.split("diff --git a/logo")[0])


def test_rename_and_escape_and_size_limits() -> None:
    rename = "diff --git a/src/a.cpp b/src/b.cpp\nsimilarity index 100%\nrename from src/a.cpp\nrename to src/b.cpp\n"
    (f,) = parse_diff(rename).files
    assert (f.path, f.old_path, f.status) == ("src/b.cpp", "src/a.cpp", "renamed")
    with pytest.raises(PolicyViolation, match="renaming"):
        Policy().check_diff(rename)
    assert Policy(allow_delete=True).check_diff(rename).files == (f,)

    escape = "--- a/../../etc/cron\n+++ b/../../etc/cron\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(PolicyViolation, match=r"'\.\.' is refused"):
        Policy().check_diff(escape)

    big = "--- a/src/a.c\n+++ b/src/a.c\n@@ -1,0 +1,30 @@\n" + "+x\n" * 30
    with pytest.raises(PolicyViolation, match="changes 30 lines, more than 20"):
        Policy(max_changed_lines=20).check_diff(big)
    many = "".join(f"--- a/src/f{i}.c\n+++ b/src/f{i}.c\n@@ -1 +1 @@\n-a\n+b\n" for i in range(4))
    with pytest.raises(PolicyViolation, match="touches 4 files, more than 3"):
        Policy(max_files=3).check_diff(many)
    with pytest.raises(PolicyViolation, match="changes nothing"):
        Policy().check_diff("")
