"""The command line: parse arguments, call modules, print. The only module that prints."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crashpilot import __version__
from crashpilot.errors import CrashpilotError

log = logging.getLogger("crashpilot.cli")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNRECOGNISED = 0, 1, 2, 3


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


# --- parse -------------------------------------------------------------------------------------

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
        _print_json([r.to_json() for r in reports])
    else:
        for i, r in enumerate(reports):
            if i:
                print()
            _print_report(r.to_json())
    return EXIT_UNRECOGNISED if unrecognised else EXIT_OK


def _print_report(r: dict[str, Any]) -> None:
    """One report (its ``to_json()`` form) for a person."""
    print(f"format:     {r.get('format')}")
    if r.get("error"):
        print(f"error:      {r['error']}")
    code = f" ({r['exception_code']})" if r.get("exception_code") else ""
    print(f"kind:       {r.get('crash_kind') or '-'}{code}")
    if r.get("message"):
        print(f"message:    {r['message'].splitlines()[0][:200]}")
    if r.get("revision"):
        print(f"revision:   {r['revision']}")
    print(f"signature:  {r.get('signature')}")
    fa = r.get("first_app_frame")
    if fa:
        loc = f" at {fa['file']}:{fa['line']}" if fa.get("file") else ""
        print(f"first app:  {fa.get('function') or fa.get('module')}{loc}")
    frames = (r.get("crashing_thread") or {}).get("frames") or []
    for i, f in enumerate(frames[:20]):
        mark = "*" if f.get("in_app") else " "
        where = f.get("function") or (f"{f.get('module')}+{f['module_offset']}" if f.get("module_offset") else f.get("address")) or "?"
        loc = f"  {f['file']}:{f['line']}" if f.get("file") else ""
        print(f"  {mark}#{i:<3} {where}{loc}")
    if len(frames) > 20:
        print(f"   ... {len(frames) - 20} more frames")


# --- settings and store --------------------------------------------------------------------------

def _settings(args: argparse.Namespace) -> Any:
    from crashpilot import settings as st

    flags: dict[str, Any] = {}
    if getattr(args, "home", None):
        flags["home"] = args.home
    if getattr(args, "database_url", None):
        flags["database.url"] = args.database_url
    if getattr(args, "repo", None) and args.command != "parse":
        flags["project.repo"] = args.repo
    if getattr(args, "poll", False):
        flags["watch.poll"] = True
    return st.load(config=args.config, flags=flags)


def _app(args: argparse.Namespace, upgrade: bool = True) -> Any:
    from crashpilot.app import open_app

    return open_app(_settings(args), upgrade=upgrade)


def _when(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else value.isoformat()
    return text.replace("+00:00", "Z")[:19].replace("T", " ")


# --- init / settings / db ------------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    from importlib import resources

    from crashpilot.settings import CONFIG_NAME

    target = Path(args.path) / CONFIG_NAME
    if target.exists() and not args.force:
        raise CrashpilotError(f"{target} already exists (use --force to overwrite)")
    text = resources.files("crashpilot.presets").joinpath(f"{args.preset}.toml").read_text("utf-8")
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} (preset {args.preset}); edit it, then run: crashpilot run")
    return EXIT_OK


def cmd_settings(args: argparse.Namespace) -> int:
    from crashpilot.settings import SETTINGS, describe

    if args.markdown:
        sys.stdout.write(describe())
        return EXIT_OK
    settings = _settings(args)
    rows = [{"key": s.key, "value": settings[s.key], "source": settings.sources[s.key], "env": s.env} for s in SETTINGS]
    if args.json:
        _print_json({"config": str(settings.config_path) if settings.config_path else None, "home": str(settings.home), "settings": rows})
        return EXIT_OK
    print(f"config: {settings.config_path or '(none found)'}")
    print(f"home:   {settings.home}")
    for r in rows:
        print(f"  {r['key']:<26} {r['value']!r:<40} [{r['source']}]")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from crashpilot.store import migrate

    app = _app(args, upgrade=False)
    changed = migrate.upgrade(app.engine)
    print(f"database {'upgraded to' if changed else 'already at'} {migrate.head_revision()}")
    return EXIT_OK


# --- intake ------------------------------------------------------------------------------------------

def cmd_ingest(args: argparse.Namespace) -> int:
    from crashpilot.ingest.watch import ingest_paths

    app = _app(args)
    bar = _Progress(enabled=not args.json and sys.stderr.isatty())
    results = ingest_paths(app.engine, app.blobs, [Path(p) for p in args.paths], progress=bar.update, **app.ingest_options())
    bar.close()
    summary = {
        "files": len(results),
        "new_reports": sum(1 for r in results if not r.duplicate and not r.quarantined),
        "duplicates": sum(1 for r in results if r.duplicate),
        "quarantined": sum(1 for r in results if r.quarantined),
        "groups": sorted({g for r in results for g in r.group_ids}),
    }
    if args.json:
        _print_json({**summary, "results": [_result_json(r) for r in results]})
    else:
        for r in results:
            if r.quarantined:
                print(f"quarantined {r.source}: {r.reason}")
        print(
            f"{summary['files']} file(s): {summary['new_reports']} new, {summary['duplicates']} already known, "
            f"{summary['quarantined']} quarantined; groups {', '.join(map(str, summary['groups'])) or '-'}"
        )
    return EXIT_OK


def _result_json(r: Any) -> dict[str, Any]:
    return {
        "source": r.source, "sha256": r.sha256, "duplicate": r.duplicate, "quarantined": r.quarantined,
        "reason": r.reason, "report_ids": list(r.report_ids), "group_ids": list(r.group_ids),
        "formats": list(r.formats),
    }


class _Progress:
    """A one-line progress bar on stderr for long intakes (only on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def update(self, done: int, total: int, *_: Any) -> None:
        if not self.enabled or total < 20:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def cmd_run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from crashpilot import app as appmod

    app = _app(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    folders = appmod.watch_folders(app, args.watch or [])
    if not folders and not app.settings["queue.folder"] and args.no_workers:
        raise CrashpilotError("nothing to do: no watch folders (use --watch DIR or [watch] folders) and --no-workers")
    print(f"crashpilot {__version__}: home {app.settings.home}", flush=True)
    for path, glob in folders:
        print(f"watching {path} ({glob})", flush=True)

    def on_ingested(result: Any) -> None:
        if result.quarantined:
            print(f"quarantined {result.source}: {result.reason}", flush=True)
        elif not result.duplicate:
            print(f"ingested {result.source} -> group {', '.join(map(str, result.group_ids))}", flush=True)

    try:
        appmod.run(app, stop, extra_watch=args.watch or [], workers=not args.no_workers, on_ingested=on_ingested)
    except KeyboardInterrupt:
        stop.set()
    print("stopped", flush=True)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from crashpilot import app as appmod

    app = _app(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    workers = appmod.make_workers(app, count=args.count, stages=args.stages.split(",") if args.stages else None)
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    print(f"{len(threads)} worker(s) running; Ctrl-C stops", flush=True)
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    return EXIT_OK


# --- read commands -------------------------------------------------------------------------------

def _read(args: argparse.Namespace, query: Any) -> Any:
    """Run a read-only ``query(conn)`` on the store; with ``--json`` print its result and return None."""
    app = _app(args)
    with app.engine.connect() as conn:
        data = query(conn)
    if getattr(args, "json", False):
        _print_json(data)
        return None
    return data


def cmd_groups(args: argparse.Namespace) -> int:
    from crashpilot.store.groups import list_groups

    groups = _read(args, list_groups)
    if groups is None:
        return EXIT_OK
    if not groups:
        print("no crash groups yet")
        return EXIT_OK
    print(f"{'id':>4}  {'count':>5}  {'status':<12} {'last seen':<19}  signature")
    for g in groups:
        print(f"{g['id']:>4}  {g['count']:>5}  {g['status']:<12} {_when(g['last_seen']):<19}  {g['signature'][:90]}")
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

    group = _read(args, query)
    if group is None:
        return EXIT_OK
    print(f"group {group['id']}: {group.get('title') or group['signature']}")
    print(f"  status:     {group['status']}" + (f" ({group['status_reason']})" if group.get("status_reason") else ""))
    print(f"  signature:  {group['signature']}")
    print(f"  seen:       {group['count']} time(s), first {_when(group['first_seen'])}, last {_when(group['last_seen'])}")
    print(f"  revisions:  {', '.join(group.get('revisions') or []) or '-'}")
    reports = group.get("reports") or []
    if reports:
        newest = reports[0]
        print(f"  newest report #{newest['id']} from {newest.get('source')}:")
        _print_report(newest.get("parsed") or {})
    brief = _settings(args).home / "briefs" / f"group-{group['id']}.md"
    if brief.exists():
        print(f"  triage brief: {brief}")
    _print_fix(group.get("run"), group.get("pull_request"))
    events = group.get("events") or []
    if events:
        print("  events:")
        for e in events[-10:]:
            print(f"    {_when(e['at'])}  {e['kind']}" + (f" -> {e['to_state']}" if e.get("to_state") else ""))
    return EXIT_OK


def _print_fix(run: Any, pr: Any) -> None:
    """The latest run (analysis, verification) and pull request (diff and evidence) of a group."""
    if run:
        analysis = (run.get("result") or {}).get("analysis") or {}
        print(f"  run {run['id']}:      {run['status']}, {run['attempts']} fix pass(es), {run['input_tokens']} in / {run['output_tokens']} out tokens"
              + (f", verification {run['verification']}" if run.get("verification") else ""))
        if analysis:
            print(f"  analysis:   {analysis.get('fixability')} (confidence {analysis.get('confidence')}): {str(analysis.get('root_cause'))[:300]}")
            print(f"  fault at:   {str(analysis.get('fault_location'))[:200]}")
    if pr:
        print(f"  pull request {pr['id']} ({pr['status']}, {pr['verification']}): {pr['branch']} -> {pr['base']} at {pr['head_sha'][:12]}")
        print()
        print("\n".join("    " + line for line in pr["body"].splitlines()))
        print()


def cmd_quarantine(args: argparse.Namespace) -> int:
    from crashpilot.store.reports import list_quarantine

    rows = _read(args, list_quarantine)
    if rows is None:
        return EXIT_OK
    if not rows:
        print("quarantine is empty")
    for r in rows:
        print(f"#{r['id']:<5} {_when(r['received_at'])}  {r.get('source') or '-'}: {r.get('reason')}")
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from crashpilot.store.groups import stats

    data = _read(args, stats)
    if data is None:
        return EXIT_OK
    for key, value in data.items():
        if isinstance(value, dict):
            print(f"{key}: " + (", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "-"))
        else:
            print(f"{key}: {value}")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    from crashpilot.store import queue

    app = _app(args)
    if args.job is not None:
        if not queue.retry(app.engine, args.job, actor="cli"):
            raise CrashpilotError(f"job {args.job} cannot be retried (unknown, running or done)")
        print(f"job {args.job} queued again")
        return EXIT_OK
    if args.group is None:
        raise CrashpilotError("name a group (crashpilot retry GROUP) or a job (--job ID)")
    from crashpilot.app import retry_group

    job_id = retry_group(app, args.group)
    print(f"group {args.group}: analyse queued again (job {job_id})")
    return EXIT_OK


def cmd_resign(args: argparse.Namespace) -> int:
    from crashpilot.store.resign import resign

    app = _app(args)
    summary = resign(
        app.engine,
        dry_run=args.dry_run,
        depth=app.settings["grouping.depth"],
        repo=app.repo,
        in_app_paths=tuple(app.settings["project.in_app"]) if app.repo else (),
    )
    if args.json:
        _print_json({"rules": summary.rules, "dry_run": summary.dry_run, "reports": summary.reports,
                     "unchanged": summary.unchanged, "moved": len(summary.moves), "created": summary.created,
                     "renamed": {str(k): list(v) for k, v in summary.renamed.items()},
                     "merged": {str(k): v for k, v in summary.merged.items()},
                     "split": {str(k): v for k, v in summary.split.items()}})
    else:
        for line in summary.lines():
            print(line)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from crashpilot import demo
    from crashpilot.app import model_keys

    def out(line: str) -> None:
        print(line, flush=True)

    return demo.main(
        home=Path(args.home) if args.home else None,
        keep=args.keep,
        out=out,
        model=args.model,
        base_url=args.base_url,
        keys=model_keys(),
    )


# --- local pull requests -------------------------------------------------------------------------

def cmd_prs(args: argparse.Namespace) -> int:
    from crashpilot.store.runs import list_prs

    app = _app(args)
    with app.engine.connect() as conn:
        prs = list_prs(conn, status=None if args.all else "open")
    if args.json:
        _print_json(prs)
        return EXIT_OK
    if not prs:
        print("no open pull requests" if not args.all else "no pull requests yet")
        return EXIT_OK
    print(f"{'pr':>4}  {'group':>5}  {'status':<8} {'verification':<21} {'branch':<18} title")
    for pr in prs:
        print(f"{pr['id']:>4}  {pr['group_id']:>5}  {pr['status']:<8} {pr['verification'] or '-':<21} {pr['branch']:<18} {pr['title'][:70]}")
    return EXIT_OK


def _repo(app: Any) -> Path:
    repo = app.repo
    if repo is None:
        raise CrashpilotError("no project repository (project.repo, or run from inside it)")
    return Path(repo)


def cmd_approve(args: argparse.Namespace) -> int:
    from crashpilot.git import Identity
    from crashpilot.handoff import approve

    app = _app(args)
    identity = Identity(app.settings["bot.name"], app.settings["bot.email"])
    pr = approve(app.engine, _repo(app), args.group, identity)
    print(f"group {args.group}: {pr['branch']} merged into {pr['base']} as {pr['merged_sha'][:12]}; the group is fixed")
    return EXIT_OK


def cmd_reject(args: argparse.Namespace) -> int:
    from crashpilot.handoff import reject

    app = _app(args)
    pr = reject(app.engine, _repo(app), args.group, reason=args.reason)
    print(f"group {args.group}: pull request {pr['id']} rejected, branch {pr['branch']} deleted")
    return EXIT_OK


# --- the parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="crashpilot",
        description="Turn C/C++ crashes into review-ready pull requests.",
        epilog="Settings: crashpilot.toml (see `crashpilot settings`), CRASHPILOT_* variables, flags.",
    )
    p.add_argument("--version", action="version", version=f"crashpilot {__version__}")

    def add_common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--config", help="path to crashpilot.toml (default: search from the current folder up)")
        parser.add_argument("--home", help="crashpilot home folder (database, raw reports, logs); env CRASHPILOT_HOME")
        parser.add_argument("--database-url", help="database URL (default: SQLite in the home folder)")
        parser.add_argument("-v", "--verbose", action="store_true", help="log to the console too")

    # The same options work before and after the command; after it, they are only set when given.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    add_common(common)
    add_common(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, parents=[common])
        sp.set_defaults(func=func)
        return sp

    sp = add("init", cmd_init, "write a commented crashpilot.toml for this project")
    sp.add_argument("--preset", choices=["default", "trinitycore", "azerothcore"], default="default")
    sp.add_argument("--path", default=".", help="folder to write it in (the C/C++ repository)")
    sp.add_argument("--force", action="store_true", help="overwrite an existing file")

    sp = add("run", cmd_run, "watch crash folders, group crashes and work the queue until Ctrl-C")
    sp.add_argument("--watch", action="append", metavar="DIR", help="watch this folder too (all files); repeatable")
    sp.add_argument("--no-workers", action="store_true", help="only take crashes in (workers run elsewhere)")
    sp.add_argument("--poll", action="store_true", help="poll folders instead of file-system events")
    sp.add_argument("--repo", help="the project repository (default: from crashpilot.toml)")

    sp = add("worker", cmd_worker, "work queued jobs (for extra hosts sharing a PostgreSQL database)")
    sp.add_argument("--stages", help="comma-separated stages to take, e.g. build,verify (default: all)")
    sp.add_argument("--count", type=int, default=1, help="worker threads in this process")

    sp = add("ingest", cmd_ingest, "take crash files or folders in once (recursive)")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--repo", help="the project repository (default: from crashpilot.toml)")
    sp.add_argument("--json", action="store_true", help="print the result as JSON")

    sp = add("parse", cmd_parse, "read one crash file and print what crashpilot sees in it")
    sp.add_argument("file", help="crash report file (text; UTF-8 or UTF-16)")
    sp.add_argument("--repo", help="project repository: map paths into it and mark its frames in-app")
    sp.add_argument("--json", action="store_true", help="print a JSON list, one object per report")

    sp = add("groups", cmd_groups, "list crash groups")
    sp.add_argument("--json", action="store_true")

    sp = add("show", cmd_show, "show one crash group: reports, stack, events")
    sp.add_argument("group", type=int)
    sp.add_argument("--json", action="store_true")

    sp = add("quarantine", cmd_quarantine, "list inputs that could not be read, with the reason")
    sp.add_argument("--json", action="store_true")

    sp = add("retry", cmd_retry, "queue a group (or one job) again")
    sp.add_argument("group", type=int, nargs="?")
    sp.add_argument("--job", type=int, help="retry this job instead")

    sp = add("stats", cmd_stats, "counts of reports, groups and jobs")
    sp.add_argument("--json", action="store_true")

    sp = add("resign", cmd_resign, "recompute every stored report's signature after a rules change; move reports between groups")
    sp.add_argument("--dry-run", action="store_true", help="only say what would move")
    sp.add_argument("--json", action="store_true")

    sp = add("settings", cmd_settings, "show the effective settings and where each comes from")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--markdown", action="store_true", help="print the documentation table of all settings")

    sp = add("db", cmd_db, "database maintenance")
    sp.add_argument("action", choices=["upgrade"], help="upgrade: apply migrations")

    sp = add("demo", cmd_demo, "crash -> verified fix -> local pull request on a bundled sample project, in a throw-away home")
    sp.add_argument("--keep", action="store_true", help="keep the demo home folder afterwards")
    sp.add_argument("--model", help="use a real model, e.g. openai:gpt-4.1 (default with ANTHROPIC_API_KEY set: anthropic)")
    sp.add_argument("--base-url", help="base URL of an OpenAI-compatible server for --model openai:<name>")

    sp = add("prs", cmd_prs, "list local pull requests (verified fixes waiting for review)")
    sp.add_argument("--all", action="store_true", help="merged and rejected ones too")
    sp.add_argument("--json", action="store_true")

    sp = add("approve", cmd_approve, "merge a group's pull request branch into the base branch")
    sp.add_argument("group", type=int)
    sp.add_argument("--repo", help="the project repository (default: from crashpilot.toml)")

    sp = add("reject", cmd_reject, "close a group's pull request and delete its branch")
    sp.add_argument("group", type=int)
    sp.add_argument("--reason", help="why (kept with the group)")
    sp.add_argument("--repo", help="the project repository (default: from crashpilot.toml)")
    return p


def _configure_logging(args: argparse.Namespace) -> None:
    """Log to <home>/logs/crashpilot.log; without a usable home, nowhere (never to the console)."""
    from crashpilot import log as logsetup
    from crashpilot.settings import load

    logging.getLogger("crashpilot").addHandler(logging.NullHandler())
    logging.getLogger("crashpilot").propagate = False
    try:
        settings = _settings(args) if args.func is not cmd_parse else load(config=None, flags={"home": args.home} if args.home else None)
        logsetup.configure(settings.home, settings["log.level"], console=bool(args.verbose))
    except (CrashpilotError, OSError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    _configure_logging(args)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK
    except CrashpilotError as exc:
        log.debug("command failed", exc_info=True)
        print(f"crashpilot: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: one line here, the traceback in the log file
        log.error("unexpected error", exc_info=True)
        print(f"crashpilot: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (details in the log file)", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("crashpilot: interrupted", file=sys.stderr)
        return 130
