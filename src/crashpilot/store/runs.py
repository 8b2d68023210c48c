"""Runs (one attempt to fix a group) and local pull requests (the embedded default forge).

A run row is made when ANALYSE starts on a group with a model; its id travels in the job
payload (``run_id``). Each stage moves ``status``/``stage`` and merges what it learnt into the
``result`` JSON (analysis, diff stats, build and verify evidence). Tokens are summed from the
run's stored exchanges. A local pull request is a row: group, branch, base, head sha, status
(open / merged / rejected), verification level and the markdown body a reviewer reads. A pull
request on a forge (GitHub ...) lives on the forge; the run that opened it keeps its facts in
``result.pr`` (and the group its URL): :func:`list_forge_prs` lists them from there,
:func:`list_all_prs` lists both kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crashpilot.store import exchanges as exchange_store
from crashpilot.store.db import utcnow
from crashpilot.store.events import record_event
from crashpilot.store.groups import iso
from crashpilot.store.schema import crash_groups, pull_requests, runs

__all__ = [
    "add_result",
    "decided_by_human",
    "finish_run",
    "get_pr",
    "get_run",
    "latest_pr",
    "latest_run",
    "list_all_prs",
    "list_forge_prs",
    "list_prs",
    "open_pr",
    "set_pr_status",
    "start_run",
    "sum_tokens",
    "update_run",
]

PR_STATUSES = ("open", "merged", "rejected")


def _run(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = dict(row)
    out["started_at"] = iso(row["started_at"])
    out["ended_at"] = iso(row["ended_at"])
    out["result"] = dict(row["result"] or {})
    return out


def start_run(
    conn: Connection, group_id: int, *, branch: str, base_revision: str | None, actor: str | None = None
) -> int:
    """A new run for ``group_id``; returns its id."""
    key = conn.execute(
        runs.insert().values(
            group_id=group_id,
            status="analysing",
            stage="analyse",
            attempts=0,
            branch=branch,
            base_revision=base_revision,
            input_tokens=0,
            output_tokens=0,
            result={},
            started_at=utcnow(),
        )
    ).inserted_primary_key
    assert key is not None
    run_id = int(key[0])
    record_event(
        conn, "run", run_id, "started", None, "analysing", actor, {"group": group_id, "branch": branch}
    )
    return run_id


def get_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
    return _run(row) if row else None


def latest_run(conn: Connection, group_id: int) -> dict[str, Any] | None:
    row = (
        conn.execute(sa.select(runs).where(runs.c.group_id == group_id).order_by(runs.c.id.desc()).limit(1))
        .mappings()
        .first()
    )
    return _run(row) if row else None


def update_run(conn: Connection, run_id: int, *, actor: str | None = None, **values: Any) -> None:
    """Set columns of a run; a status change is logged as an event."""
    if "status" in values:
        before = conn.execute(sa.select(runs.c.status).where(runs.c.id == run_id)).scalar_one_or_none()
        if before != values["status"]:
            record_event(conn, "run", run_id, "status_changed", before, values["status"], actor)
    conn.execute(runs.update().where(runs.c.id == run_id).values(**values))


def add_result(conn: Connection, run_id: int, **items: Any) -> dict[str, Any]:
    """Merge ``items`` into the run's ``result`` JSON; returns the merged result."""
    current = conn.execute(sa.select(runs.c.result).where(runs.c.id == run_id)).scalar_one_or_none() or {}
    merged = {**dict(current), **items}
    conn.execute(runs.update().where(runs.c.id == run_id).values(result=merged))
    return merged


def finish_run(conn: Connection, run_id: int, status: str, *, actor: str | None = None) -> None:
    update_run(conn, run_id, status=status, ended_at=utcnow(), actor=actor)


def sum_tokens(conn: Connection, run_id: int) -> dict[str, Any]:
    """Recount the run's tokens from its stored exchanges and store them on the run."""
    used = exchange_store.usage(conn, run_id=run_id)
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(input_tokens=used["input_tokens"], output_tokens=used["output_tokens"], cost=used["cost"])
    )
    return used


# -- local pull requests -------------------------------------------------------------------------


