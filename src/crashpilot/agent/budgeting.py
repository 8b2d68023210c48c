"""Charging a run's :class:`Budget` from the agent, without counting a call twice.

A :class:`~crashpilot.backends.models.base.ChatModel` built with the run's budget checks and
charges it on every HTTP attempt itself. Any other model (a third-party backend, a test double,
a ChatModel built without that budget) is charged here: one call per ``complete`` and the tokens
of each reply. Either way a spent budget raises :class:`BudgetExceeded` before the next call.
"""

from __future__ import annotations

from crashpilot.backends.models.budget import Budget
from crashpilot.backends.models.types import Reply
from crashpilot.errors import BudgetExceeded
from crashpilot.protocols import Model

__all__ = ["check_budget", "charge_if_separate", "refusal"]


def _shared(model: Model, budget: Budget) -> bool:
    return getattr(model, "budget", None) is budget


def refusal(budget: Budget) -> str | None:
    """Why ``budget`` allows no further call, or None while it does."""
    used = budget.usage()
    if budget.max_tokens is not None and used.total_tokens >= budget.max_tokens:
        return f"model budget exceeded: {used.total_tokens} tokens used of {budget.max_tokens}"
    if budget.max_calls is not None and used.calls >= budget.max_calls:
        return f"model budget exceeded: {used.calls} calls made of {budget.max_calls}"
    if budget.max_minutes is not None and used.elapsed_s >= budget.max_minutes * 60:
        return f"model budget exceeded: {used.elapsed_s / 60:.1f} minutes spent of {budget.max_minutes:g}"
    return None


def check_budget(model: Model, budget: Budget | None) -> None:
    """Raise BudgetExceeded when no call is left; count the call when the model does not."""
    if budget is None:
        return
    if _shared(model, budget):
        reason = refusal(budget)
        if reason is not None:
            raise BudgetExceeded(reason)
    else:
        budget.start_call()


def charge_if_separate(model: Model, budget: Budget | None, reply: Reply) -> None:
    """Add the reply's tokens to ``budget`` unless the model already did."""
    if budget is not None and not _shared(model, budget):
        budget.charge(reply.input_tokens, reply.output_tokens)
