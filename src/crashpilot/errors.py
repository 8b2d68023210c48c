"""The exception tree. Library code raises these; foreign errors are translated at the edge.

    CrashpilotError
     ├── ConfigError          a setting or config file is wrong (names the key / line)
     ├── ParseError           a crash text could not be read
     ├── QuarantineError      an input was refused at intake (too big, binary, empty ...)
     ├── PolicyViolation      a patch broke the patch policy
     ├── BackendError         a model / forge / notifier failed
     │    ├── TransientError  retried with backoff
     │    └── PermanentError  the job goes to NEEDS_HUMAN
     │         └── BudgetExceeded  a run spent its model tokens / calls / minutes
     └── CommandFailed        a subprocess failed (command, exit code, output tails)
"""

from __future__ import annotations


class CrashpilotError(Exception):
    """Base of every error crashpilot raises on purpose."""


class ConfigError(CrashpilotError):
    """A configuration value or file is invalid."""


class ParseError(CrashpilotError):
    """A crash report could not be parsed."""


class QuarantineError(CrashpilotError):
    """An input was refused at intake; the reason is the message."""


class PolicyViolation(CrashpilotError):
    """A patch broke the patch policy."""


class BackendError(CrashpilotError):
    """A backend (model, forge, notifier, agent) failed."""


class TransientError(BackendError):
    """A failure worth retrying later (timeouts, 429, 5xx)."""


class PermanentError(BackendError):
    """A failure that retrying will not fix."""


class BudgetExceeded(PermanentError):
    """A run's model budget (tokens, calls or wall-clock minutes) is spent; the message says which."""


class CommandFailed(CrashpilotError):
    """A subprocess failed."""

    def __init__(self, command: list[str] | str, returncode: int | None, output: str = "") -> None:
        self.command = command
        self.returncode = returncode
        self.output = output
        shown = command if isinstance(command, str) else " ".join(command)
        tail = output[-2000:] if output else ""
        super().__init__(f"command failed ({returncode}): {shown}" + (f"\n{tail}" if tail else ""))
