"""Every model call, stored: request, response, tokens, cost, duration, error.

The caller redacts secrets (and, where configured, PII) from ``request`` and ``response`` before it
stores them; this module stores what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot.store.db import aware, utcnow
from crashpilot.store.schema import exchanges


@dataclass(frozen=True)
class Exchange:
    id: int
    at: datetime
    run_id: int | None
    group_id: int | None
    provider: str | None
    model: str | None
    request: Any
    response: Any
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    duration_ms: int | None
    error: str | None


def insert_exchange(
    conn: Connection,
    *,
    provider: str | None,
    model: str | None,
    request: Mapping[str, Any] | list[Any] | None,
    response: Mapping[str, Any] | list[Any] | None = None,
    run_id: int | None = None,
    group_id: int | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cost: float | None = None,
    duration_ms: int | None = None,
    error: str | None = None,
) -> int:
    """Store one model call and return its id."""
    result = conn.execute(
        exchanges.insert().values(
            at=utcnow(),
            run_id=run_id,
            group_id=group_id,
            provider=provider,
            model=model,
            request=request,
            response=response,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            duration_ms=duration_ms,
            error=error,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def list_exchanges(
    conn: Connection,
    *,
    run_id: int | None = None,
    group_id: int | None = None,
    limit: int | None = None,
) -> list[Exchange]:
    """Stored model calls, oldest first, optionally for one run or one group."""
    query = sa.select(exchanges).order_by(exchanges.c.id)
    if run_id is not None:
        query = query.where(exchanges.c.run_id == run_id)
    if group_id is not None:
        query = query.where(exchanges.c.group_id == group_id)
    if limit is not None:
        query = query.limit(limit)
    return [Exchange(**{**dict(r), "at": aware(r["at"])}) for r in conn.execute(query).mappings()]


def usage(conn: Connection, *, run_id: int | None = None, group_id: int | None = None) -> dict[str, Any]:
    """Totals over stored calls: calls, input/output tokens, cost (None when no call had a cost)."""
    query = sa.select(
        sa.func.count(exchanges.c.id),
        sa.func.coalesce(sa.func.sum(exchanges.c.input_tokens), 0),
        sa.func.coalesce(sa.func.sum(exchanges.c.output_tokens), 0),
        sa.func.sum(exchanges.c.cost),
    )
    if run_id is not None:
        query = query.where(exchanges.c.run_id == run_id)
    if group_id is not None:
        query = query.where(exchanges.c.group_id == group_id)
    calls, tokens_in, tokens_out, cost = conn.execute(query).one()
    return {
        "calls": int(calls),
        "input_tokens": int(tokens_in),
        "output_tokens": int(tokens_out),
        "cost": float(cost) if cost is not None else None,
    }
