"""Build / reproducer / test actions made from configured commands, for a :class:`Workspace`.

Each factory returns a zero-argument callable that runs its command through
:func:`crashpilot.proc.run` (own process group, timeout, capped output) with the environment the
caller gives — pass :func:`crashpilot.proc.clean_env` output plus the slot's variables, never
the worker's own environment — and reads the outcome the way the BUILD and VERIFY stages do:
compiler diagnostics for a build, the crash verdict of k runs for a reproducer.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from crashpilot import diagnostics
from crashpilot.agent.workspace import Action, ActionResult
from crashpilot.crashcheck import check_result, run_repeated
from crashpilot.proc import run

__all__ = ["build_action", "reproducer_action", "suite_action"]

OUTPUT_TAIL = 4_000


def _tail(text: str) -> str:
    return text[-OUTPUT_TAIL:]


def build_action(
    cmd: list[str] | str,
    *,
    cwd: str | Path,
    timeout: float,
    env: Mapping[str, str],
    root: str | Path | None = None,
    build_dir: str | Path | None = None,
) -> Action:
    """A build: ok when the command exits 0 in time; otherwise the compiler errors, summarized."""
    shell = isinstance(cmd, str)

    def build() -> ActionResult:
        res = run(cmd, cwd=cwd, timeout=timeout, env=env, shell=shell, merge_output=True)
        diags = diagnostics.extract(res.output, root=root, build_dir=build_dir)
        if res.timed_out:
            return ActionResult(False, f"the build timed out after {timeout:g}s", _tail(res.output))
        if res.ok:
            warnings = sum(1 for d in diags if d.severity == "warning")
            note = f" with {warnings} warning(s)" if warnings else ""
            return ActionResult(True, f"built in {res.duration:.1f}s{note}", "")
        summary = diagnostics.summarize(diags) if diags else f"the build failed (exit {res.returncode})"
        return ActionResult(False, summary, _tail(res.output))

    return build


def reproducer_action(
    cmd: list[str] | str,
    *,
    cwd: str | Path,
    timeout: float,
    env: Mapping[str, str],
    runs: int = 3,
    input: str | bytes | None = None,
) -> Action:
    """Run the reproducer ``runs`` times: ok when no run crashed or hung."""
    shell = isinstance(cmd, str)

    def reproduce() -> ActionResult:
        verdict = run_repeated(cmd, runs, cwd=cwd, timeout=timeout, env=env, shell=shell, input=input)
        if verdict.crashes:
            first = verdict.first_crash
            why = f": {first.kind} {first.reason}" if first is not None else ""
            summary = f"crashed in {verdict.crashes} of {verdict.runs} run(s){why}"
            return ActionResult(False, summary, _tail(verdict.first_crash_output or ""))
        if verdict.timeouts:
            return ActionResult(False, f"{verdict.timeouts} of {verdict.runs} run(s) hung (timed out)", "")
        return ActionResult(True, f"no crash in {verdict.runs} run(s)", "")

    return reproduce


def suite_action(cmd: list[str] | str, *, cwd: str | Path, timeout: float, env: Mapping[str, str]) -> Action:
    """Run the tests: ok when the command exits 0 in time."""
    shell = isinstance(cmd, str)

    def tests() -> ActionResult:
        res = run(cmd, cwd=cwd, timeout=timeout, env=env, shell=shell, merge_output=True)
        if res.timed_out:
            return ActionResult(False, f"the tests timed out after {timeout:g}s", _tail(res.output))
        if res.ok:
            return ActionResult(True, f"the tests passed in {res.duration:.1f}s", _tail(res.output))
        check = check_result(res, via_shell=shell)
        crashed = f"; a test crashed: {check.kind} {check.reason}" if check.crashed else ""
        return ActionResult(False, f"the tests failed (exit {res.returncode}){crashed}", _tail(res.output))

    return tests
