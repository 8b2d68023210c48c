"""Model spend across runs: what every stored exchange since a moment cost, in tokens and USD.

The caps (:mod:`crashpilot.costs`) ask this before a new run starts. An exchange with no price
(``cost`` NULL) counts its tokens but no dollars; ``unpriced_calls`` says how many there were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot.store.schema import exchanges

__all__ = ["Spend", "spend_since"]


@dataclass(frozen=True)
class Spend:
    """Totals over stored model calls."""

    calls: int
    input_tokens: int
    output_tokens: int
    cost: float  # USD of the priced calls
    unpriced_calls: int  # calls whose model had no price (their cost is unknown, not 0)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def spend_since(conn: Connection, since: datetime, until: datetime | None = None) -> Spend:
    """Every model call stored at or after ``since`` (and before ``until``, when given)."""
    x = exchanges.c
    query = sa.select(
        sa.func.count(x.id),
        sa.func.coalesce(sa.func.sum(x.input_tokens), 0),
        sa.func.coalesce(sa.func.sum(x.output_tokens), 0),
        sa.func.coalesce(sa.func.sum(x.cost), 0.0),
        sa.func.coalesce(sa.func.sum(sa.case((x.cost.is_(None), 1), else_=0)), 0),
    ).where(x.at >= since)
    if until is not None:
        query = query.where(x.at < until)
    calls, tokens_in, tokens_out, cost, unpriced = conn.execute(query).one()
    return Spend(int(calls), int(tokens_in), int(tokens_out), float(cost), int(unpriced))
