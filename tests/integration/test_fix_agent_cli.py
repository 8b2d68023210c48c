"""The FIX stage with an agent CLI backend: the group's state after each outcome.

A real C++ project (the eval case ``null-player``) is committed to a git repository, its real gdb
crash output is ingested, and a real :class:`Worker` runs FIX (``agent.backend = claude-code``,
``codex`` or ``aider``, played by the stand-ins in ``standins/``), BUILD and VERIFY with the real
compiler and reproducer. Only ANALYSE is replaced (no model here): the run starts as the eval
harness starts it for ``gold``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from crashpilot.app import make_backends, open_app, stage_handlers
from crashpilot.eval import load_case
from crashpilot.eval.runner import BASE_BRANCH, checkout_case, start_without_analysis
from crashpilot.flow import Stage
from crashpilot.ingest.files import ingest_paths
from crashpilot.settings import load
from crashpilot.store import runs
from crashpilot.store.exchanges import list_exchanges
from crashpilot.store.groups import get_group
from crashpilot.worker import Worker

pytestmark = pytest.mark.skipif(
    not (shutil.which("g++") and shutil.which("make")), reason="needs g++ and make"
)

CASE = Path(__file__).resolve().parents[1] / "eval_cases" / "null-player"
STANDINS = Path(__file__).resolve().parent / "standins"
PROGRAM = {"claude-code": "claude", "codex": "codex", "aider": "aider"}
GOOD = [
    {
        "path": "src/world.cpp",
        "search": "    player->gold += amount;",
        "replace": "    if (!player)\n        return -1;\n    player->gold += amount;",
    }
]
NOT_A_FIX = [
    {"path": "src/world.cpp", "search": "int World::GiveGold", "replace": "// gold\nint World::GiveGold"}
]
TEST_EDIT = [{"path": "tests/test_world.cpp", "content": "int main() { return 0; }\n"}]


def configure(mode: str, edits: list[dict[str, str]], **extra: Any) -> None:
    cfg = {"mode": mode, "edits": edits, **extra}
    (Path(os.environ["HOME"]) / "standin.json").write_text(json.dumps(cfg))


def run_fix(tmp_path: Path, backend: str, programs: tuple[str, ...]) -> dict[str, Any]:
    """Ingest the crash, run ANALYSE(start)/FIX/BUILD/VERIFY; return group, run, stages, repo."""
    case = load_case(CASE)
    git, _, _ = checkout_case(case, tmp_path / "repo")
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python3").symlink_to(sys.executable)
    for name in programs:
        (folder / name).symlink_to(STANDINS / name)
    assert case.input_file is not None
    settings = load(
        config=None,
        env={},
        search_from=tmp_path,
        flags={
            "home": str(tmp_path / "home"),
            "project.repo": str(git.root),
            "project.base_branch": BASE_BRANCH,
            "build.command": case.build,
            "reproduce.command": f"./build/realm {case.input_file}",
            "reproduce.runs": 2,
            "worker.max_fix_attempts": 1,
            "agent.backend": backend,
            "agent.timeout": 60.0,
        },
    )
    app = open_app(settings)
    [result] = ingest_paths(app.engine, app.blobs, list(case.crash_files), **app.ingest_options())
    group_id = result.group_ids[0]
    backends = make_backends(app)
    backends["env"] = {**backends["env"], "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}
    assert "agent" in backends  # made from agent.backend
    handlers = {**stage_handlers(), Stage.ANALYSE: start_without_analysis}
    errors: list[BaseException] = []
    stages: list[str] = []

    def recording(stage: Stage) -> Any:
        def run(job: Any, ctx: Any) -> Any:
            stages.append(stage.value)
            return handlers[stage](job, ctx)

        return run

    wanted = (Stage.ANALYSE, Stage.FIX, Stage.BUILD, Stage.VERIFY)
    worker = Worker(
        app.engine,
        {s: recording(s) for s in wanted},
        settings=app.settings,
        backends=backends,
        max_attempts_fix=1,
        requeue_delay=3600,
        poll=0.01,
        on_error=lambda job, exc: errors.append(exc),
    )
    for _ in range(20):
        if not worker.run_once():
            break
    assert not errors, errors
    with app.engine.connect() as conn:
        group = get_group(conn, group_id, report_limit=0)
        run_row = runs.latest_run(conn, group_id)
        exchanges = list_exchanges(conn, run_id=run_row["id"]) if run_row else []
    return {"group": group, "run": run_row, "stages": stages, "git": git, "exchanges": exchanges}


@pytest.mark.parametrize("backend", ["claude-code", "codex", "aider"])
def test_agent_fix_is_built_and_verified_by_crashpilot(tmp_path: Path, backend: str) -> None:
    configure("edit", GOOD, summary="Guarded the null player.")
    out = run_fix(tmp_path, backend, (PROGRAM[backend],))
    assert out["stages"] == ["analyse", "fix", "build", "verify"]
    run_row, group = out["run"], out["group"]
    assert group["status"] == "publishing"  # VERIFY passed; PUBLISH is next
    assert run_row["verification"] == "reproduced-and-fixed"
    fix = run_row["result"]["fix"]
    assert fix["files"] == ["src/world.cpp"] and fix["agent"] == backend
    branch_head = out["git"].rev_parse(f"crashpilot/{group['id']}")
    assert "if (!player)" in out["git"].show(branch_head, "src/world.cpp")
    assert run_row["result"]["agent"]["status"] == "changed"
    [ex] = out["exchanges"]  # the agent's run is stored like a model call
    assert ex.provider == backend and ex.response["status"] == "changed"
    assert "World::GiveGold" in ex.request["prompt"]  # the crash went into the prompt


def test_agent_claiming_success_for_a_non_fix_is_judged_by_verify(tmp_path: Path) -> None:
    configure("edit", NOT_A_FIX, summary="Fixed the crash, all tests pass.")
    out = run_fix(tmp_path, "claude-code", ("claude",))
    assert out["stages"] == ["analyse", "fix", "build", "verify"]
    assert out["run"]["result"]["agent"]["claimed_success"] is True
    assert out["run"]["verification"] is None
    assert out["group"]["status"] == "needs_human"
    assert "still crashes" in out["group"]["status_reason"]
    assert not out["git"].branch_exists(f"crashpilot/{out['group']['id']}")


def test_forbidden_edit_is_refused_and_the_group_goes_to_a_human(tmp_path: Path) -> None:
    configure("edit", GOOD + TEST_EDIT)
    out = run_fix(tmp_path, "codex", ("codex",))
    assert out["stages"] == ["analyse", "fix"]
    group = out["group"]
    assert group["status"] == "needs_human"
    assert "codex agent ended with status refused" in group["status_reason"]
    assert "tests/test_world.cpp" in group["status_reason"]
    assert not out["git"].branch_exists(f"crashpilot/{group['id']}")
    assert out["run"]["status"] == "needs_human"
    assert out["run"]["result"]["agent"]["status"] == "refused"


def test_missing_executable_says_how_to_install_it(tmp_path: Path) -> None:
    configure("edit", GOOD)
    out = run_fix(tmp_path, "claude-code", ())  # no `claude` on PATH
    group = out["group"]
    assert out["stages"] == ["analyse", "fix"]
    assert group["status"] == "needs_human"
    assert "status missing" in group["status_reason"]
    assert "claude not found on PATH: install with npm" in group["status_reason"]
    assert out["run"]["result"]["agent"]["status"] == "missing"


@pytest.mark.parametrize(("mode", "status"), [("fail", "failed"), ("auth", "auth")])
def test_non_zero_exit_leaves_nothing_behind(tmp_path: Path, mode: str, status: str) -> None:
    configure(mode, GOOD)
    out = run_fix(tmp_path, "aider" if mode == "fail" else "claude-code", ("aider", "claude"))
    group = out["group"]
    assert group["status"] == "needs_human"
    assert f"ended with status {status}" in group["status_reason"]
    assert not out["git"].branch_exists(f"crashpilot/{group['id']}")
    assert out["run"]["result"]["agent"]["status"] == status
    assert out["exchanges"] and out["exchanges"][0].error
