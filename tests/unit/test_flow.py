"""Walk the FLOW table: reachability, outcome maps, and bounded retry loops (as the worker counts)."""

from __future__ import annotations

from collections import deque

import pytest

from crashpilot.flow import END_STATES, FLOW, RETRY_EDGES, Outcome, Stage, next_stage
from crashpilot.worker import route

S, O = Stage, Outcome  # noqa: E741 - the short names flow.py uses


def test_every_stage_is_reachable_from_ingest() -> None:
    seen = {S.INGEST}
    todo = deque([S.INGEST])
    while todo:
        for target in FLOW.get(todo.popleft(), {}).values():
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert seen == set(Stage)


def test_every_non_end_stage_has_outcomes_and_end_states_have_none() -> None:
    for stage in Stage:
        if stage in END_STATES:
            assert stage not in FLOW
        else:
            assert FLOW.get(stage), f"{stage} has no outcome map"


def test_retry_edges_are_edges_back_to_fix() -> None:
    for stage, outcome in RETRY_EDGES:
        assert FLOW[stage][outcome] is S.FIX


def test_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError):
        next_stage(S.PUBLISH, O.FAILED)


@pytest.mark.parametrize("max_fix", [1, 2, 3, 5])
def test_state_space_is_finite_and_only_track_polling_loops(max_fix: int) -> None:
    """Explore (stage, FIX passes spent) under every outcome; the only cycle left is TRACK waiting."""
    start = (S.INGEST, 0)
    edges: dict[tuple[Stage, int], set[tuple[Stage, int]]] = {}
    todo = deque([start])
    while todo:
        node = todo.popleft()
        if node in edges:
            continue
        stage, passes = node
        edges[node] = set()
        for outcome in FLOW.get(stage, {}):
            target, spent = route(stage, outcome, passes, max_fix)
            edges[node].add((target, spent))
            todo.append((target, spent))
        assert len(edges) < 200, "the state space keeps growing: a retry loop is unbounded"
    assert max(p for _, p in edges) == max_fix
    # Remove TRACK's self-loop (polling a PR) and ANALYSE's (waiting out a cost cap); what is left
    # must be acyclic.
    for node, targets in edges.items():
        if node[0] in (S.TRACK, S.ANALYSE):
            targets.discard(node)
    state: dict[tuple[Stage, int], int] = {}

    def visit(node: tuple[Stage, int]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            assert state.get(nxt) != 1, f"cycle through {nxt}"
            if nxt not in state:
                visit(nxt)
        state[node] = 2

    visit(start)
    # Every state still has a way to an end state.
    ends = {n for n in edges if n[0] in END_STATES}
    assert ends and all(not edges[n] for n in ends)


@pytest.mark.parametrize(
    "failing",
    [(S.BUILD, O.FAILED), (S.VERIFY, O.FAILED), (S.TRACK, O.CHANGES_REQUESTED)],
)
@pytest.mark.parametrize("max_fix", [1, 3])
def test_a_loop_that_keeps_failing_ends_in_needs_human(failing: tuple[Stage, Outcome], max_fix: int) -> None:
    """FIX succeeds, then the same later stage keeps sending the work back, until attempts are spent."""
    happy = {S.ANALYSE: O.OK, S.FIX: O.OK, S.BUILD: O.OK, S.VERIFY: O.OK, S.PUBLISH: O.OK}
    happy[failing[0]] = failing[1]
    stage, passes, fix_runs, steps = S.ANALYSE, 0, 0, 0
    while stage not in END_STATES:
        fix_runs += stage is S.FIX
        stage, passes = route(stage, happy[stage], passes, max_fix)
        steps += 1
        assert steps < 100
    assert stage is S.NEEDS_HUMAN
    assert fix_runs == max_fix == passes


def test_fix_giving_up_goes_to_a_human_at_once() -> None:
    assert route(S.FIX, O.GIVE_UP, 0, 3) == (S.NEEDS_HUMAN, 1)
    assert route(S.ANALYSE, O.ABSTAIN, 0, 3) == (S.NEEDS_HUMAN, 0)


def test_a_merged_pr_ends_fixed_and_a_closed_one_rejected() -> None:
    assert route(S.TRACK, O.MERGED, 2, 3) == (S.FIXED, 2)
    assert route(S.TRACK, O.CLOSED, 2, 3) == (S.REJECTED, 2)
    assert route(S.TRACK, O.WAITING, 2, 3) == (S.TRACK, 2)
