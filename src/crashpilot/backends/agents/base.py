"""Run an external coding agent CLI headless in a worktree and take what it changed.

Each backend (:mod:`.claude_code`, :mod:`.codex`, :mod:`.aider`) only says how to call its
program and how to read what it prints; :meth:`CliAgent.run` does the rest, the same for all:

1. find the executable on the ``PATH`` of the environment it was given (missing → ``missing``);
2. run it in the worktree through :func:`crashpilot.proc.run` (own process group, timeout,
   capped output) with a scrubbed environment (:func:`crashpilot.proc.clean_env`) plus only the
   one key that agent needs, set explicitly;
3. take ``git diff`` of everything it left (:mod:`.pickup`: commits undone, new files included);
4. check the diff with :meth:`crashpilot.policy.Policy.check_diff`.

The outcome's ``status`` says how it ended. Only ``changed`` leaves a change in the worktree;
every other status leaves the worktree exactly at the base. What the agent *says* (its summary,
"done", "tests pass") is recorded in the outcome and never trusted: crashpilot builds and
verifies the diff itself. :meth:`CliAgent.run` never raises for an agent failure.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from crashpilot.backends.agents.pickup import restore, take_diff
from crashpilot.backends.models.base import redact
from crashpilot.errors import CommandFailed, PolicyViolation
from crashpilot.git import Git
from crashpilot.policy import Policy
from crashpilot.proc import clean_env, is_secret_name
from crashpilot.proc import run as run_process

log = logging.getLogger(__name__)

__all__ = ["AgentOutcome", "AgentReport", "AgentRun", "AgentStatus", "CliAgent", "Invocation"]

AgentStatus = Literal["changed", "no_change", "refused", "failed", "timeout", "missing", "auth"]
TRANSCRIPT_CAP = 200_000  # characters of stdout / stderr kept in the outcome (head + tail)


@dataclass(frozen=True)
class AgentRun:
    """One headless agent run. ``env`` is the parent environment; it is scrubbed before use.

    ``api_key`` is the one secret the agent gets (under the backend's ``key_env`` name); None
    lets the agent use its own login (``claude /login``, ``codex login``: files under HOME).
    ``commands`` are the build / test commands the agent may run itself; ``files`` are
    repo-relative files worth opening first (Aider adds them to its chat). ``secrets`` are
    redacted from the transcript, with ``api_key``.
    """

    worktree: Path
    prompt: str
    policy: Policy
    timeout: float
    env: Mapping[str, str]
    api_key: str | None = None
    model: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    commands: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    extra_env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentReport:
    """What the agent's own output claims (never trusted; recorded)."""

    summary: str | None = None
    is_error: bool = False
    error: str | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    session_id: str | None = None
    parsed: Any = None  # the JSON it printed (object or list of events), for the record


@dataclass(frozen=True)
class AgentOutcome:
    """How an agent run ended. ``diff`` is the change left in the worktree ("" unless ``changed``).

    ``discarded_diff`` is a change that was found and thrown away (refused by the policy, or
    left by a run that failed or timed out). ``transcript`` is the program's stdout (and stderr
    after a marker), capped and redacted. ``summary`` and ``claimed_success`` are the agent's
    own words, recorded only.
    """

    backend: str
    status: AgentStatus
    diff: str = ""
    summary: str | None = None
    transcript: str = ""
    exit_code: int | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    duration_s: float = 0.0
    claimed_success: bool | None = None
    changed_files: tuple[str, ...] = ()
    discarded_diff: str = ""
    commits_undone: int = 0
    model: str | None = None
    command: tuple[str, ...] = ()
    prompt: str = ""
    parsed: Any = None

    @property
    def ok(self) -> bool:
        """True when a change passed the policy and waits in the worktree for BUILD."""
        return self.status == "changed"

    def exchange(self) -> dict[str, Any]:
        """Keyword arguments for :func:`crashpilot.store.exchanges.insert_exchange`."""
        return {
            "provider": self.backend,
            "model": self.model,
            "request": {"command": list(self.command), "prompt": self.prompt},
            "response": {
                "status": self.status,
                "exit_code": self.exit_code,
                "summary": self.summary,
                "output": self.parsed if self.parsed is not None else self.transcript,
                "transcript": self.transcript,
                "changed_files": list(self.changed_files),
            },
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": self.cost_usd,
            "duration_ms": int(self.duration_s * 1000),
            "error": self.error,
        }


@dataclass(frozen=True)
class Invocation:
    """The program's argument vector and what goes to its stdin (None = stdin closed)."""

    argv: list[str]
    stdin: str | None = None


def _cap(text: str, limit: int = TRANSCRIPT_CAP) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + f"\n[... {len(text) - limit} characters cut by crashpilot ...]\n" + text[-half:]


class CliAgent(ABC):
    """An agent CLI backend; satisfies ``crashpilot.protocols.Agent``. Subclasses fill the blanks."""

    name: ClassVar[str]
    default_executable: ClassVar[str]
    install_hint: ClassVar[str]
    default_key_env: ClassVar[str | None]
    # Text in the output that means "not logged in / bad key" (checked when the run failed).
    auth_pattern: ClassVar[re.Pattern[str]]

    def __init__(
        self,
        *,
        executable: str | None = None,
        model: str | None = None,
        key_env: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.executable = executable or self.default_executable
        self.model = model
        self.key_env = key_env or self.default_key_env
        self.extra_args = tuple(extra_args)

    # -- what a backend says -----------------------------------------------------------------------

    @abstractmethod
    def invocation(self, job: AgentRun, exe: str, scratch: Path) -> Invocation:
        """The command line (and stdin) for ``job``; ``scratch`` is a private folder outside the worktree."""

    @abstractmethod
    def read_output(self, stdout: str, stderr: str, scratch: Path) -> AgentReport:
        """What the program printed, read; never raises for garbage (returns what it could read)."""

    def agent_env(self, job: AgentRun, scratch: Path) -> dict[str, str]:
        """Non-secret variables this agent should get (telemetry off, config paths ...)."""
        return {}

    def tidy(self, worktree: Path) -> None:
        """Remove files the agent program itself writes into the worktree (caches, histories)."""
        return None

    # -- the common run ------------------------------------------------------------------------------

    def _env(self, job: AgentRun, scratch: Path) -> dict[str, str]:
        env = clean_env(job.env, extra={**self.agent_env(job, scratch), **dict(job.extra_env)})
        if job.api_key and self.key_env:
            if not is_secret_name(self.key_env):
                raise ValueError(f"{self.key_env!r} does not look like a key variable; refusing")
            env[self.key_env] = job.api_key  # the one secret, set on purpose
        return env

    def run(self, job: AgentRun) -> AgentOutcome:
        """Run the agent on ``job`` (see the module doc); never raises for an agent failure."""
        model = job.model or self.model
        job = replace(job, model=model)
        secrets = tuple(s for s in (*job.secrets, job.api_key or "") if s)
        start = time.monotonic()
        done = AgentOutcome(
            backend=self.name, status="failed", model=model, prompt=str(redact(job.prompt, secrets))
        )
        exe = shutil.which(self.executable, path=job.env.get("PATH", ""))
        if exe is None:
            error = f"{self.executable} not found on PATH: install with {self.install_hint}"
            return replace(done, status="missing", error=error)
        git = Git(job.worktree)
        try:
            base, branch = git.head(), git.current_branch()
        except CommandFailed as exc:
            return replace(done, error=f"the worktree is not usable: {exc}")
        with tempfile.TemporaryDirectory(prefix=f"crashpilot-{self.name}-") as tmp:
            scratch = Path(tmp)
            call = self.invocation(job, exe, scratch)
            done = replace(done, command=tuple(str(redact(a, secrets)) for a in call.argv))
            log.info("running agent %s in %s (timeout %.0fs)", self.name, job.worktree, job.timeout)
            try:
                res = run_process(
                    call.argv, cwd=job.worktree, timeout=job.timeout,
                    env=self._env(job, scratch), input=call.stdin,
                )  # fmt: skip
            except CommandFailed as exc:
                restore(git, base)
                return replace(done, error=str(redact(str(exc), secrets)))
            report = self.read_output(res.stdout, res.stderr, scratch)
        transcript = _cap(res.stdout) + (f"\n[stderr]\n{_cap(res.stderr)}" if res.stderr.strip() else "")
        done = replace(
            done,
            transcript=str(redact(transcript, secrets)),
            exit_code=None if res.timed_out else res.returncode,
            summary=redact(report.summary, secrets) if report.summary else None,
            cost_usd=report.cost_usd,
            input_tokens=report.input_tokens,
            output_tokens=report.output_tokens,
            claimed_success=None if res.timed_out else (res.returncode == 0 and not report.is_error),
            parsed=redact(report.parsed, secrets),
        )
        return self._settle(git, base, branch, job, res.timed_out, res.returncode, report, done, start)

    def _settle(
        self, git: Git, base: str, branch: str | None, job: AgentRun, timed_out: bool,
        returncode: int, report: AgentReport, done: AgentOutcome, start: float,
    ) -> AgentOutcome:  # fmt: skip
        """Decide the status from the worktree (not from the agent's claims) and clean up."""
        self.tidy(job.worktree)
        if git.current_branch() != branch:
            log.warning("agent %s switched branches; switching back", self.name)
            if branch:
                git.checkout(branch, force=True)
            else:
                git.run("checkout", "-q", "--force", "--detach", base)
            git.run("reset", "-q", "--hard", base)
            done = replace(done, error="the agent switched branches; its work was discarded")
        pickup = take_diff(git, base)
        done = replace(done, commits_undone=pickup.commits_undone, duration_s=time.monotonic() - start)
        failure = self._failure(timed_out, returncode, report, done)
        if failure is not None:
            restore(git, base)
            status, error = failure
            return replace(done, status=status, error=error, discarded_diff=pickup.diff)
        if not pickup.diff.strip():
            return replace(done, status="no_change", error="the agent changed nothing")
        try:
            job.policy.check_diff(pickup.diff)
        except PolicyViolation as exc:
            restore(git, base)
            log.warning("agent %s: patch refused by the policy", self.name)
            return replace(done, status="refused", error=str(exc), discarded_diff=pickup.diff)
        return replace(done, status="changed", diff=pickup.diff, changed_files=pickup.changed_files)

    def _failure(
        self, timed_out: bool, returncode: int, report: AgentReport, done: AgentOutcome
    ) -> tuple[AgentStatus, str] | None:
        if timed_out:
            return "timeout", f"{self.name} did not finish within the time limit and was killed"
        if done.error:
            return "failed", done.error
        if returncode == 0 and not report.is_error:
            return None
        said = report.error or done.transcript[-1500:].strip() or "(no output)"
        if self.auth_pattern.search(said) or self.auth_pattern.search(done.transcript):
            how = f"set its key ({self.key_env})" if self.key_env else "log in"
            return (
                "auth",
                f"{self.name} is not logged in or its key was refused: {how}. It said: {said[:500]}",
            )
        return "failed", f"{self.name} failed (exit code {returncode}): {said[:1000]}"
