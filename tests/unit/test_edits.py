"""Search/replace edits: exact, unique, inside the root, under the policy, line endings kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crashpilot.edits import Edit, EditRefused, apply_edit, apply_edits
from crashpilot.errors import PolicyViolation
from crashpilot.policy import Policy, parse_diff

SPELL = """\
#include "Spell.h"

void Spell::Cast(Unit* caster)
{
    Unit* target = caster->GetVictim();
    target->DealDamage(10);
    if (target->IsAlive())
        target->DealDamage(10);
}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "Spell.cpp").write_text(SPELL)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.cpp").write_text("int main() {}\n")
    return tmp_path


def test_unique_search_is_replaced(root: Path) -> None:
    res = apply_edit(
        root,
        "src/Spell.cpp",
        "    Unit* target = caster->GetVictim();\n    target->DealDamage(10);\n",
        "    Unit* target = caster->GetVictim();\n    if (!target)\n        return;\n    target->DealDamage(10);\n",
        Policy(),
    )
    text = (root / "src" / "Spell.cpp").read_text()
    assert (
        "    if (!target)\n        return;\n    target->DealDamage(10);\n    if (target->IsAlive())" in text
    )
    assert (res.path, res.created, res.line, res.added, res.deleted) == ("src/Spell.cpp", False, 5, 2, 0)
    (f,) = parse_diff(res.diff).files
    assert f.path == "src/Spell.cpp" and f.added == 2


def test_not_found_gives_the_closest_lines(root: Path) -> None:
    with pytest.raises(EditRefused) as info:
        apply_edit(root, "src/Spell.cpp", "Unit* target = caster->GetVictm();\n", "x", Policy())
    msg = str(info.value)
    assert "not found" in msg
    assert "     5|     Unit* target = caster->GetVictim();" in msg
    assert (root / "src" / "Spell.cpp").read_text() == SPELL


def test_ambiguous_search_is_refused_with_line_numbers(root: Path) -> None:
    with pytest.raises(
        EditRefused, match=r"ambiguous, it occurs 2 times \(lines 6, 8\); include more context"
    ):
        apply_edit(root, "src/Spell.cpp", "target->DealDamage(10);", "target->DealDamage(5);", Policy())
    assert (root / "src" / "Spell.cpp").read_text() == SPELL


def test_no_op_and_empty_search_are_refused(root: Path) -> None:
    with pytest.raises(EditRefused, match="identical"):
        apply_edit(root, "src/Spell.cpp", "#include", "#include", Policy())
    with pytest.raises(EditRefused, match="search text is empty"):
        apply_edit(root, "src/Spell.cpp", "", "x", Policy())
    with pytest.raises(EditRefused, match="no such file"):
        apply_edit(root, "src/Nope.cpp", "a", "b", Policy())


def test_new_file_with_empty_search(root: Path) -> None:
    res = apply_edit(root, "src/util/Guard.h", "", "#pragma once\n", Policy())
    assert res.created and res.added == 1
    assert (root / "src" / "util" / "Guard.h").read_text() == "#pragma once\n"


def test_policy_is_checked_before_writing(root: Path) -> None:
    with pytest.raises(PolicyViolation, match="forbidden"):
        apply_edit(root, "tests/t.cpp", "int main() {}", "int main() { return 1; }", Policy())
    assert (root / "tests" / "t.cpp").read_text() == "int main() {}\n"
    with pytest.raises(PolicyViolation, match="more than 1"):
        apply_edit(
            root,
            "src/Spell.cpp",
            '#include "Spell.h"\n',
            '#include "Spell.h"\n#include <a>\n#include <b>\n',
            Policy(max_changed_lines=1),
        )
    assert (root / "src" / "Spell.cpp").read_text() == SPELL


@pytest.mark.parametrize("path", ["../outside.cpp", "/etc/passwd", "src/../../x.cpp"])
def test_nothing_is_created_outside_the_root(root: Path, path: str) -> None:
    with pytest.raises(PolicyViolation):
        apply_edit(root / "src", path, "", "x\n", Policy())
    assert not (root / "outside.cpp").exists()
    assert not (root.parent / "x.cpp").exists()


def test_symlink_escaping_root_is_refused(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.cpp"
    outside.write_text("int x;\n")
    os.symlink(outside, root / "src" / "link.cpp")
    with pytest.raises(PolicyViolation, match="outside the repository"):
        apply_edit(root, "src/link.cpp", "int x;", "int y;", Policy())
    assert outside.read_text() == "int x;\n"


def test_crlf_file_keeps_its_line_endings(root: Path) -> None:
    path = root / "src" / "Win.cpp"
    path.write_bytes(b"int a;\r\nint b;\r\nint c;\r\n")
    res = apply_edit(root, "src/Win.cpp", "int b;\n", "int b2;\nint b3;\n", Policy())
    assert path.read_bytes() == b"int a;\r\nint b2;\r\nint b3;\r\nint c;\r\n"
    assert (res.added, res.deleted) == (2, 1)


def test_missing_final_newline_and_form_feed(root: Path) -> None:
    path = root / "src" / "x.c"
    path.write_text("a\fb\nlast")
    res = apply_edit(root, "src/x.c", "last", "final", Policy())
    assert path.read_text() == "a\fb\nfinal"
    assert "\\ No newline at end of file" in res.diff
    assert (res.added, res.deleted) == (1, 1)


def test_apply_edits_is_all_or_nothing(root: Path) -> None:
    edits = [
        Edit("src/Spell.cpp", '#include "Spell.h"', '#include "Spell.h"\n#include <cassert>'),
        Edit("src/New.h", "", "#pragma once\n"),
        Edit("src/Spell.cpp", "does not exist", "x"),
    ]
    with pytest.raises(EditRefused):
        apply_edits(root, edits, Policy())
    assert (root / "src" / "Spell.cpp").read_text() == SPELL
    assert not (root / "src" / "New.h").exists()
    done = apply_edits(root, edits[:2], Policy())
    assert [r.path for r in done] == ["src/Spell.cpp", "src/New.h"]
