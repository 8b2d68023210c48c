"""The per-revision symbol store: exact / prefix / dirty matches, ambiguity, no silent fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashpilot.symbolize.symbols import (
    breakpad_roots,
    breakpad_symbol_file,
    find_binary,
    find_revision_dir,
    normalize_revision,
)

FULL_A = "6a2b8b8c4b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e"
FULL_B = "6a2b8b8ff00d1f0e9d8c7b6a5f4e3d2c1b0a9f8e"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    for name in (FULL_A, FULL_B, "1111111", "release-2024.05"):
        (tmp_path / name).mkdir()
    (tmp_path / "not-a-folder").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6a2b8b8c4b2a+ 2024-01-02 10:00:00 +0100 (master branch)", ("6a2b8b8c4b2a", True)),
        ("6A2B8B8C4B2A", ("6a2b8b8c4b2a", False)),
        ("abc1234-dirty", ("abc1234", True)),
        ("  ", ("", False)),
    ],
)
def test_normalize_revision(text: str, expected: tuple[str, bool]) -> None:
    assert normalize_revision(text) == expected


def test_exact_prefix_and_dirty_matches(store: Path) -> None:
    assert find_revision_dir(store, FULL_A).path == store / FULL_A
    assert find_revision_dir(store, "6a2b8b8c4b2a").path == store / FULL_A
    dirty = find_revision_dir(store, "6a2b8b8c4b2a+ 2024-01-02 (master)")
    assert dirty.path == store / FULL_A and dirty.dirty and "dirty" in dirty.note
    # a full hash finds a folder named by its short prefix
    assert find_revision_dir(store, "1111111" + "a" * 33).path == store / "1111111"
    assert find_revision_dir(store, "release-2024.05").path == store / "release-2024.05"


def test_ambiguous_unknown_and_missing_revision_give_no_folder(store: Path) -> None:
    ambiguous = find_revision_dir(store, "6a2b8b8")
    assert ambiguous.path is None and "ambiguous" in ambiguous.note
    unknown = find_revision_dir(store, "deadbeefcafe")
    assert unknown.path is None and "no symbols for revision deadbeefcafe" in unknown.note
    short = find_revision_dir(store, "6a2b8b")  # under 7 characters: no prefix match, no fallback
    assert short.path is None
    assert find_revision_dir(store, None).path is None
    assert find_revision_dir(None, FULL_A).path is None
    assert "cannot be read" in find_revision_dir(store / "missing", FULL_A).note


def test_find_binary_prefers_top_level_and_handles_15_char_names(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "worldserver").write_bytes(b"\x7fELF nested")
    assert find_binary(tmp_path, "worldserver") == tmp_path / "bin" / "worldserver"
    (tmp_path / "worldserver").write_bytes(b"\x7fELF top")
    (tmp_path / "worldserver.debug").write_bytes(b"debug")
    assert find_binary(tmp_path, "/opt/server/bin/worldserver") == tmp_path / "worldserver"
    (tmp_path / "authserver-with-long-name").write_bytes(b"\x7fELF")
    assert find_binary(tmp_path, "authserver-with") == tmp_path / "authserver-with-long-name"
    assert find_binary(tmp_path, "worldserver.debug") is None
    assert find_binary(tmp_path, "nothing") is None


def test_breakpad_symbol_file_layout(tmp_path: Path) -> None:
    (tmp_path / "symbols").mkdir()
    sym = tmp_path / "symbols" / "worldserver.pdb" / "ABC1" / "worldserver.sym"
    sym.parent.mkdir(parents=True)
    sym.write_text("MODULE windows x86_64 ABC1 worldserver.pdb\n")
    roots = breakpad_roots(tmp_path)
    assert roots == [tmp_path, tmp_path / "symbols"]
    assert breakpad_symbol_file(roots, "C:\\build\\worldserver.pdb", "ABC1") == sym
    assert breakpad_symbol_file(roots, "worldserver.pdb", "ABC2") is None
    assert breakpad_symbol_file(roots, "worldserver.pdb", "../ABC1") is None
