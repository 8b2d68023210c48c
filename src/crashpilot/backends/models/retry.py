"""Our retry policy for model calls: bounded, exponential backoff with full jitter.

The SDKs are built with ``max_retries=0`` so that every retry is ours, counted and recorded.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first try; delay n is base * 2**(n-1), capped, jittered."""

    max_retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0
    # Fraction of each delay that is random: 0 = fixed delays, 1 = anywhere in [0, delay].
    jitter: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        full = min(self.max_delay, self.base_delay * (2 ** max(0, retry - 1)))
        return float(full * (1.0 - self.jitter * self.rand()))
