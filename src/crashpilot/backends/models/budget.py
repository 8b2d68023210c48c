"""A run's model budget: tokens, calls and wall-clock minutes, charged by every call.

One :class:`Budget` is shared by every model a run uses. ``check`` runs before each HTTP attempt
and raises :class:`~crashpilot.errors.BudgetExceeded` once a limit is reached; ``charge`` adds the
tokens a reply used. ``None`` means "no limit" for each of the three.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from crashpilot.errors import BudgetExceeded


@dataclass(frozen=True)
class BudgetUsage:
    """What a run has spent so far."""

    calls: int
    input_tokens: int
    output_tokens: int
    elapsed_s: float

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Budget:
    """Limits for one run; thread-safe. The clock starts when the Budget is made."""

    def __init__(
        self,
        max_tokens: int | None = None,
        max_calls: int | None = None,
        max_minutes: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("max_tokens", max_tokens),
            ("max_calls", max_calls),
            ("max_minutes", max_minutes),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None, not {value!r}")
        self.max_tokens = max_tokens
        self.max_calls = max_calls
        self.max_minutes = max_minutes
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._calls = 0
        self._input_tokens = 0
        self._output_tokens = 0

    def usage(self) -> BudgetUsage:
        with self._lock:
            return BudgetUsage(self._calls, self._input_tokens, self._output_tokens, self._elapsed())

    def _elapsed(self) -> float:
        return self._clock() - self._started

    def _refusal(self) -> str | None:
        spent = self._input_tokens + self._output_tokens
        if self.max_tokens is not None and spent >= self.max_tokens:
            return f"model budget exceeded: {spent} tokens used of {self.max_tokens}"
        if self.max_calls is not None and self._calls >= self.max_calls:
            return f"model budget exceeded: {self._calls} calls made of {self.max_calls}"
        if self.max_minutes is not None and self._elapsed() >= self.max_minutes * 60:
            minutes = self._elapsed() / 60
            return f"model budget exceeded: {minutes:.1f} minutes spent of {self.max_minutes:g}"
        return None

    def start_call(self) -> None:
        """Count one HTTP attempt, or raise BudgetExceeded when a limit is already reached."""
        with self._lock:
            refusal = self._refusal()
            if refusal is not None:
                raise BudgetExceeded(refusal)
            self._calls += 1

    def charge(self, input_tokens: int, output_tokens: int) -> None:
        """Add the tokens one reply used."""
        with self._lock:
            self._input_tokens += max(0, input_tokens)
            self._output_tokens += max(0, output_tokens)

    def output_allowance(self, wanted: int) -> int:
        """``wanted`` output tokens, cut to what the token budget still allows (at least 1)."""
        with self._lock:
            if self.max_tokens is None:
                return wanted
            left = self.max_tokens - self._input_tokens - self._output_tokens
            return max(1, min(wanted, left))
