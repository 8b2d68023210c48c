"""The fuzzy stage: join a new group to an open group with a near-identical stack, saying why.

The exact signature (kind + first meaningful frames) is the grouping key; this stage only runs
when that key made a NEW group. It compares the new group's frames with those of open groups
(not merged, not fixed or rejected) of the same crash-kind family and joins only when

- the kinds are of one family (``SIGSEGV`` from gdb, ``SEGV`` from ASan and ``ACCESS_VIOLATION``
  from Windows are one invalid access; an ASan ``heap-use-after-free`` is not a plain SEGV),
- the top meaningful frame (the first that is not a prefix frame) is the same,
- at least ``MIN_FRAMES`` frames are known on both sides, and
- similarity >= ``threshold``: the smaller of the Jaccard index of the first ``FRAMES``
  frame keys and their order-aware ratio (difflib), so a reordered or a longer stack scores low.

When in doubt it splits: a merged group hides a bug. A join sets ``merged_into`` and
``merge_reason`` on the NEW group; its reports keep their exact signature, and it counts on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot.models import CrashReport
from crashpilot.signature import frame_keys
from crashpilot.signature.rules import matches
from crashpilot.store import events, schema
from crashpilot.store.db import utcnow

log = logging.getLogger(__name__)

FRAMES = 8  # frame keys compared
MIN_FRAMES = 2  # one frame alone is too little evidence to join
DEFAULT_THRESHOLD = 0.75
_threshold = DEFAULT_THRESHOLD  # in force in this process (setting grouping.fuzzy_threshold)


def configure(threshold: float) -> None:
    """Set the similarity a join needs (``grouping.fuzzy_threshold``; above 1 turns joins off)."""
    global _threshold
    _threshold = threshold
CANDIDATE_LIMIT = 500  # open groups of the family compared, the most recently seen first
CLOSED = ("fixed", "rejected")
ACTOR = "grouping"

# Crash kinds that name the same failure as different tools print it.
_FAMILIES: dict[str, str] = {
    **dict.fromkeys(
        ("SIGSEGV", "SEGV", "ACCESS_VIOLATION", "SIGBUS", "EXC_BAD_ACCESS", "IN_PAGE_ERROR"), "invalid-access"
    ),
    **dict.fromkeys(
        ("SIGFPE", "FPE", "INTEGER_DIVIDE_BY_ZERO", "FLT_DIVIDE_BY_ZERO", "EXC_ARITHMETIC"), "arithmetic"
    ),
    **dict.fromkeys(("SIGILL", "ILLEGAL_INSTRUCTION", "EXC_BAD_INSTRUCTION"), "illegal-instruction"),
    **dict.fromkeys(("SIGABRT", "abort", "ABRT"), "abort"),
    **dict.fromkeys(("STACK_OVERFLOW", "stack-overflow"), "stack-overflow"),
}


def kind_family(kind: str | None) -> str:
    k = (kind or "crash").strip()
    return _FAMILIES.get(k, k)


@dataclass(frozen=True)
class Candidate:
    group_id: int
    kind: str | None
    keys: tuple[str, ...]


@dataclass(frozen=True)
class FuzzyJoin:
    target_id: int
    score: float
    reason: str


def top_frame(keys: Sequence[str]) -> str | None:
    """The first key that is not a prefix frame (a generic accessor is no evidence)."""
    return next((k for k in keys if not matches("prefix", k)), None)


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """min(Jaccard, ordered ratio) of two frame-key lists, 0..1."""
    if not a or not b:
        return 0.0
    sa_, sb = set(a), set(b)
    jaccard = len(sa_ & sb) / len(sa_ | sb)
    ratio = SequenceMatcher(None, list(a), list(b), autojunk=False).ratio()
    return min(jaccard, ratio)


def best_match(
    kind: str | None,
    keys: Sequence[str],
    candidates: Iterable[Candidate],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> FuzzyJoin | None:
    """The candidate the frames ``keys`` of a ``kind`` crash join, or None (split)."""
    keys = list(keys)[:FRAMES]
    top = top_frame(keys)
    if len(keys) < MIN_FRAMES or top is None:
        return None
    family = kind_family(kind)
    best: tuple[float, int, Candidate] | None = None
    for cand in candidates:
        other = list(cand.keys)[:FRAMES]
        if kind_family(cand.kind) != family or len(other) < MIN_FRAMES or top_frame(other) != top:
            continue
        score = similarity(keys, other)
        if score >= threshold and (best is None or (score, -cand.group_id) > (best[0], -best[1])):
            best = (score, cand.group_id, cand)
    if best is None:
        return None
    score, _, cand = best
    shared = len(set(keys) & set(cand.keys[:FRAMES]))
    union = len(set(keys) | set(cand.keys[:FRAMES]))
    kinds = kind or "crash" if (kind or "crash") == (cand.kind or "crash") else f"{kind} ~ {cand.kind}"
    reason = (
        f"fuzzy: kind {kinds} ({family}), same top frame {top}, "
        f"{shared}/{union} frames in common, similarity {score:.2f} >= {threshold:.2f}"
    )
    return FuzzyJoin(cand.group_id, round(score, 3), reason)


def fuzzy_fields(report: CrashReport) -> dict[str, Any]:
    """The columns a new group stores for later comparisons (``fuzzy_top``, ``fuzzy_keys``)."""
    keys = frame_keys(report.frames, FRAMES)
    return {"fuzzy_top": top_frame(keys), "fuzzy_keys": keys}


def _candidates(conn: Connection, top: str, family: str, exclude: int) -> list[Candidate]:
    """Open groups with the same top frame, most recently seen first (an indexed look-up)."""
    g = schema.crash_groups
    rows = conn.execute(
        sa.select(g.c.id, g.c.crash_kind, g.c.fuzzy_keys)
        .where(
            g.c.fuzzy_top == top,
            g.c.merged_into.is_(None),
            g.c.id != exclude,
            g.c.status.not_in(CLOSED),
        )
        .order_by(g.c.last_seen.desc())
        .limit(CANDIDATE_LIMIT)
    ).all()
    return [
        Candidate(int(row.id), row.crash_kind, tuple(row.fuzzy_keys or ()))
        for row in rows
        if kind_family(row.crash_kind) == family
    ]


def join_new_group(
    conn: Connection,
    group_id: int,
    report: CrashReport,
    *,
    threshold: float | None = None,
    now: datetime | None = None,
) -> FuzzyJoin | None:
    """Intake's hook, right after it created group ``group_id`` for ``report`` (same transaction).

    Joins the new group to a near-identical open group: sets ``merged_into`` + ``merge_reason``
    and records a ``merged`` event on the new group. Returns the join, or None (kept apart).
    """
    keys = frame_keys(report.frames, FRAMES)
    top = top_frame(keys)
    if top is None or len(keys) < MIN_FRAMES:
        return None
    kind = report.crash_kind or report.exception_code
    limit = _threshold if threshold is None else threshold
    join = best_match(kind, keys, _candidates(conn, top, kind_family(kind), group_id), threshold=limit)
    if join is None:
        return None
    g = schema.crash_groups
    conn.execute(
        sa.update(g)
        .where(g.c.id == group_id)
        .values(merged_into=join.target_id, merge_reason=join.reason, updated_at=now or utcnow())
    )
    events.record_event(
        conn,
        "group",
        group_id,
        "merged",
        actor=ACTOR,
        detail={"into": join.target_id, "score": join.score, "reason": join.reason},
    )
    log.info("group %s joined %s: %s", group_id, join.target_id, join.reason, extra={"group": group_id})
    return join


def resolve(conn: Connection, group_id: int) -> int:
    """The group a group counts under: follows ``merged_into`` to its end (cycle-safe)."""
    g = schema.crash_groups
    seen = {group_id}
    current = group_id
    while True:
        target = conn.execute(sa.select(g.c.merged_into).where(g.c.id == current)).scalar()
        if target is None or int(target) in seen:
            return current
        current = int(target)
        seen.add(current)


def rolled_up_counts(conn: Connection) -> dict[int, int]:
    """Count per top-level group: its own plus those of every group merged into it."""
    g = schema.crash_groups
    rows = [
        (int(i), int(c or 0), m) for i, c, m in conn.execute(sa.select(g.c.id, g.c.count, g.c.merged_into))
    ]
    parent = {gid: (int(into) if into is not None else None) for gid, _, into in rows}
    totals: dict[int, int] = {}
    for gid, count, _ in rows:
        seen: set[int] = set()
        while (up := parent.get(gid)) is not None and gid not in seen:
            seen.add(gid)
            gid = up
        totals[gid] = totals.get(gid, 0) + count
    return totals
