"""The event log and the model-exchange log on real databases."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from crashpilot.store.events import list_events, record_event
from crashpilot.store.exchanges import insert_exchange, list_exchanges, usage


def test_events_append_and_list_per_entity(engine: Engine) -> None:
    with engine.begin() as conn:
        first = record_event(conn, "group", 1, "created", to_state="new", actor="intake", detail={"sig": "a"})
        record_event(conn, "group", 2, "created", to_state="new")
        second = record_event(conn, "group", 1, "status_changed", "new", "analysing")
    with engine.connect() as conn:
        events = list_events(conn, "group", 1)
    assert [e.id for e in events] == [first, second]
    assert (events[0].kind, events[0].to_state, events[0].actor, events[0].detail) == (
        "created",
        "new",
        "intake",
        {"sig": "a"},
    )
    assert events[1].from_state == "new" and events[1].at.tzinfo is not None
    assert events[0].at <= events[1].at


def test_events_roll_back_with_their_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        record_event(conn, "job", 9, "claimed")
        raise RuntimeError("the transition failed")
    with engine.connect() as conn:
        assert list_events(conn, "job", 9) == []


def test_unknown_entity_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError), engine.begin() as conn:
        record_event(conn, "planet", 1, "x")


def test_exchanges_store_calls_and_sum_usage(engine: Engine, groups) -> None:  # type: ignore[no-untyped-def]
    gid = groups.add()
    with engine.begin() as conn:
        a = insert_exchange(
            conn,
            provider="anthropic",
            model="m1",
            request={"messages": [{"role": "user", "content": "why?"}]},
            response={"content": "a null pointer"},
            group_id=gid,
            input_tokens=120,
            output_tokens=30,
            cost=0.002,
            duration_ms=900,
        )
        b = insert_exchange(conn, provider="openai", model="m2", request={"x": 1}, error="429", group_id=gid)
        insert_exchange(conn, provider="openai", model="m2", request={"x": 2}, input_tokens=5)
    with engine.connect() as conn:
        mine = list_exchanges(conn, group_id=gid)
        total = usage(conn, group_id=gid)
        everything = usage(conn)
        assert [e.id for e in list_exchanges(conn, limit=1)] == [a]
    assert [e.id for e in mine] == [a, b]
    assert mine[0].request == {"messages": [{"role": "user", "content": "why?"}]}
    assert mine[0].response == {"content": "a null pointer"} and mine[1].error == "429"
    assert total == {"calls": 2, "input_tokens": 120, "output_tokens": 30, "cost": pytest.approx(0.002)}
    assert everything["calls"] == 3 and everything["input_tokens"] == 125
