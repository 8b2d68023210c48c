"""Aider headless: ``aider --message-file <prompt> --yes-always --no-auto-commits``.

Aider edits the files named on its command line (the crash's in-app files that exist and pass
the policy) and any file it asks to add (``--yes-always`` says yes). It must not commit
(``--no-auto-commits --no-dirty-commits``), must not touch ``.gitignore`` (``--no-gitignore``),
must not fetch URLs found in the crash text (``--no-detect-urls``) and must not suggest shell
commands (``--no-suggest-shell-commands``). Its chat and input histories go to a private folder
outside the worktree; the tag cache it leaves in the worktree is removed afterwards.

Aider prints plain text (``--no-pretty --no-stream``); the cost line
``Tokens: 2.1k sent, 310 received. Cost: $0.01 message, $0.02 session.`` gives tokens and cost.
Aider pins an older ``openai`` package, so install it in its own venv (``pipx install aider-chat``).
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from crashpilot.backends.agents.base import AgentReport, AgentRun, CliAgent, Invocation
from crashpilot.errors import CommandFailed, PolicyViolation
from crashpilot.git import Git

log = logging.getLogger(__name__)

__all__ = ["AiderAgent", "parse_text"]

PROMPT_FILE = "task.md"
AUTH = re.compile(
    r"AuthenticationError|invalid api key|incorrect api key|invalid x-api-key|\b401\b"
    r"|missing these environment variables|api key (?:is )?(?:not set|missing)",
    re.IGNORECASE,
)
FAILURE = re.compile(
    r"litellm\.\w+(?:Error|Exception)|AuthenticationError|APIConnectionError|^Traceback ", re.M
)
_NUM = r"(\d[\d.,]*)\s*([kKmM]?)"
TOKENS = re.compile(rf"Tokens:\s*{_NUM} sent\b.*?\b{_NUM} received")
COST = re.compile(r"Cost:\s*\$([\d.,]+) message,\s*\$([\d.,]+) session")


def _number(digits: str, unit: str) -> int:
    value = float(digits.replace(",", ""))
    return int(round(value * {"": 1, "k": 1_000, "m": 1_000_000}[unit.lower()]))


def parse_text(stdout: str, stderr: str = "") -> AgentReport:
    """Read Aider's plain output: its last words as the summary, tokens and cost from its cost lines."""
    sent = received = 0
    seen = False
    for m in TOKENS.finditer(stdout):
        seen = True
        sent += _number(m.group(1), m.group(2))
        received += _number(m.group(3), m.group(4))
    costs = COST.findall(stdout)
    cost = float(costs[-1][1].replace(",", "")) if costs else None
    both = stdout + "\n" + stderr
    failed = FAILURE.search(both) or AUTH.search(both)
    error = None
    if failed:
        line_start = both.rfind("\n", 0, failed.start()) + 1
        error = both[line_start : line_start + 800].strip()
    lines = [
        ln for ln in stdout.strip().splitlines() if ln.strip() and not ln.startswith(("Tokens:", "Cost:"))
    ]
    summary = "\n".join(lines[-15:]) if lines else None
    return AgentReport(
        summary=summary,
        is_error=failed is not None,
        error=error,
        cost_usd=cost,
        input_tokens=sent if seen else None,
        output_tokens=received if seen else None,
    )


class AiderAgent(CliAgent):
    """Aider (PyPI ``aider-chat``) run with ``--message-file``."""

    name = "aider"
    default_executable = "aider"
    install_hint = "pipx install aider-chat (its own venv: it pins an older openai package)"
    default_key_env = "ANTHROPIC_API_KEY"
    auth_pattern = AUTH

    def _files(self, job: AgentRun) -> list[str]:
        """The hint files that exist in the worktree and that the policy lets a fix change."""
        out: list[str] = []
        for path in job.files:
            try:
                rel = job.policy.check_path(path, root=job.worktree)
            except PolicyViolation:
                continue
            if (job.worktree / rel).is_file() and rel not in out:
                out.append(rel)
        return out[:20]

    def invocation(self, job: AgentRun, exe: str, scratch: Path) -> Invocation:
        prompt = scratch / PROMPT_FILE
        prompt.write_text(job.prompt, encoding="utf-8")
        argv = [exe, "--message-file", str(prompt), "--yes-always"]
        argv += ["--no-auto-commits", "--no-dirty-commits", "--no-gitignore", "--no-detect-urls"]
        argv += ["--no-suggest-shell-commands", "--no-check-update", "--no-show-release-notes"]
        argv += ["--analytics-disable", "--no-pretty", "--no-stream", "--no-fancy-input"]
        argv += ["--chat-history-file", str(scratch / "chat.md")]
        argv += ["--input-history-file", str(scratch / "input.history")]
        if job.model:
            argv += ["--model", job.model]
        return Invocation(argv=[*argv, *self.extra_args, "--", *self._files(job)], stdin=None)

    def read_output(self, stdout: str, stderr: str, scratch: Path) -> AgentReport:
        return parse_text(stdout, stderr)

    def tidy(self, worktree: Path) -> None:
        """Remove Aider's own untracked files (``.aider.tags.cache.v*``, histories) from the root."""
        try:
            tracked = set(Git(worktree).ls_files([".aider*"]))
        except CommandFailed:
            tracked = set()
        for path in worktree.glob(".aider*"):
            if path.name in tracked:
                continue
            log.debug("removing aider's own %s", path.name)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
