"""OpenAI Codex CLI headless: ``codex exec --json`` in the ``workspace-write`` sandbox.

The prompt goes to stdin (``-`` as the prompt argument). The sandbox lets Codex write only
inside the worktree, and its network access is switched off explicitly
(``sandbox_workspace_write.network_access=false``); ``codex exec`` never asks for approval.
Codex has no turn or money limit of its own here: the run's timeout is its budget.

With ``--json`` it prints one JSON event per line: ``thread.started`` (``thread_id``),
``turn.started``, ``item.started`` / ``item.updated`` / ``item.completed`` (an ``item`` whose
``type`` is ``agent_message``, ``command_execution``, ``file_change`` ...), ``turn.completed``
(``usage``: ``input_tokens``, ``cached_input_tokens``, ``output_tokens``), ``turn.failed``
(``error.message``) and ``error`` (``message``). Its final message is also written to the
``--output-last-message`` file.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from crashpilot.backends.agents.base import AgentReport, AgentRun, CliAgent, Invocation

__all__ = ["CodexAgent", "parse_events"]

LAST_MESSAGE = "last-message.txt"
AUTH = re.compile(
    r"not logged in|codex login|unauthorized|\b401\b|invalid[_ ]api[_ ]key|incorrect api key"
    r"|missing (?:openai |codex )?api key|authentication",
    re.IGNORECASE,
)


def _events(stdout: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def _message(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("message")
    return str(value) if value else None


def parse_events(stdout: str) -> AgentReport:
    """Read ``codex exec --json`` JSONL (lines that are not JSON are skipped)."""
    events = _events(stdout)
    summary: str | None = None
    errors: list[str] = []
    tokens_in = tokens_out = 0
    seen_usage = completed = False
    thread: str | None = None
    for ev in events:
        kind = ev.get("type")
        item = ev.get("item") if isinstance(ev.get("item"), dict) else None
        if kind == "thread.started":
            thread = str(ev.get("thread_id") or "") or None
        elif kind == "item.completed" and item is not None:
            item_type = item.get("type", item.get("item_type"))
            if item_type in ("agent_message", "assistant_message") and item.get("text"):
                summary = str(item["text"])
            elif item_type == "error" and _message(item):
                errors.append(str(_message(item)))
        elif kind in ("turn.completed", "turn.failed"):
            usage = ev.get("usage") if isinstance(ev.get("usage"), dict) else None
            if usage is not None:
                seen_usage = True
                tokens_in += int(usage.get("input_tokens") or 0)
                tokens_out += int(usage.get("output_tokens") or 0)
            if kind == "turn.completed":
                completed = True
            else:
                errors.append(_message(ev.get("error")) or "the turn failed")
        elif kind == "error":
            errors.append(_message(ev) or "error")
    if not events:
        errors.append("Codex printed no JSON events")
    elif not completed and not errors:
        errors.append("Codex ended without completing its turn")
    return AgentReport(
        summary=summary,
        is_error=bool(errors),
        error="; ".join(errors) if errors else None,
        input_tokens=tokens_in if seen_usage else None,
        output_tokens=tokens_out if seen_usage else None,
        session_id=thread,
        parsed=events,
    )


class CodexAgent(CliAgent):
    """OpenAI Codex CLI (npm ``@openai/codex``) run with ``codex exec``."""

    name = "codex"
    default_executable = "codex"
    install_hint = "npm i -g @openai/codex"
    default_key_env = "CODEX_API_KEY"
    auth_pattern = AUTH

    def invocation(self, job: AgentRun, exe: str, scratch: Path) -> Invocation:
        argv = [exe, "exec", "--json", "--color", "never", "--sandbox", "workspace-write"]
        argv += ["-c", "sandbox_workspace_write.network_access=false", "--skip-git-repo-check"]
        argv += ["--cd", str(job.worktree), "--output-last-message", str(scratch / LAST_MESSAGE)]
        if job.model:
            argv += ["--model", job.model]
        return Invocation(argv=[*argv, *self.extra_args, "-"], stdin=job.prompt)

    def read_output(self, stdout: str, stderr: str, scratch: Path) -> AgentReport:
        report = parse_events(stdout)
        last = scratch / LAST_MESSAGE
        if report.summary is None and last.is_file():
            text = last.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                report = replace(report, summary=text)
        if report.is_error and stderr.strip() and not report.parsed:
            report = replace(report, error=stderr.strip()[-1500:])
        return report
