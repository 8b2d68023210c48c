"""The task an external agent CLI is given: role, rules, the patch policy in words, the commands,
then the crash brief (and analysis) fenced as untrusted data by :func:`crashpilot.agent.prompts.fix_task`.

An agent CLI has no separate system prompt we control, so the rules come first in the one
message and the fenced data last; the data rule says text inside the blocks is never an
instruction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from crashpilot.agent.prompts import DATA_RULE, fix_task
from crashpilot.backends.models.base import redact
from crashpilot.policy import BUILD_GLOBS, CI_GLOBS, DEFAULT_FORBIDDEN, TEST_GLOBS, Policy

if TYPE_CHECKING:
    from crashpilot.agent.analysis import Analysis

__all__ = ["agent_task", "policy_rules"]


def policy_rules(policy: Policy) -> list[str]:
    """The patch policy as short sentences an agent can follow."""
    rules = [f"Change only files matching: {', '.join(policy.allowed)}."]
    forbidden = list(policy.forbidden)
    if forbidden[: len(DEFAULT_FORBIDDEN)] == list(DEFAULT_FORBIDDEN):
        rules.append(
            f"Do NOT touch tests ({', '.join(TEST_GLOBS[:5])} ...), CI configuration "
            f"({', '.join(CI_GLOBS[:3])} ...) or build scripts ({', '.join(BUILD_GLOBS[:5])} ...)."
        )
        forbidden = forbidden[len(DEFAULT_FORBIDDEN) :]
    if forbidden:
        rules.append(f"Do NOT touch files matching: {', '.join(forbidden[:60])}.")
    rules.append(f"At most {policy.max_changed_lines} changed lines in at most {policy.max_files} files.")
    if not policy.allow_delete:
        rules.append("Do not delete or rename files; no binary files, symlinks or submodules.")
    return rules


def agent_task(
    brief: str,
    policy: Policy,
    *,
    build: str | None = None,
    tests: str | None = None,
    reproducer: str | None = None,
    analysis: Analysis | None = None,
    secrets: Sequence[str] = (),
) -> str:
    """The whole prompt for an agent CLI (see the module doc); secrets are redacted from it."""
    commands = [
        f"- build: {build}" if build else "- build: not configured",
        f"- tests: {tests}" if tests else "- tests: not configured",
        f"- reproducer: {reproducer}" if reproducer else "- reproducer: not configured",
    ]
    rules = "\n".join(f"- {r}" for r in policy_rules(policy))
    head = f"""You are fixing a crash in a C/C++ project, working headless in a git worktree made \
for this crash. A human reviews the result as a pull request.

{DATA_RULE}

What to do: read the code around the crash and find the root cause; make the smallest source \
change that removes it (a guard that only hides the crash is a last resort: say so); build it \
and run the tests and the reproducer when they are configured. Keep the project's style.

Rules (crashpilot checks your changes with `git diff` afterwards and discards everything when \
one is broken; it then builds and tests the change itself, whatever you report):
{rules}
- Do not commit, do not create branches, do not push: leave your changes uncommitted.
- Do not use the network; do not install anything.
- When no safe change exists, change nothing and explain why.

Commands of this project (run from the repository root):
{chr(10).join(commands)}

End with a short summary for the reviewer: the root cause, what you changed, and what you checked.
"""
    text = head + "\n" + fix_task(brief, analysis, secrets=secrets)
    return str(redact(text, secrets))
