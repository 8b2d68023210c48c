"""``crashpilot eval``: measure fix quality on a folder of crash cases with known fixes.

Each case (:mod:`.cases`) is run through the real pipeline stages up to VERIFY in its own
working folder (:mod:`.runner`) and judged from what VERIFY stored (:mod:`.judge`); the
results go to ``CASES_DIR/results/<timestamp>/`` as ``results.json`` and ``results.md``, plus
one ``cases/<id>.json`` per finished case, which is what ``resume`` skips. Cases run in
parallel up to ``jobs``. ``gold`` applies each case's upstream fix: a self-check of the harness.

    rows, folder = run_eval(Path("cases"), parse_model("gold"))
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crashpilot.errors import ConfigError
from crashpilot.eval.cases import Case, load_case, load_cases, materialize, prepare_cases
from crashpilot.eval.report import markdown, summary_line, table, write_results
from crashpilot.eval.runner import CaseResult, ModelChoice, parse_model, run_case

log = logging.getLogger(__name__)

__all__ = [
    "Case",
    "CaseResult",
    "GOLD_NOTE",
    "ModelChoice",
    "label_of",
    "latest_results",
    "load_case",
    "load_cases",
    "markdown",
    "materialize",
    "parse_model",
    "prepare_cases",
    "run_case",
    "run_eval",
    "summary_line",
    "table",
]

GOLD_NOTE = (
    "GOLD: each case's fix_commit was applied as the patch. This checks the harness (cases, "
    "build, reproducer, judgement), not a model."
)


def label_of(choice: ModelChoice) -> str:
    if choice.is_gold:
        return "gold (harness self-check)"
    return choice.label + (f" with agent {choice.agent}" if choice.agent else "")


def latest_results(cases_dir: Path) -> Path | None:
    """The newest ``results/<timestamp>`` folder of ``cases_dir``."""
    root = cases_dir / "results"
    found = sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    return found[-1] if found else None


def run_eval(
    cases_dir: Path,
    choice: ModelChoice,
    *,
    jobs: int = 1,
    resume: Path | None = None,
    keys: Mapping[str, str] | None = None,
    k: int = 3,
    attempts: int = 3,
    only: set[str] | None = None,
    keep_work: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], Path]:
    """Run every case and write the results; returns (rows in case order, results folder).

    ``resume`` is an earlier results folder: its finished cases are kept, not run again.
    """
    cases_dir = cases_dir.resolve()
    cases = load_cases(cases_dir, only)
    if resume is not None:
        folder = resume.resolve()
        if not (folder / "cases").is_dir():
            raise ConfigError(f"{folder} is not an eval results folder (no cases/)")
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        folder = cases_dir / "results" / stamp
    (folder / "cases").mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    for case in cases:
        path = folder / "cases" / f"{case.id}.json"
        if path.is_file():
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("model") != label_of(choice):
                raise ConfigError(
                    f"{folder} holds results of {record.get('model')!r}, not {label_of(choice)!r}: "
                    "resume with the same --model and --agent"
                )
            done[case.id] = record
    todo = [c for c in cases if c.id not in done]
    work_root = Path(tempfile.mkdtemp(prefix="crashpilot-eval-"))

    def one(case: Case) -> dict[str, Any]:
        work = work_root / case.id
        try:
            res: CaseResult = run_case(case, choice, work, keys=keys, k=k, attempts=attempts)
        finally:
            if not keep_work:
                shutil.rmtree(work, ignore_errors=True)
        row = res.to_json()
        record = {**row, "model": label_of(choice), "stages": res.stages}
        (folder / "cases" / f"{case.id}.json").write_text(
            json.dumps(record, indent=2) + "\n", encoding="utf-8"
        )
        if progress is not None:
            progress(row)
        return row

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="eval") as pool:
            for row in pool.map(one, todo):
                done[row["id"]] = row
    finally:
        if not keep_work:
            shutil.rmtree(work_root, ignore_errors=True)
    keys_out = ("id", "localized", "plausible", "verification", "seconds", "tokens", "cost", "error")
    rows = [{k2: done[c.id].get(k2) for k2 in keys_out} for c in cases]
    write_results(folder, rows, label_of(choice), GOLD_NOTE if choice.is_gold else "")
    return rows, folder
