"""Build, tests and reproducer as BUILD and VERIFY run them inside a build slot.

Every command runs through :func:`crashpilot.proc.run` (own process group, killed whole on
timeout) from the slot's worktree, with the scrubbed environment plus the slot's variables. The
results are plain JSON-able evidence for the run and the pull request body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from crashpilot import diagnostics
from crashpilot.crashcheck import check_result, run_repeated
from crashpilot.proc import run
from crashpilot.slots import Slot

TAIL = 4000


@dataclass(frozen=True)
class Step:
    """One build / test / reproducer step."""

    name: str  # build | tests | reproducer
    configured: bool
    ok: bool
    summary: str
    seconds: float = 0.0
    output: str = ""
    crashes: int = 0
    runs: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def slot_env(base: Mapping[str, str], slot: Slot) -> dict[str, str]:
    return {**base, **slot.env}


def build(settings: Any, slot: Slot, env: Mapping[str, str]) -> Step:
    cmd = str(settings["build.command"] or "")
    if not cmd:
        return Step("build", False, True, "no build command configured")
    timeout = float(settings["build.timeout"])
    res = run(cmd, cwd=slot.worktree, timeout=timeout, env=slot_env(env, slot), shell=True, merge_output=True)
    tail = res.output[-TAIL:]
    if res.timed_out:
        return Step(
            "build",
            True,
            False,
            f"the build timed out after {timeout:g}s (its process group was killed)",
            res.duration,
            tail,
        )
    if res.ok:
        return Step("build", True, True, f"built in {res.duration:.1f}s", res.duration)
    diags = diagnostics.extract(res.output, root=slot.worktree, build_dir=slot.build_dir)
    summary = diagnostics.summarize(diags) if diags else f"the build failed (exit {res.returncode})"
    return Step("build", True, False, summary, res.duration, tail)


def tests(settings: Any, slot: Slot, env: Mapping[str, str]) -> Step:
    cmd = str(settings["test.command"] or "")
    if not cmd:
        return Step("tests", False, True, "no test command configured")
    timeout = float(settings["test.timeout"])
    res = run(cmd, cwd=slot.worktree, timeout=timeout, env=slot_env(env, slot), shell=True, merge_output=True)
    tail = res.output[-TAIL:]
    if res.timed_out:
        return Step("tests", True, False, f"the tests timed out after {timeout:g}s", res.duration, tail)
    if res.ok:
        return Step(
            "tests", True, True, f"the tests passed in {res.duration:.1f}s", res.duration, tail[-800:]
        )
    crash = check_result(res, via_shell=True)
    why = f"; a test crashed: {crash.kind} {crash.reason}" if crash.crashed else ""
    return Step("tests", True, False, f"the tests failed (exit {res.returncode}){why}", res.duration, tail)


def reproducer_command(settings: Any, test_case: str | None = None) -> str | None:
    """The reproducer command, ``{input}`` filled in; None when none is usable."""
    cmd = str(settings["reproduce.command"] or "")
    if not cmd:
        return None
    if "{input}" in cmd:
        if not test_case:
            return None
        import shlex

        cmd = cmd.replace("{input}", shlex.quote(test_case))
    return cmd


def reproduce(settings: Any, slot: Slot, env: Mapping[str, str], test_case: str | None = None) -> Step:
    """Run the reproducer k times; ``ok`` means no run crashed or hung."""
    cmd = reproducer_command(settings, test_case)
    if cmd is None:
        return Step("reproducer", False, True, "no reproducer configured")
    k = max(1, int(settings["reproduce.runs"]))
    verdict = run_repeated(
        cmd,
        k,
        cwd=slot.worktree,
        timeout=float(settings["reproduce.timeout"]),
        env=slot_env(env, slot),
        shell=True,
    )
    if verdict.crashes:
        first = verdict.first_crash
        why = f": {first.kind} {first.reason}" if first is not None else ""
        return Step(
            "reproducer",
            True,
            False,
            f"crashed in {verdict.crashes} of {verdict.runs} run(s){why}",
            0.0,
            (verdict.first_crash_output or "")[-TAIL:],
            verdict.crashes,
            verdict.runs,
        )
    if verdict.timeouts:
        return Step(
            "reproducer",
            True,
            False,
            f"{verdict.timeouts} of {verdict.runs} run(s) hung (timed out)",
            0.0,
            "",
            0,
            verdict.runs,
        )
    return Step("reproducer", True, True, f"no crash in {verdict.runs} run(s)", 0.0, "", 0, verdict.runs)
