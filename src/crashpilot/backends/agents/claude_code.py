"""Claude Code headless: ``claude -p --output-format json`` with its tools restricted.

The prompt goes to stdin (it can be long and should not show in ``ps``). Edits are
auto-approved (``--permission-mode acceptEdits``); shell use is limited to the project's exact
build / test commands; web tools and git commit / push are denied. In ``-p`` mode a tool call
that is neither allowed nor auto-approved is refused, since nobody can answer a prompt.
``--max-turns`` and ``--max-budget-usd`` bound the run when given.

The JSON result object it prints carries ``result`` (its final text), ``is_error``,
``subtype`` (``success``, ``error_max_turns`` ...), ``total_cost_usd``, ``usage`` and
``session_id``; see docs/agents.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from crashpilot.backends.agents.base import AgentReport, AgentRun, CliAgent, Invocation

__all__ = ["ClaudeCodeAgent", "parse_result"]

READ_EDIT_TOOLS = ("Read", "Edit", "MultiEdit", "Write", "Grep", "Glob", "LS")
DENIED_TOOLS = (
    "WebFetch", "WebSearch",
    "Bash(git commit:*)", "Bash(git push:*)", "Bash(git checkout:*)", "Bash(git switch:*)",
    "Bash(git reset:*)", "Bash(curl:*)", "Bash(wget:*)", "Bash(ssh:*)", "Bash(scp:*)",
)  # fmt: skip
AUTH = re.compile(
    r"invalid api key|please run /login|not logged in|authentication[_ ]error|invalid x-api-key"
    r"|oauth token (?:has )?expired|unauthorized|\b401\b",
    re.IGNORECASE,
)


def _result_object(stdout: str) -> dict[str, Any] | None:
    """The ``type: result`` object: the whole stdout, or the last JSON line / array element that is one."""
    text = stdout.strip()
    candidates: list[Any] = []
    try:
        candidates.append(json.loads(text))
    except ValueError:
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith(("{", "[")):
                try:
                    candidates.append(json.loads(line))
                except ValueError:
                    continue
    for value in candidates:
        items = value if isinstance(value, list) else [value]
        for item in reversed(items):
            if isinstance(item, dict) and (item.get("type") == "result" or "result" in item):
                return item
    return None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_result(stdout: str) -> AgentReport:
    """Read Claude Code's ``--output-format json`` output (garbage gives an error report)."""
    obj = _result_object(stdout)
    if obj is None:
        return AgentReport(is_error=True, error="Claude Code printed no JSON result object")
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    parts = [
        _int(usage.get(k)) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    known = [p for p in parts if p is not None]
    cost = obj.get("total_cost_usd", obj.get("cost_usd"))
    result = obj.get("result")
    subtype = str(obj.get("subtype") or "")
    is_error = bool(obj.get("is_error")) or (subtype.startswith("error") if subtype else False)
    error = None
    if is_error:
        error = (str(result) if result else "") or f"Claude Code stopped: {subtype or 'error'}"
        if subtype and subtype != "success" and subtype not in error:
            error = f"{subtype}: {error}"
    return AgentReport(
        summary=str(result) if isinstance(result, str) and result.strip() else None,
        is_error=is_error,
        error=error,
        cost_usd=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        input_tokens=sum(known) if known else None,
        output_tokens=_int(usage.get("output_tokens")),
        session_id=str(obj["session_id"]) if obj.get("session_id") else None,
        parsed=obj,
    )


class ClaudeCodeAgent(CliAgent):
    """Claude Code (npm ``@anthropic-ai/claude-code``) run with ``claude -p``."""

    name = "claude-code"
    default_executable = "claude"
    install_hint = "npm i -g @anthropic-ai/claude-code@2.1.197 (2.1.198 and later need Node 22)"
    default_key_env = "ANTHROPIC_API_KEY"
    auth_pattern = AUTH

    def invocation(self, job: AgentRun, exe: str, scratch: Path) -> Invocation:
        allowed = [*READ_EDIT_TOOLS, *(f"Bash({c})" for c in job.commands if c.strip())]
        argv = [exe, "-p", "--output-format", "json", "--permission-mode", "acceptEdits"]
        argv += ["--allowedTools", *allowed, "--disallowedTools", *DENIED_TOOLS]
        if job.max_turns:
            argv += ["--max-turns", str(job.max_turns)]
        if job.max_budget_usd:
            argv += ["--max-budget-usd", f"{job.max_budget_usd:g}"]
        if job.model:
            argv += ["--model", job.model]
        return Invocation(argv=[*argv, *self.extra_args], stdin=job.prompt)

    def read_output(self, stdout: str, stderr: str, scratch: Path) -> AgentReport:
        report = parse_result(stdout)
        if report.parsed is None and stderr.strip():
            return AgentReport(is_error=True, error=stderr.strip()[-1500:])
        return report

    def agent_env(self, job: AgentRun, scratch: Path) -> dict[str, str]:
        # No self-update, telemetry or error reporting from a headless run.
        return {
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
