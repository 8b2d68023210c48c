"""``crashpilot eval`` for real: the cases in tests/eval_cases (small C/C++ projects with a real
gdb crash, a reproducer and an upstream fix) go through the real ANALYSE / FIX / BUILD / VERIFY
stage code with the real compiler, in clones the harness makes; gold applies the upstream fix,
replay runs the real anthropic SDK against a scripted conversation on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from crashpilot import cli
from crashpilot.git import Git, Identity

pytestmark = pytest.mark.skipif(
    not (shutil.which("g++") and shutil.which("make")), reason="needs g++ and make"
)

CASES = Path(__file__).resolve().parents[1] / "eval_cases"
STANDINS = Path(__file__).resolve().parent / "standins"
KEYS = {"id", "localized", "plausible", "verification", "seconds", "tokens", "cost", "error"}
WRONG_AUTHOR = Identity("someone", "someone@example.invalid")


def main(argv: list[str]) -> int:
    """The CLI in-process; the log file handler it opens is closed again afterwards."""
    try:
        return cli.main(argv)
    finally:
        root = logging.getLogger("crashpilot")
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()


def cases_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "cases"
    shutil.copytree(CASES, dest, ignore=shutil.ignore_patterns("results"))
    return dest


def eval_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["eval", *argv, "--json"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


def results_folder(cases: Path) -> Path:
    [folder] = sorted((cases / "results").iterdir())
    return folder


def test_gold_on_the_repo_cases_is_all_plausible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = cases_copy(tmp_path)
    rows = eval_json(capsys, str(cases), "--model", "gold", "--jobs", "2", "--runs", "2")
    assert [r["id"] for r in rows] == ["null-player", "oob-inventory", "zero-guild"]
    for r in rows:
        assert set(r) == KEYS
        assert r["plausible"] is True, r
        assert r["verification"] == "reproduced-and-fixed"
        assert r["localized"] is None  # no analysis ran
        assert r["tokens"] == 0 and r["error"] is None and r["seconds"] > 0
    folder = results_folder(cases)
    assert json.loads((folder / "results.json").read_text()) == rows
    md = (folder / "results.md").read_text()
    assert "gold (harness self-check)" in md and "3/3 plausible (100 %)" in md
    assert "| zero-guild | - | yes | reproduced-and-fixed |" in md
    per_case = json.loads((folder / "cases" / "zero-guild.json").read_text())
    assert per_case["stages"] == ["analyse:ok", "fix:ok", "build:ok", "verify:ok"]


def test_prepared_cases_with_a_wrong_fix_commit_and_the_repo_left_as_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepared = tmp_path / "prepared"
    assert main(["eval", str(CASES), "--prepare", str(prepared)]) == 0
    # the documented format: repo (relative), buggy_commit, fix_commit
    data = json.loads((prepared / "null-player" / "case.json").read_text())
    assert data["repo"] == "repo" and len(data["buggy_commit"]) == 40 and "recipe" not in data
    repo = Git(prepared / "null-player" / "repo")
    assert not (prepared / "null-player" / "project").exists()
    # a deliberately wrong "fix": it builds, but the reproducer still crashes
    repo.checkout("wrong", create_from=data["buggy_commit"])
    world = repo.root / "src" / "world.cpp"
    world.write_text(
        world.read_text().replace("    player->gold += amount;", "    player->gold += amount; // checked")
    )
    wrong = repo.commit("looks like a fix", WRONG_AUTHOR)
    repo.checkout("main")
    data["fix_commit"] = wrong
    (prepared / "null-player" / "case.json").write_text(json.dumps(data))
    before = (repo.head(), repo.current_branch(), repo.run("branch", "--list").stdout, repo.status())

    rows = eval_json(
        capsys, str(prepared), "--model", "gold", "--case", "null-player", "--case", "oob-inventory"
    )
    by_id = {r["id"]: r for r in rows}
    assert by_id["oob-inventory"]["plausible"] is True  # a prepared repository with the real fix
    bad = by_id["null-player"]
    assert bad["plausible"] is False
    assert bad["verification"] == "failed:verify"
    assert "still crashes" in bad["error"]
    after = (repo.head(), repo.current_branch(), repo.run("branch", "--list").stdout, repo.status())
    assert after == before  # eval worked in a clone; the user's repository is untouched


def test_replay_model_is_localized_and_plausible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = cases_copy(tmp_path)
    [row] = eval_json(
        capsys, str(cases), "--model", "replay:replay.json", "--case", "null-player", "--runs", "2"
    )
    assert row["localized"] is True and row["plausible"] is True
    assert row["verification"] == "reproduced-and-fixed"
    assert row["tokens"] == sum(  # counted from the stored exchanges
        t["usage"]["input_tokens"] + t["usage"]["output_tokens"]
        for t in json.loads((cases / "null-player" / "replay.json").read_text())["turns"]
    )


def test_analysis_naming_the_wrong_place_is_not_localized(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = cases_copy(tmp_path)
    script = json.loads((cases / "null-player" / "replay.json").read_text())
    analysis = script["turns"][0]["tool_calls"][0]["arguments"]
    analysis.update(
        root_cause="main reads a malformed command file.",
        fault_location="src/main.cpp:26 main",
        plan="Validate the input in main.",
    )
    script["turns"][1:] = [
        {
            "text": "Nothing safe to change.",
            "tool_calls": [{"name": "give_up", "arguments": {"reason": "unsure"}}],
        }
    ]
    (cases / "null-player" / "wrong.json").write_text(json.dumps(script))
    [row] = eval_json(capsys, str(cases), "--model", "replay:wrong.json", "--case", "null-player")
    assert row["localized"] is False
    assert row["plausible"] is False
    assert row["verification"] == "failed:fix"
    assert "unsure" in row["error"]


def test_resume_runs_only_the_cases_not_finished(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = cases_copy(tmp_path)
    eval_json(capsys, str(cases), "--model", "gold", "--case", "oob-inventory", "--runs", "1")
    folder = results_folder(cases)
    first = (folder / "cases" / "oob-inventory.json").read_text()
    (folder / "cases" / "oob-inventory.json").write_text(first.replace('"seconds": ', '"seconds": 1000'))
    capsys.readouterr()
    argv = ["eval", str(cases), "--model", "gold", "--resume", "--runs", "1"]
    assert main([*argv, "--case", "oob-inventory", "--case", "null-player"]) == 0
    out = capsys.readouterr().out
    assert results_folder(cases) == folder  # the same results folder, continued
    assert "oob-inventory" in out and "null-player" in out and "2/2 plausible (100 %)" in out
    rows = json.loads((folder / "results.json").read_text())
    assert [r["id"] for r in rows] == ["null-player", "oob-inventory"]
    assert rows[1]["seconds"] >= 1000  # kept from the first run, not run again
    # results of one model are never mixed with another's
    assert main(["eval", str(cases), "--model", "replay:replay.json", "--resume"]) == 1
    assert "resume with the same --model" in capsys.readouterr().err


def test_agent_cli_does_fix_and_crashpilot_judges_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--agent claude-code: the scripted model analyses, a stand-in `claude` edits, VERIFY judges."""
    cases = cases_copy(tmp_path)
    script = json.loads((cases / "null-player" / "replay.json").read_text())
    script["turns"] = script["turns"][:1]  # only the analysis: the agent CLI does FIX
    (cases / "null-player" / "analysis-only.json").write_text(json.dumps(script))
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python3").symlink_to(sys.executable)
    (folder / "claude").symlink_to(STANDINS / "claude")
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    edit = {
        "path": "src/world.cpp",
        "search": "    player->gold += amount;",
        "replace": "    if (!player)\n        return -1;\n    player->gold += amount;",
    }
    (Path(os.environ["HOME"]) / "standin.json").write_text(json.dumps({"mode": "edit", "edits": [edit]}))
    argv = ["--model", "replay:analysis-only.json", "--agent", "claude-code", "--case", "null-player"]
    [row] = eval_json(capsys, str(cases), *argv, "--runs", "2")
    assert row["plausible"] is True and row["localized"] is True
    assert row["verification"] == "reproduced-and-fixed"
    assert row["cost"] == pytest.approx(0.0421)  # what the (stand-in) agent reported
    record = json.loads((results_folder(cases) / "cases" / "null-player.json").read_text())
    assert record["model"] == "replay:analysis-only.json with agent claude-code"
