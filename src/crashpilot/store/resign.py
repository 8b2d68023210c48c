"""Re-sign stored reports after a rules change and move them between groups.

``resign`` rebuilds every grouped report from its stored parsed JSON, computes its signature
with the lists and depth in use now, and moves the reports whose signature changed:

- to the group that already has the new signature (a **merge** when a whole group moves),
- or, when no group has it, the old group is **renamed** to it when all of its reports (or,
  on a split, the largest share) go there, keeping its status, history and pull request;
  otherwise a **new** group is created (status ``new``, queued for ANALYSE like any new group),
- a group left without reports is **emptied**: count 0, ``merged_into`` the group most of its
  reports went to, ``merge_reason`` saying so.

Counts, first/last seen and revisions of every touched group are recomputed from its reports.
Every move is an event (report ``resigned``, group ``renamed``/``created``/``emptied``).
Running it twice changes nothing the second time. ``dry_run`` computes the same summary and
writes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crashpilot.flow import Outcome, Stage
from crashpilot.formats import inapp
from crashpilot.formats.inapp import mark_in_app
from crashpilot.models import CrashReport, Thread
from crashpilot.serial import report_from_json
from crashpilot.signature import DEFAULT_DEPTH, make_signature
from crashpilot.signature.fuzzy import fuzzy_fields
from crashpilot.signature.rules import on_lists_change, rules_version
from crashpilot.store import events, queue, schema
from crashpilot.store.db import aware, utcnow, write_transaction

log = logging.getLogger(__name__)

ACTOR = "resign"

# In-app decisions are memoized per string in formats.inapp: forget them when the lists change.
for _memo in vars(inapp).values():
    if callable(getattr(_memo, "cache_clear", None)) and hasattr(_memo, "cache_info"):
        on_lists_change(_memo.cache_clear)


@dataclass(frozen=True)
class Move:
    report_id: int
    old_signature: str
    new_signature: str
    old_group: int | None
    new_group: int | None  # None for a group a dry run would create


@dataclass
class ResignSummary:
    rules: str
    dry_run: bool
    reports: int = 0
    unchanged: int = 0
    moves: list[Move] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # signatures of new groups
    renamed: dict[int, tuple[str, str]] = field(default_factory=dict)  # group -> (old, new)
    merged: dict[int, int] = field(default_factory=dict)  # emptied group -> group most went to
    split: dict[int, list[str]] = field(default_factory=dict)  # group -> signatures it split into

    def lines(self) -> list[str]:
        """A human summary of what moved (the CLI prints it)."""
        head = "would move" if self.dry_run else "moved"
        out = [
            f"rules {self.rules}: {self.reports} reports, {self.unchanged} unchanged, "
            f"{len(self.moves)} {head}"
        ]
        out += [f"  group #{g} renamed: {a!r} -> {b!r}" for g, (a, b) in sorted(self.renamed.items())]
        out += [f"  group #{g} split into: {', '.join(map(repr, s))}" for g, s in sorted(self.split.items())]
        out += [f"  group #{g} merged into #{t} (emptied)" for g, t in sorted(self.merged.items())]
        out += [f"  new group: {s!r}" for s in self.created]
        return out


@dataclass
class _Row:
    id: int
    group_id: int | None
    signature: str
    new: str
    parsed: dict[str, Any]
    received_at: datetime
    revision: str | None
    report: CrashReport


def _resign_one(
    parsed: dict[str, Any], depth: int, repo: str | Path | None, in_app: Sequence[str]
) -> CrashReport:
    report = report_from_json(parsed)
    frames = report.crashing_thread.frames
    if repo is not None:
        frames = mark_in_app(frames, repo, in_app)
    else:  # frames that a list now names as runtime stop being in-app; others keep their mark
        marked = mark_in_app(frames)
        frames = tuple(f.with_(in_app=f.in_app and m.in_app) for f, m in zip(frames, marked, strict=True))
    thread = Thread(report.crashing_thread.index, report.crashing_thread.name, frames)
    report = report.with_(crashing_thread=thread, signature="")
    return report.with_(signature=make_signature(report, depth))


def resign(
    engine: Engine,
    *,
    dry_run: bool = False,
    depth: int = DEFAULT_DEPTH,
    repo: str | Path | None = None,
    in_app_paths: Sequence[str] = (),
) -> ResignSummary:
    """Recompute every grouped report's signature and move reports/groups (one transaction)."""
    version = rules_version(depth)
    summary = ResignSummary(rules=version, dry_run=dry_run)
    with engine.connect() if dry_run else write_transaction(engine) as conn:
        rows = _load(conn, depth, repo, in_app_paths)
        summary.reports = len(rows)
        summary.unchanged = sum(1 for r in rows if r.new == r.signature)
        _plan_and_apply(conn, rows, summary, dry_run)
        if not dry_run:
            _store_versions(conn, rows, version)
            _backfill_fuzzy(conn)
    for line in summary.lines():
        log.info("%s", line)
    return summary


