"""Set-up and maintenance: init, settings, db, retry, resign, approve, reject, demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crashpilot.cli.common import EXIT_OK, load_settings, open_app_from, print_json, project_repo
from crashpilot.errors import CrashpilotError


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
    settings = load_settings(args)
    rows = [
        {"key": s.key, "value": settings[s.key], "source": settings.sources[s.key], "env": s.env}
        for s in SETTINGS
    ]
    if args.json:
        print_json(
            {
                "config": str(settings.config_path) if settings.config_path else None,
                "home": str(settings.home),
                "settings": rows,
            }
        )
        return EXIT_OK
    print(f"config: {settings.config_path or '(none found)'}")
    print(f"home:   {settings.home}")
    for r in rows:
        print(f"  {r['key']:<26} {r['value']!r:<40} [{r['source']}]")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from crashpilot.store import migrate

    app = open_app_from(args, upgrade=False)
    changed = migrate.upgrade(app.engine)
    print(f"database {'upgraded to' if changed else 'already at'} {migrate.head_revision()}")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    from crashpilot.store import queue

    app = open_app_from(args)
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

    app = open_app_from(args)
    summary = resign(
        app.engine,
        dry_run=args.dry_run,
        depth=app.settings["grouping.depth"],
        repo=app.repo,
        in_app_paths=tuple(app.settings["project.in_app"]) if app.repo else (),
    )
    if args.json:
        print_json(
            {
                "rules": summary.rules,
                "dry_run": summary.dry_run,
                "reports": summary.reports,
                "unchanged": summary.unchanged,
                "moved": len(summary.moves),
                "created": summary.created,
                "renamed": {str(k): list(v) for k, v in summary.renamed.items()},
                "merged": {str(k): v for k, v in summary.merged.items()},
                "split": {str(k): v for k, v in summary.split.items()},
            }
        )
    else:
        for line in summary.lines():
            print(line)
    return EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    from crashpilot.git import Identity
    from crashpilot.handoff import approve

    app = open_app_from(args)
    identity = Identity(app.settings["bot.name"], app.settings["bot.email"])
    repo = project_repo(app)
    modules = [repo / m for m in app.settings["project.modules"]]
    pr = approve(app.engine, repo, args.group, identity, modules=modules)
    print(
        f"group {args.group}: {pr['branch']} merged into {pr['base']} as {pr['merged_sha'][:12]}; the group is fixed"
    )
    return EXIT_OK


def cmd_reject(args: argparse.Namespace) -> int:
    from crashpilot.handoff import reject

    app = open_app_from(args)
    repo = project_repo(app)
    modules = [repo / m for m in app.settings["project.modules"]]
    pr = reject(app.engine, repo, args.group, reason=args.reason, modules=modules)
    print(f"group {args.group}: pull request {pr['id']} rejected, branch {pr['branch']} deleted")
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


def cmd_eval(args: argparse.Namespace) -> int:
    """Run the pipeline on a folder of crash cases with known fixes and print the results table."""
    from crashpilot import eval as ev
    from crashpilot.app import model_keys

    cases_dir = Path(args.cases_dir)
    if args.prepare:
        for folder in ev.prepare_cases(cases_dir, Path(args.prepare)):
            print(f"prepared {folder}")
        return EXIT_OK
    if not args.model:
        raise CrashpilotError("eval needs --model: gold, replay:<transcript>, anthropic:<name> or openai:<name>")
    choice = ev.parse_model(args.model, base_url=args.base_url, agent=args.agent)
    resume = None
    if args.resume:
        resume = ev.latest_results(cases_dir) if args.resume == "latest" else Path(args.resume)
        if resume is None:
            raise CrashpilotError(f"nothing to resume: {cases_dir}/results holds no earlier run")

    def progress(row: dict[str, object]) -> None:
        if not args.json:
            state = "plausible" if row["plausible"] else f"not plausible ({row['verification']})"
            print(f"  {row['id']}: {state} in {float(str(row['seconds'])):.1f}s", file=sys.stderr, flush=True)

    rows, folder = ev.run_eval(
        cases_dir, choice, jobs=args.jobs, resume=resume, keys=model_keys(), k=args.runs,
        attempts=args.attempts, only=set(args.case or []) or None, keep_work=args.keep_work,
        progress=progress,
    )  # fmt: skip
    if args.json:
        print_json(rows)
        return EXIT_OK
    label = ev.label_of(choice)
    if choice.is_gold:
        print(ev.GOLD_NOTE)
    print(ev.table(rows))
    print(ev.summary_line(rows, label))
    print(f"results: {folder}/results.json and results.md")
    return EXIT_OK
