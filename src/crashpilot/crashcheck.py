"""Did a run crash? And does a reproducer crash reliably (k runs)?

A run crashed when it ended by a crash signal (a negative return code, or 128+N from a shell),
exited with a Windows crash code (0xC0000005 ...), or its output holds a sanitizer report, an
assertion failure, ``terminate called``, or a glibc heap/stack check abort. A run that timed out
is a hang, not a crash; it is counted apart. Output is untrusted text: it is only matched, never
executed or trusted further.
"""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from crashpilot.proc import DEFAULT_MAX_OUTPUT, Result, run

log = logging.getLogger(__name__)

__all__ = ["CRASH_SIGNALS", "CrashCheck", "CrashVerdict", "check_result", "classify", "run_repeated"]

CRASH_SIGNALS: frozenset[int] = frozenset(
    int(s)
    for s in (
        signal.SIGSEGV,
        signal.SIGABRT,
        signal.SIGBUS,
        signal.SIGFPE,
        signal.SIGILL,
        signal.SIGTRAP,
        signal.SIGSYS,
    )
)

WINDOWS_CODES: dict[int, str] = {
    0xC0000005: "access violation",
    0xC00000FD: "stack overflow",
    0xC0000409: "stack buffer overrun / fail fast",
    0xC000001D: "illegal instruction",
    0xC0000094: "integer divide by zero",
    0xC0000374: "heap corruption",
    0xC0000420: "assertion failure",
    0xC0000096: "privileged instruction",
    0xC0000008: "invalid handle",
    0x80000003: "breakpoint",
}

# (kind, pattern); the first pattern that matches earliest in the output gives the reason.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rx, re.MULTILINE))
    for kind, rx in (
        ("sanitizer", r"^==\d+==\s*ERROR: (AddressSanitizer: [^\n]*?)(?: on (?:unknown )?address.*)?$"),
        ("sanitizer", r"^.*?ERROR: ((?:HWAddress|Leak|Memory)Sanitizer: [^\n]*)$"),
        ("sanitizer", r"^.*?WARNING: ((?:Thread|Memory)Sanitizer: [^\n]*?)(?: \(pid=\d+\))?$"),
        ("sanitizer", r"^(?:[^\n]*?:\d+(?::\d+)?|<unknown>): (runtime error: [^\n]*)$"),
        ("sanitizer", r"^SUMMARY: (UndefinedBehaviorSanitizer[^\n]*)$"),
        ("assertion", r"^[^\n]*?(Assertion [`'\"].*?[`'\"] failed\.?)"),
        ("assertion", r"^[^\n]*?(ASSERTION FAILED[^\n]*)$"),
        ("assertion", r"^(Assertion failed: [^\n]*)$"),
        ("assertion", r"^[^\n]*?(Debug Assertion Failed!)"),
        ("abort", r"^(terminate called [^\n]*)$"),
        ("abort", r"^[^\n]*?(\*\*\* (?:stack smashing|buffer overflow) detected \*\*\*)"),
        (
            "abort",
            r"^((?:double free or corruption[^\n]*|free\(\): invalid [^\n]*|malloc\(\): [^\n]*corrupt[^\n]*))$",
        ),
        ("test-runner", r"(\*\*\*Exception: (?:SegFault|Illegal|Numerical|Other|Bus error|Child aborted))"),
    )
)


@dataclass(frozen=True)
class CrashCheck:
    """The verdict on one run. ``reason`` is the report line, signal or code it rests on."""

    crashed: bool
    kind: str | None = None  # signal | sanitizer | assertion | abort | windows | test-runner | timeout
    reason: str | None = None
    signal: int | None = None
    timed_out: bool = False


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def classify(
    returncode: int | None, output: str, *, via_shell: bool = False, timed_out: bool = False
) -> CrashCheck:
    """Judge one run from its return code and output (see module doc)."""
    found: tuple[int, str, str] | None = None
    for kind, rx in _PATTERNS:
        m = rx.search(output)
        if m and (found is None or m.start() < found[0]):
            found = (m.start(), kind, m.group(1).strip())
    sig: int | None = None
    if returncode is not None and -128 < returncode < 0:
        sig = -returncode
    elif returncode is not None and via_shell and 128 < returncode < 128 + 65:
        sig = returncode - 128
    if timed_out:
        # A sanitizer report before the hang still counts; the kill signal does not.
        if found is not None:
            return CrashCheck(True, found[1], found[2], None, True)
        return CrashCheck(False, "timeout", "timed out (hang, not a crash)", None, True)
    if found is not None:
        return CrashCheck(True, found[1], found[2], sig if sig in CRASH_SIGNALS else None)
    if sig is not None and sig in CRASH_SIGNALS:
        return CrashCheck(True, "signal", _signal_name(sig), sig)
    if returncode is not None and (returncode > 255 or returncode <= -128):
        code = returncode & 0xFFFFFFFF
        if code in WINDOWS_CODES:
            return CrashCheck(True, "windows", f"0x{code:08X} {WINDOWS_CODES[code]}")
    if sig is not None:
        return CrashCheck(False, "signal", f"ended by {_signal_name(sig)} (not a crash signal)", sig)
    return CrashCheck(False)


def check_result(result: Result, *, via_shell: bool | None = None) -> CrashCheck:
    """Judge a :class:`~crashpilot.proc.Result` (a string command is taken to run via a shell)."""
    shell = isinstance(result.command, str) if via_shell is None else via_shell
    return classify(result.returncode, result.output, via_shell=shell, timed_out=result.timed_out)


@dataclass(frozen=True)
class CrashVerdict:
    """What k runs of a reproducer showed."""

    runs: int
    crashes: int
    timeouts: int
    first_crash: CrashCheck | None
    first_crash_output: str | None
    checks: tuple[CrashCheck, ...]

    @property
    def always(self) -> bool:
        return self.runs > 0 and self.crashes == self.runs

    @property
    def never(self) -> bool:
        return self.crashes == 0

    @property
    def flaky(self) -> bool:
        return 0 < self.crashes < self.runs


def run_repeated(
    cmd: list[str] | str,
    k: int,
    *,
    cwd: str | Path | None = None,
    timeout: float,
    env: Mapping[str, str] | None,
    shell: bool = False,
    input: str | bytes | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    stop_after_crash: bool = False,
) -> CrashVerdict:
    """Run a reproducer ``k`` times and count crashes (``stop_after_crash`` ends at the first)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    checks: list[CrashCheck] = []
    first: CrashCheck | None = None
    first_output: str | None = None
    for i in range(k):
        res = run(cmd, cwd=cwd, timeout=timeout, env=env, shell=shell, input=input, max_output=max_output)
        verdict = check_result(res, via_shell=shell)
        checks.append(verdict)
        log.debug("reproducer run %d/%d: crashed=%s %s", i + 1, k, verdict.crashed, verdict.reason)
        if verdict.crashed and first is None:
            first, first_output = verdict, res.output
            if stop_after_crash:
                break
    return CrashVerdict(
        runs=len(checks),
        crashes=sum(c.crashed for c in checks),
        timeouts=sum(c.timed_out for c in checks),
        first_crash=first,
        first_crash_output=first_output,
        checks=tuple(checks),
    )