def _load(conn: Connection, depth: int, repo: str | Path | None, in_app: Sequence[str]) -> list[_Row]:
    r = schema.crash_reports
    rows = []
    query = sa.select(r.c.id, r.c.group_id, r.c.signature, r.c.parsed, r.c.received_at, r.c.revision)
    for row in conn.execute(query.where(r.c.status == "grouped", r.c.parsed.is_not(None)).order_by(r.c.id)):
        parsed = row.parsed
        if not isinstance(parsed, dict) or not row.signature:
            continue
        report = _resign_one(parsed, depth, repo, in_app)
        rows.append(
            _Row(
                int(row.id),
                row.group_id,
                str(row.signature),
                report.signature,
                parsed,
                aware(row.received_at),
                row.revision,
                report,
            )
        )
    return rows


def _plan_and_apply(conn: Connection, rows: list[_Row], summary: ResignSummary, dry_run: bool) -> None:
    g = schema.crash_groups
    by_sig = {str(s): int(i) for s, i in conn.execute(sa.select(g.c.signature, g.c.id))}
    moving = [r for r in rows if r.new != r.signature]
    if not moving:
        return
    members: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        if row.group_id is not None:
            members[int(row.group_id)].append(row)
    now = utcnow()
    touched: set[int] = set()
    # Where each old group's reports go, and how many: decides rename vs. new group.
    for gid, group_rows in sorted(members.items()):
        targets = Counter(r.new for r in group_rows)
        if len(targets) > 1:
            summary.split[gid] = sorted(targets)
        old_sig = next((s for s, i in by_sig.items() if i == gid), None)
        if old_sig is None or old_sig in targets:
            continue  # the group keeps its own signature for some of its reports
        new_sig, _ = targets.most_common(1)[0]
        if new_sig in by_sig:
            continue  # an existing group takes them
        summary.renamed[gid] = (old_sig, new_sig)
        del by_sig[old_sig]
        by_sig[new_sig] = gid
        if not dry_run:
            conn.execute(sa.update(g).where(g.c.id == gid).values(signature=new_sig, updated_at=now))
            events.record_event(
                conn,
                "group",
                gid,
                "renamed",
                actor=ACTOR,
                detail={"from": old_sig, "to": new_sig, "rules": summary.rules},
            )
        touched.add(gid)
    for row in moving:
        target = by_sig.get(row.new)
        if target is None:
            summary.created.append(row.new)
            target = _create(conn, row, now, summary.rules) if not dry_run else -len(summary.created)
            by_sig[row.new] = target
        summary.moves.append(
            Move(row.id, row.signature, row.new, row.group_id, target if target > 0 else None)
        )
        if row.group_id is not None:
            touched.add(int(row.group_id))
        touched.add(target)
        if not dry_run:
            _move(conn, row, target, summary.rules)
    for gid in sorted(t for t in touched if t > 0):
        left = [r for r in rows if by_sig.get(r.new) == gid]
        if not left and gid in members:
            went = Counter(by_sig[r.new] for r in members[gid]).most_common(1)[0][0]
            if went > 0 and went != gid:
                summary.merged[gid] = went
        if not dry_run:
            _recount(conn, gid, left, summary.merged.get(gid), summary.rules, now)


