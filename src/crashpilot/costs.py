"""Money: model prices, the cost of each call, and the daily / monthly caps across runs.

Prices come from settings (``costs.prices``), one string per model: ``"name=input/output"`` in USD
per million tokens, e.g. ``"claude-sonnet-4-5=3.00/15.00"``. The name may carry the provider
(``"openai:gpt-4.1=2/8"``) and may be a glob (``"claude-sonnet-4-5*=3/15"`` also prices the dated
snapshots). crashpilot ships no price table: a model without a price costs ``None`` (unknown),
never 0.

Caps hold for all runs together, counted in UTC from the stored ``exchanges``: a daily and a
monthly cap in USD (priced calls only) and in tokens (every call, for models with no price). The
cap is checked before a new run starts (ANALYSE); past it the group waits (status
``waiting_budget``) and is looked at again every ``costs.recheck_minutes`` and at the reset. A run
already under way is not stopped by the cap: its own per-run budget (``budget.*``) bounds it, so
the spend of a day can pass its cap by at most what the runs in flight at that moment spend.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from crashpilot.errors import ConfigError
from crashpilot.store.usage import Spend, spend_since

log = logging.getLogger(__name__)

__all__ = [
    "WAITING_STATUS",
    "Caps",
    "Hold",
    "Price",
    "Prices",
    "check_caps",
    "day_start",
    "hold_for",
    "money",
    "month_start",
    "next_day",
    "next_month",
]

WAITING_STATUS = "waiting_budget"  # a group's status while a cap holds it back
_PRICE = re.compile(
    r"^\s*(?P<name>[^=\s]+)\s*=\s*(?P<input>[0-9]*\.?[0-9]+)\s*/\s*(?P<output>[0-9]*\.?[0-9]+)\s*$"
)


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        total = max(0, input_tokens) * self.input_per_mtok + max(0, output_tokens) * self.output_per_mtok
        return total / 1_000_000


class Prices:
    """The configured prices; ``cost`` is None for a model with no price."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._prices = dict(prices or {})

    @classmethod
    def parse(cls, items: Iterable[str]) -> Prices:
        """From ``costs.prices`` strings; a malformed one raises ConfigError naming it."""
        prices: dict[str, Price] = {}
        for item in items:
            m = _PRICE.match(item)
            if m is None:
                raise ConfigError(
                    f"costs.prices: {item!r} is not 'model=input/output' (USD per million tokens, "
                    "e.g. 'claude-sonnet-4-5=3.00/15.00')"
                )
            prices[m["name"]] = Price(float(m["input"]), float(m["output"]))
        return cls(prices)

    @classmethod
    def from_settings(cls, settings: Any) -> Prices:
        return cls.parse(settings["costs.prices"])

    def __len__(self) -> int:
        return len(self._prices)

    def price(self, model: str | None, provider: str | None = None) -> Price | None:
        """The price of ``model``: an exact name first (``provider:name`` before ``name``), then globs."""
        if not model:
            return None
        names = [f"{provider}:{model}", model] if provider else [model]
        for name in names:
            if name in self._prices:
                return self._prices[name]
        for pattern, price in self._prices.items():
            if any(c in pattern for c in "*?[") and any(fnmatch.fnmatchcase(n, pattern) for n in names):
                return price
        return None

    def cost(
        self,
        model: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        provider: str | None = None,
    ) -> float | None:
        """USD of one call, or None when the model has no price."""
        price = self.price(model, provider)
        if price is None:
            return None
        return price.cost(input_tokens or 0, output_tokens or 0)


def money(usd: float) -> str:
    """``$3.20``; amounts under a cent keep four decimals (``$0.0042``)."""
    return f"${usd:,.2f}" if usd >= 0.01 or usd == 0 else f"${usd:.4f}"


# -- periods (UTC) ----------------------------------------------------------------------------------


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("a naive datetime: pass an aware UTC time")
    return now.astimezone(UTC)


def day_start(now: datetime) -> datetime:
    return _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)


def next_day(now: datetime) -> datetime:
    return day_start(now) + timedelta(days=1)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


# -- caps -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caps:
    """Limits across runs; 0 means no cap."""

    daily_usd: float = 0.0
    monthly_usd: float = 0.0
    daily_tokens: int = 0
    monthly_tokens: int = 0
    recheck_seconds: float = 900.0

    @classmethod
    def from_settings(cls, settings: Any) -> Caps:
        return cls(
            daily_usd=float(settings["costs.daily_cap_usd"]),
            monthly_usd=float(settings["costs.monthly_cap_usd"]),
            daily_tokens=int(settings["costs.daily_cap_tokens"]),
            monthly_tokens=int(settings["costs.monthly_cap_tokens"]),
            recheck_seconds=max(1.0, float(settings["costs.recheck_minutes"]) * 60),
        )

    @property
    def any(self) -> bool:
        return any(v > 0 for v in (self.daily_usd, self.monthly_usd, self.daily_tokens, self.monthly_tokens))


@dataclass(frozen=True)
class Hold:
    """A cap that is reached: why, and when spending may resume."""

    cap: str  # "daily_usd", "monthly_usd", "daily_tokens", "monthly_tokens"
    reason: str
    resumes_at: datetime
    recheck_seconds: float

    def delay(self, now: datetime) -> float:
        """Seconds until the waiting job looks again: the reset, or the recheck interval if sooner."""
        until = (self.resumes_at - _utc(now)).total_seconds()
        return max(1.0, min(until, self.recheck_seconds))


def check_caps(caps: Caps, today: Spend, month: Spend, now: datetime) -> Hold | None:
    """The first cap ``today``/``month`` reached (daily before monthly, USD before tokens), or None."""
    tomorrow, month_end = next_day(now), next_month(now)
    at_midnight = "resumes at 00:00 UTC"
    on_first = f"resumes on {month_end:%Y-%m-%d} at 00:00 UTC"
    if caps.daily_usd > 0 and today.cost >= caps.daily_usd:
        why = f"daily cost cap of {money(caps.daily_usd)} reached ({money(today.cost)} spent today); {at_midnight}"
        return Hold("daily_usd", why, tomorrow, caps.recheck_seconds)
    if caps.daily_tokens > 0 and today.tokens >= caps.daily_tokens:
        why = f"daily token cap of {caps.daily_tokens:,} reached ({today.tokens:,} tokens used today); {at_midnight}"
        return Hold("daily_tokens", why, tomorrow, caps.recheck_seconds)
    if caps.monthly_usd > 0 and month.cost >= caps.monthly_usd:
        why = (
            f"monthly cost cap of {money(caps.monthly_usd)} reached ({money(month.cost)} spent this month); "
            f"{on_first}"
        )
        return Hold("monthly_usd", why, month_end, caps.recheck_seconds)
    if caps.monthly_tokens > 0 and month.tokens >= caps.monthly_tokens:
        why = (
            f"monthly token cap of {caps.monthly_tokens:,} reached ({month.tokens:,} tokens used this month); "
            f"{on_first}"
        )
        return Hold("monthly_tokens", why, month_end, caps.recheck_seconds)
    return None


def hold_for(engine: Engine, caps: Caps, now: datetime | None = None) -> Hold | None:
    """Whether a cap stops a new run now, from the spend stored in ``exchanges``."""
    if not caps.any:
        return None
    now = _utc(now or datetime.now(UTC))
    with engine.connect() as conn:
        today = spend_since(conn, day_start(now))
        month = spend_since(conn, month_start(now))
    return check_caps(caps, today, month, now)
