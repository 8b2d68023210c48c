"""The append-only event log: every state transition of a report, group, job or run.

Rows are only ever inserted; nothing here updates or deletes them. Callers pass the connection of
the transaction that makes the transition, so the event commits (or rolls back) with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot.store.db import aware, utcnow
from crashpilot.store.schema import events

ENTITIES = frozenset({"report", "group", "job", "run"})


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    entity: str
    entity_id: int
    kind: str
    from_state: str | None
    to_state: str | None
    actor: str | None
    detail: dict[str, Any] | None


def record_event(
    conn: Connection,
    entity: str,
    entity_id: int,
    kind: str,
    from_state: str | None = None,
    to_state: str | None = None,
    actor: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one event and return its id. ``entity`` is one of report, group, job, run."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown event entity {entity!r}")
    result = conn.execute(
        events.insert().values(
            at=utcnow(),
            entity=entity,
            entity_id=entity_id,
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            actor=actor,
            detail=dict(detail) if detail is not None else None,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def list_events(conn: Connection, entity: str, entity_id: int) -> list[Event]:
    """The events of one entity, oldest first."""
    rows = conn.execute(
        sa.select(events)
        .where(events.c.entity == entity, events.c.entity_id == entity_id)
        .order_by(events.c.id)
    ).mappings()
    return [
        Event(
            id=r["id"],
            at=aware(r["at"]),
            entity=r["entity"],
            entity_id=r["entity_id"],
            kind=r["kind"],
            from_state=r["from_state"],
            to_state=r["to_state"],
            actor=r["actor"],
            detail=r["detail"],
        )
        for r in rows
    ]
