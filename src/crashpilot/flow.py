"""The whole pipeline as one table: stage x outcome -> next stage. Nothing else lives here."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    INGEST = "ingest"
    ANALYSE = "analyse"
    FIX = "fix"
    BUILD = "build"
    VERIFY = "verify"
    PUBLISH = "publish"
    TRACK = "track"
    # End states: no handler runs for them.
    DONE = "done"
    NEEDS_HUMAN = "needs_human"
    FIXED = "fixed"
    REJECTED = "rejected"


class Outcome(StrEnum):
    OK = "ok"
    NEW_GROUP = "new_group"
    KNOWN_GROUP = "known_group"
    REGRESSED = "regressed"
    ABSTAIN = "abstain"
    GIVE_UP = "give_up"
    FAILED = "failed"
    MERGED = "merged"
    CHANGES_REQUESTED = "changes_requested"
    CLOSED = "closed"
    WAITING = "waiting"


S, O = Stage, Outcome  # noqa: E741 - short names keep the table readable

FLOW: dict[Stage, dict[Outcome, Stage]] = {
    S.INGEST: {O.NEW_GROUP: S.ANALYSE, O.KNOWN_GROUP: S.DONE, O.REGRESSED: S.ANALYSE},
    S.ANALYSE: {O.OK: S.FIX, O.ABSTAIN: S.NEEDS_HUMAN, O.WAITING: S.ANALYSE},  # waiting: a cost cap holds
    S.FIX: {O.OK: S.BUILD, O.GIVE_UP: S.NEEDS_HUMAN},
    S.BUILD: {O.OK: S.VERIFY, O.FAILED: S.FIX},  # compiler errors go back to FIX
    S.VERIFY: {O.OK: S.PUBLISH, O.FAILED: S.FIX},  # still crashes / tests broke
    S.PUBLISH: {O.OK: S.TRACK},
    S.TRACK: {
        O.MERGED: S.FIXED,
        O.CHANGES_REQUESTED: S.FIX,
        O.CLOSED: S.REJECTED,
        O.WAITING: S.TRACK,
    },
}

END_STATES = frozenset({S.DONE, S.NEEDS_HUMAN, S.FIXED, S.REJECTED})

# Edges that loop back to FIX; each pass through them counts one attempt, bounded by
# the ``fix.max_attempts`` setting, after which the group goes to NEEDS_HUMAN.
RETRY_EDGES = frozenset({(S.BUILD, O.FAILED), (S.VERIFY, O.FAILED), (S.TRACK, O.CHANGES_REQUESTED)})


def next_stage(stage: Stage, outcome: Outcome, attempts: int = 0, max_attempts: int = 3) -> Stage:
    """Where a job goes after ``stage`` ended with ``outcome``.

    ``attempts`` counts FIX passes already spent on this run; a retry edge beyond
    ``max_attempts`` ends in NEEDS_HUMAN instead of looping forever.
    """
    try:
        target = FLOW[stage][outcome]
    except KeyError:
        raise ValueError(f"stage {stage} has no outcome {outcome}") from None
    if (stage, outcome) in RETRY_EDGES and attempts >= max_attempts:
        return S.NEEDS_HUMAN
    return target
