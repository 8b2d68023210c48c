"""Prices, the cost of a call, UTC periods and the caps' decisions (pure code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crashpilot.costs import (
    Caps,
    Hold,
    Price,
    Prices,
    check_caps,
    day_start,
    money,
    month_start,
    next_day,
    next_month,
)
from crashpilot.errors import ConfigError
from crashpilot.settings import load
from crashpilot.store.usage import Spend

NOW = datetime(2026, 11, 22, 18, 40, 2, tzinfo=UTC)


def spend(cost: float = 0.0, tokens: int = 0, unpriced: int = 0) -> Spend:
    return Spend(calls=3, input_tokens=tokens, output_tokens=0, cost=cost, unpriced_calls=unpriced)


def test_a_price_is_per_million_input_and_output_tokens() -> None:
    prices = Prices.parse(["claude-sonnet-4-5=3.00/15.00", "gpt-4.1 = 2 / 8"])
    assert prices.cost("claude-sonnet-4-5", 1_000_000, 0) == pytest.approx(3.0)
    assert prices.cost("claude-sonnet-4-5", 2850, 310) == pytest.approx((2850 * 3 + 310 * 15) / 1e6)
    assert prices.cost("gpt-4.1", 500_000, 250_000) == pytest.approx(1.0 + 2.0)
    assert len(prices) == 2


def test_an_unknown_model_costs_none_not_zero() -> None:
    prices = Prices.parse(["claude-sonnet-4-5=3/15"])
    assert prices.cost("claude-opus-4-1", 1000, 1000) is None
    assert prices.cost(None, 1000, 1000) is None
    assert Prices().cost("anything", 10, 10) is None


def test_a_known_model_with_no_tokens_costs_zero() -> None:
    assert Prices.parse(["m=1/1"]).cost("m", None, None) == 0.0


def test_provider_prefix_is_preferred_and_globs_match_snapshots() -> None:
    prices = Prices.parse(["openai:m=1/1", "m=5/5", "claude-sonnet-4-5*=3/15"])
    assert prices.price("m", "openai") == Price(1.0, 1.0)
    assert prices.price("m", "anthropic") == Price(5.0, 5.0)
    assert prices.price("claude-sonnet-4-5-20250929", "anthropic") == Price(3.0, 15.0)
    assert prices.price("claude-haiku-4-5", "anthropic") is None


@pytest.mark.parametrize("bad", ["claude", "m=3", "m=a/b", "=1/2", "m=1/2/3", "m=-1/2"])
def test_a_malformed_price_is_refused_with_its_text(bad: str) -> None:
    with pytest.raises(ConfigError, match="costs.prices"):
        Prices.parse([bad])


def test_prices_and_caps_come_from_settings() -> None:
    settings = load(
        env={},
        flags={
            "costs.prices": ["m=1/2"],
            "costs.daily_cap_usd": 5,
            "costs.monthly_cap_tokens": 1000,
            "costs.recheck_minutes": 2,
        },
    )
    assert Prices.from_settings(settings).price("m") == Price(1.0, 2.0)
    caps = Caps.from_settings(settings)
    assert caps == Caps(
        daily_usd=5.0, monthly_usd=0.0, daily_tokens=0, monthly_tokens=1000, recheck_seconds=120.0
    )
    assert caps.any
    assert not Caps.from_settings(load(env={})).any


def test_money_keeps_small_amounts_readable() -> None:
    assert money(3.2) == "$3.20"
    assert money(1234.5) == "$1,234.50"
    assert money(0.0042) == "$0.0042"
    assert money(0) == "$0.00"


def test_utc_periods_including_the_turn_of_the_year() -> None:
    assert day_start(NOW) == datetime(2026, 11, 22, tzinfo=UTC)
    assert next_day(NOW) == datetime(2026, 11, 23, tzinfo=UTC)
    assert month_start(NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    assert next_month(NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    december = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert next_day(december) == next_month(december) == datetime(2027, 1, 1, tzinfo=UTC)
    # another zone is converted: 01:30 at +02:00 is still the previous UTC day
    local = datetime(2026, 11, 23, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert day_start(local) == datetime(2026, 11, 22, tzinfo=UTC)
    with pytest.raises(ValueError):
        day_start(datetime(2026, 1, 1))


def test_no_cap_never_holds() -> None:
    assert check_caps(Caps(), spend(1e9, 10**12), spend(1e9, 10**12), NOW) is None


def test_the_daily_cost_cap_holds_until_midnight_utc() -> None:
    caps = Caps(daily_usd=5.0, recheck_seconds=600)
    assert check_caps(caps, spend(4.99), spend(4.99), NOW) is None
    hold = check_caps(caps, spend(5.12), spend(40.0), NOW)
    assert hold is not None and hold.cap == "daily_usd"
    assert hold.reason == "daily cost cap of $5.00 reached ($5.12 spent today); resumes at 00:00 UTC"
    assert hold.resumes_at == datetime(2026, 11, 23, tzinfo=UTC)


def test_the_monthly_cap_names_the_first_of_next_month() -> None:
    hold = check_caps(Caps(daily_usd=5.0, monthly_usd=100.0), spend(1.0), spend(100.0), NOW)
    assert hold is not None and hold.cap == "monthly_usd"
    assert "monthly cost cap of $100.00 reached ($100.00 spent this month)" in hold.reason
    assert hold.reason.endswith("resumes on 2026-12-01 at 00:00 UTC")
    assert hold.resumes_at == datetime(2026, 12, 1, tzinfo=UTC)


def test_token_caps_count_calls_that_have_no_price() -> None:
    caps = Caps(daily_tokens=10_000, monthly_tokens=50_000)
    hold = check_caps(caps, spend(0.0, 10_000, unpriced=3), spend(0.0, 10_000), NOW)
    assert hold is not None and hold.cap == "daily_tokens"
    assert "daily token cap of 10,000 reached (10,000 tokens used today)" in hold.reason
    hold = check_caps(caps, spend(0.0, 100), spend(0.0, 60_000), NOW)
    assert hold is not None and hold.cap == "monthly_tokens"


def test_a_hold_rechecks_at_the_interval_or_the_reset_whichever_is_sooner() -> None:
    hold = Hold("daily_usd", "why", datetime(2026, 11, 23, tzinfo=UTC), recheck_seconds=900)
    assert hold.delay(NOW) == 900
    assert hold.delay(datetime(2026, 11, 22, 23, 59, 30, tzinfo=UTC)) == pytest.approx(30)
    assert hold.delay(datetime(2026, 11, 23, 0, 0, 5, tzinfo=UTC)) == 1.0