def _create(conn: Connection, row: _Row, now: datetime, rules: str) -> int:
    from crashpilot.ingest.grouping import group_title  # intake's title, one definition

    g = schema.crash_groups
    result = conn.execute(
        g.insert().values(
            signature=row.new,
            status="new",
            crash_kind=row.report.crash_kind or row.report.exception_code,
            title=group_title(row.report),
            count=0,
            first_seen=row.received_at,
            last_seen=row.received_at,
            revisions=[],
            updated_at=now,
            **fuzzy_fields(row.report),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    gid = int(key[0])
    events.record_event(
        conn,
        "group",
        gid,
        "created",
        to_state="new",
        actor=ACTOR,
        detail={"signature": row.new, "rules": rules},
    )
    queue.enqueue(
        conn, Stage.ANALYSE.value, group_id=gid, payload={"reason": Outcome.NEW_GROUP.value}, actor=ACTOR
    )
    return gid


def _move(conn: Connection, row: _Row, target: int, rules: str) -> None:
    r = schema.crash_reports
    parsed = {**row.parsed, "signature": row.new}
    conn.execute(
        sa.update(r).where(r.c.id == row.id).values(signature=row.new, group_id=target, parsed=parsed)
    )
    row.parsed = parsed
    events.record_event(
        conn,
        "report",
        row.id,
        "resigned",
        actor=ACTOR,
        detail={
            "from": row.signature,
            "to": row.new,
            "from_group": row.group_id,
            "to_group": target,
            "rules": rules,
        },
    )
    row.signature, row.group_id = row.new, target


def _recount(
    conn: Connection, gid: int, rows: list[_Row], merged_into: int | None, rules: str, now: datetime
) -> None:
    g = schema.crash_groups
    values: dict[str, Any] = {"count": len(rows), "updated_at": now}
    if rows:
        values["first_seen"] = min(r.received_at for r in rows)
        values["last_seen"] = max(r.received_at for r in rows)
        values["revisions"] = list(
            dict.fromkeys(r.revision for r in sorted(rows, key=lambda r: r.received_at) if r.revision)
        )
        values.update(fuzzy_fields(min(rows, key=lambda r: (r.received_at, r.id)).report))
    elif merged_into is not None:
        values["merged_into"] = merged_into
        values["merge_reason"] = f"resign: all reports moved to #{merged_into} (rules {rules})"
        events.record_event(
            conn, "group", gid, "emptied", actor=ACTOR, detail={"into": merged_into, "rules": rules}
        )
    conn.execute(sa.update(g).where(g.c.id == gid).values(**values))


def _backfill_fuzzy(conn: Connection) -> None:
    """Give groups made before the fuzzy keys existed their keys, from their first report."""
    g, r = schema.crash_groups, schema.crash_reports
    missing = {int(i) for i in conn.execute(sa.select(g.c.id).where(g.c.fuzzy_top.is_(None))).scalars()}
    if not missing:
        return
    first = (
        sa.select(r.c.group_id, sa.func.min(r.c.id).label("rid"))
        .where(r.c.group_id.in_(missing), r.c.status == "grouped")
        .group_by(r.c.group_id)
        .subquery()
    )
    for row in conn.execute(sa.select(first.c.group_id, r.c.parsed).join(r, r.c.id == first.c.rid)):
        if isinstance(row.parsed, dict):
            fields = fuzzy_fields(report_from_json(row.parsed))
            if fields["fuzzy_top"] is not None:
                conn.execute(sa.update(g).where(g.c.id == row.group_id).values(**fields))


def _store_versions(conn: Connection, rows: list[_Row], version: str) -> None:
    r = schema.crash_reports
    for row in rows:
        if row.parsed.get("signature_rules") != version:
            parsed = {**row.parsed, "signature_rules": version}
            conn.execute(sa.update(r).where(r.c.id == row.id).values(parsed=parsed))
