"""The ``gold`` FIX backend: the upstream fix commit's diff applied as the patch.

A self-check of the eval harness, not a model: it goes through the same agent CLI path as
Claude Code or Codex (:class:`~crashpilot.backends.agents.CliAgent`: the "program" is ``git
apply``), so the diff pickup, the patch policy, BUILD and VERIFY judge it like any agent's
change. Applying a deliberately wrong commit is how the harness's own judgement is checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from crashpilot.backends.agents.base import AgentReport, AgentRun, CliAgent, Invocation

__all__ = ["GoldAgent"]


class GoldAgent(CliAgent):
    """Applies ``patch`` (a unified diff) in the worktree with ``git apply``."""

    name: ClassVar[str] = "gold"
    default_executable: ClassVar[str] = "git"
    install_hint: ClassVar[str] = "your system's package manager (git)"
    default_key_env: ClassVar[str | None] = None
    auth_pattern: ClassVar[re.Pattern[str]] = re.compile(r"(?!)")  # git apply needs no login

    def __init__(self, patch: str, *, executable: str | None = None) -> None:
        super().__init__(executable=executable)
        self.patch = patch

    def invocation(self, job: AgentRun, exe: str, scratch: Path) -> Invocation:
        patch_file = scratch / "gold.diff"
        patch_file.write_text(self.patch, encoding="utf-8")
        return Invocation(argv=[exe, "apply", "--whitespace=nowarn", str(patch_file)], stdin=None)

    def read_output(self, stdout: str, stderr: str, scratch: Path) -> AgentReport:
        if stderr.strip():
            return AgentReport(summary=None, error=stderr.strip()[:1000])
        return AgentReport(summary="the upstream fix commit applied as the patch (gold)")
