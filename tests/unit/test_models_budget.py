"""Budget limits and the retry delays, with a fake clock and fixed randomness."""

from __future__ import annotations

import pytest

from crashpilot.backends.models import Budget, RetryPolicy
from crashpilot.errors import BudgetExceeded, PermanentError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_exceeded_is_permanent() -> None:
    assert issubclass(BudgetExceeded, PermanentError)


def test_call_limit() -> None:
    budget = Budget(max_calls=2)
    budget.start_call()
    budget.start_call()
    with pytest.raises(BudgetExceeded, match="2 calls made of 2"):
        budget.start_call()
    assert budget.usage().calls == 2  # a refused call is not counted


def test_token_limit_sums_input_and_output() -> None:
    budget = Budget(max_tokens=1000)
    budget.start_call()
    budget.charge(600, 300)
    budget.start_call()  # 900 < 1000: still allowed
    budget.charge(80, 30)
    usage = budget.usage()
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (680, 330, 1010)
    with pytest.raises(BudgetExceeded, match="1010 tokens used of 1000"):
        budget.start_call()


def test_wall_clock_limit() -> None:
    clock = Clock()
    budget = Budget(max_minutes=2, clock=clock)
    clock.now += 119
    budget.start_call()
    clock.now += 2
    with pytest.raises(BudgetExceeded, match="minutes spent of 2"):
        budget.start_call()
    assert budget.usage().elapsed_s == pytest.approx(121)


def test_output_allowance_is_cut_to_what_is_left() -> None:
    budget = Budget(max_tokens=500)
    assert budget.output_allowance(4096) == 500
    budget.charge(450, 0)
    assert budget.output_allowance(4096) == 50
    assert budget.output_allowance(20) == 20
    budget.charge(100, 0)
    assert budget.output_allowance(4096) == 1
    assert Budget().output_allowance(4096) == 4096


@pytest.mark.parametrize("kwargs", [{"max_tokens": 0}, {"max_calls": -1}, {"max_minutes": 0}])
def test_budget_refuses_non_positive_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Budget(**kwargs)  # type: ignore[arg-type]


def test_retry_delays_grow_exponentially_and_are_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_jitter_takes_off_up_to_its_fraction() -> None:
    assert RetryPolicy(base_delay=2.0, jitter=0.5, rand=lambda: 1.0).delay(1) == pytest.approx(1.0)
    assert RetryPolicy(base_delay=2.0, jitter=0.5, rand=lambda: 0.0).delay(1) == pytest.approx(2.0)
    assert RetryPolicy(base_delay=2.0, jitter=1.0, rand=lambda: 0.25).delay(2) == pytest.approx(3.0)


@pytest.mark.parametrize("kwargs", [{"max_retries": -1}, {"base_delay": -1.0}, {"jitter": 1.5}])
def test_retry_policy_refuses_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