def _pr(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = dict(row)
    out["created_at"] = iso(row["created_at"])
    out["updated_at"] = iso(row["updated_at"])
    return out


def open_pr(
    conn: Connection,
    *,
    group_id: int,
    run_id: int | None,
    branch: str,
    base: str,
    head_sha: str,
    verification: str | None,
    title: str,
    body: str,
    actor: str | None = None,
) -> int:
    """Record a local pull request (status ``open``); an older open one of the group is superseded."""
    now = utcnow()
    for old in conn.execute(
        sa.select(pull_requests.c.id).where(
            pull_requests.c.group_id == group_id, pull_requests.c.status == "open"
        )
    ).scalars():
        set_pr_status(conn, int(old), "rejected", actor=actor, reason="superseded by a newer fix")
    key = conn.execute(
        pull_requests.insert().values(
            group_id=group_id,
            run_id=run_id,
            branch=branch,
            base=base,
            head_sha=head_sha,
            status="open",
            verification=verification,
            title=title,
            body=body,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key
    assert key is not None
    pr_id = int(key[0])
    record_event(conn, "group", group_id, "pr_opened", None, "open", actor, {"pr": pr_id, "branch": branch})
    return pr_id


def set_pr_status(
    conn: Connection,
    pr_id: int,
    status: str,
    *,
    merged_sha: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
) -> None:
    if status not in PR_STATUSES:
        raise ValueError(f"unknown pull request status {status!r}")
    row = conn.execute(sa.select(pull_requests).where(pull_requests.c.id == pr_id)).mappings().first()
    if row is None:
        raise LookupError(f"no pull request {pr_id}")
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if merged_sha is not None:
        values["merged_sha"] = merged_sha
    conn.execute(pull_requests.update().where(pull_requests.c.id == pr_id).values(**values))
    detail: dict[str, Any] = {"pr": pr_id}
    if reason:
        detail["reason"] = reason
    record_event(conn, "group", int(row["group_id"]), f"pr_{status}", row["status"], status, actor, detail)


def get_pr(conn: Connection, pr_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(pull_requests).where(pull_requests.c.id == pr_id)).mappings().first()
    return _pr(row) if row else None


def latest_pr(conn: Connection, group_id: int) -> dict[str, Any] | None:
    row = (
        conn.execute(
            sa.select(pull_requests)
            .where(pull_requests.c.group_id == group_id)
            .order_by(pull_requests.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return _pr(row) if row else None


PR_END_STATE = {"merged": "fixed", "rejected": "rejected"}


def decided_by_human(conn: Connection, group_id: int) -> bool:
    """True when the group's latest local pull request was approved or rejected and the group is
    already in that end state (``fixed`` / ``rejected``).

    Read inside the caller's write transaction: a TRACK job that saw the pull request open just
    before ``crashpilot approve`` / ``reject`` ran must not put the group back to ``pr_open``.
    """
    pr = latest_pr(conn, group_id)
    if pr is None or pr["status"] not in PR_END_STATE:
        return False
    current = conn.execute(sa.select(crash_groups.c.status).where(crash_groups.c.id == group_id)).scalar()
    return bool(current == PR_END_STATE[str(pr["status"])])


def list_prs(conn: Connection, *, status: str | None = None) -> list[dict[str, Any]]:
    """Local pull requests, newest first."""
    query = sa.select(pull_requests).order_by(pull_requests.c.id.desc())
    if status is not None:
        query = query.where(pull_requests.c.status == status)
    return [_pr(r) for r in conn.execute(query).mappings()]


# -- pull requests on a forge (facts kept on the run that opened them) --------------------------

RUN_TO_PR = {"merged": "merged", "rejected": "rejected"}


def list_forge_prs(conn: Connection, *, status: str | None = None) -> list[dict[str, Any]]:
    """Pull requests crashpilot opened on a forge, newest first, one per URL (its latest run).

    The status follows the run TRACK ended: merged, rejected (closed unmerged), else open.
    """
    query = (
        sa.select(runs, crash_groups.c.title.label("group_title"), crash_groups.c.signature)
        .join(crash_groups, crash_groups.c.id == runs.c.group_id)
        .where(crash_groups.c.pr_url.is_not(None), sa.not_(crash_groups.c.pr_url.like("local:%")))
        .order_by(runs.c.id.desc())
    )
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in conn.execute(query).mappings():
        info = dict((row["result"] or {}).get("pr") or {})
        url = str(info.get("url") or "")
        if info.get("forge") in (None, "local") or not url or url in seen:
            continue
        seen.add(url)
        state = RUN_TO_PR.get(str(row["status"]), "open")
        if status is not None and state != status:
            continue
        out.append(
            {
                "id": info.get("number"),
                "group_id": row["group_id"],
                "run_id": row["id"],
                "forge": str(info["forge"]),
                "url": url,
                "repo": info.get("forge_repo") or "",
                "module": info.get("repo") or "",
                "branch": row["branch"],
                "base": info.get("base") or "",
                "head_sha": info.get("head") or "",
                "status": state,
                "verification": row["verification"],
                "title": str(info.get("title") or row["group_title"] or row["signature"]),
                "merged_sha": (row["result"] or {}).get("merged_sha"),
                "created_at": iso(row["started_at"]),
                "updated_at": iso(row["ended_at"] or row["started_at"]),
            }
        )
    return out


def list_all_prs(conn: Connection, *, status: str | None = None) -> list[dict[str, Any]]:
    """Local and forge pull requests together, newest first; each has ``forge`` and ``url``."""
    local = [{**pr, "forge": "local", "url": f"local:{pr['id']}"} for pr in list_prs(conn, status=status)]
    both = local + list_forge_prs(conn, status=status)
    return sorted(both, key=lambda pr: str(pr.get("created_at") or ""), reverse=True)
