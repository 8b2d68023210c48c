"""Read commands: parse, groups, show, quarantine, stats, prs (each with --json)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crashpilot.cli.common import (
    EXIT_OK,
    EXIT_UNRECOGNISED,
    load_settings,
    open_app_from,
    print_json,
    print_report,
    read,
    when,
)
from crashpilot.errors import CrashpilotError


def cmd_parse(args: argparse.Namespace) -> int:
    from crashpilot.formats import parse_bytes

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CrashpilotError(f"cannot read {path}: {exc.strerror or exc}") from exc
    reports = parse_bytes(data, repo=args.repo)
    unrecognised = len(reports) == 1 and reports[0].format == "other" and reports[0].error
    if args.json:
        print_json([r.to_json() for r in reports])
    else:
        for i, r in enumerate(reports):
            if i:
                print()
            print_report(r.to_json())
    return EXIT_UNRECOGNISED if unrecognised else EXIT_OK


def cmd_groups(args: argparse.Namespace) -> int:
    from crashpilot.store.groups import list_groups

    groups = read(args, list_groups)
    if groups is None:
        return EXIT_OK
    if not groups:
        print("no crash groups yet")
        return EXIT_OK
    print(f"{'id':>4}  {'count':>5}  {'status':<12} {'last seen':<19}  signature")
    for g in groups:
        print(
            f"{g['id']:>4}  {g['count']:>5}  {g['status']:<12} {when(g['last_seen']):<19}  {g['signature'][:90]}"
        )
    waiting = [g for g in groups if g["status"] == "waiting_budget"]
    if waiting:  # a cost cap holds new runs back: say which and until when
        print(
            f"\n{len(waiting)} group(s) wait for the budget: {waiting[0].get('status_reason') or 'a cost cap is reached'}"
        )
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from crashpilot.store.groups import get_group
    from crashpilot.store.reports import get_report

    def query(conn: Any) -> dict[str, Any]:
        group = get_group(conn, args.group)
        if group is None:
            raise CrashpilotError(f"no group {args.group}")
        if group.get("reports"):
            group["reports"][0] = get_report(conn, group["reports"][0]["id"]) or group["reports"][0]
        from crashpilot.store.runs import latest_pr, latest_run

        group["run"] = latest_run(conn, args.group)
        group["pull_request"] = latest_pr(conn, args.group)
        return group

    group = read(args, query)
    if group is None:
        return EXIT_OK
    print(f"group {group['id']}: {group.get('title') or group['signature']}")
    print(
        f"  status:     {group['status']}"
        + (f" ({group['status_reason']})" if group.get("status_reason") else "")
    )
    print(f"  signature:  {group['signature']}")
    print(
        f"  seen:       {group['count']} time(s), first {when(group['first_seen'])}, last {when(group['last_seen'])}"
    )
    print(f"  revisions:  {', '.join(group.get('revisions') or []) or '-'}")
    reports = group.get("reports") or []
    if reports:
        newest = reports[0]
        print(f"  newest report #{newest['id']} from {newest.get('source')}:")
        print_report(newest.get("parsed") or {})
    brief = load_settings(args).home / "briefs" / f"group-{group['id']}.md"
    if brief.exists():
        print(f"  triage brief: {brief}")
    _print_fix(group.get("run"), group.get("pull_request"))
    events = group.get("events") or []
    if events:
        print("  events:")
        for e in events[-10:]:
            print(f"    {when(e['at'])}  {e['kind']}" + (f" -> {e['to_state']}" if e.get("to_state") else ""))
    return EXIT_OK


def _print_fix(run: Any, pr: Any) -> None:
    """The latest run (analysis, verification) and pull request (diff and evidence) of a group."""
    if run:
        analysis = (run.get("result") or {}).get("analysis") or {}
        print(
            f"  run {run['id']}:      {run['status']}, {run['attempts']} fix pass(es), {run['input_tokens']} in / {run['output_tokens']} out tokens"
            + (f", verification {run['verification']}" if run.get("verification") else "")
        )
        if analysis:
            print(
                f"  analysis:   {analysis.get('fixability')} (confidence {analysis.get('confidence')}): {str(analysis.get('root_cause'))[:300]}"
            )
            print(f"  fault at:   {str(analysis.get('fault_location'))[:200]}")
    if pr:
        print(
            f"  pull request {pr['id']} ({pr['status']}, {pr['verification']}): {pr['branch']} -> {pr['base']} at {pr['head_sha'][:12]}"
        )
        print()
        print("\n".join("    " + line for line in pr["body"].splitlines()))
        print()


def cmd_quarantine(args: argparse.Namespace) -> int:
    from crashpilot.store.reports import list_quarantine

    rows = read(args, list_quarantine)
    if rows is None:
        return EXIT_OK
    if not rows:
        print("quarantine is empty")
    for r in rows:
        print(f"#{r['id']:<5} {when(r['received_at'])}  {r.get('source') or '-'}: {r.get('reason')}")
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from crashpilot.store.groups import stats

    data = read(args, stats)
    if data is None:
        return EXIT_OK
    for key, value in data.items():
        if isinstance(value, dict):
            print(f"{key}: " + (", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "-"))
        else:
            print(f"{key}: {value}")
    return EXIT_OK


def cmd_prs(args: argparse.Namespace) -> int:
    from crashpilot.store.runs import list_all_prs

    app = open_app_from(args)
    with app.engine.connect() as conn:
        prs = list_all_prs(conn, status=None if args.all else "open")
    if args.json:
        print_json(prs)
        return EXIT_OK
    if not prs:
        print("no open pull requests" if not args.all else "no pull requests yet")
        return EXIT_OK
    print(f"{'pr':>4}  {'group':>5}  {'status':<8} {'verification':<21} {'branch':<18} title")
    for pr in prs:
        ref = str(pr["id"]) if pr["forge"] == "local" else f"#{pr['id']}"
        print(
            f"{ref:>4}  {pr['group_id']:>5}  {pr['status']:<8} {pr['verification'] or '-':<21} {pr['branch']:<18} {pr['title'][:70]}"
        )
        if pr["forge"] != "local":
            print(f"{'':>12}{pr['forge']} {pr['repo']}: {pr['url']}")
    return EXIT_OK
