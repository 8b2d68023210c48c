"""The command line: parse arguments, call modules, print. Only this package prints.

``build_parser`` names every command; each ``cmd_*`` lives in the module of its kind:
reading (parse, groups, show, quarantine, stats, prs), intake (ingest, run, worker) and admin
(init, settings, db, retry, resign, approve, reject, demo).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from crashpilot import __version__
from crashpilot.cli.admin import (
    cmd_approve,
    cmd_db,
    cmd_demo,
    cmd_eval,
    cmd_init,
    cmd_reject,
    cmd_resign,
    cmd_retry,
    cmd_settings,
)
from crashpilot.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, close_opened, load_settings, log
from crashpilot.cli.intake import cmd_ingest, cmd_run, cmd_worker
from crashpilot.cli.reading import cmd_groups, cmd_parse, cmd_prs, cmd_quarantine, cmd_show, cmd_stats
from crashpilot.errors import CrashpilotError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="crashpilot",
        description="Turn C/C++ crashes into review-ready pull requests.",
        epilog="Settings: crashpilot.toml (see `crashpilot settings`), CRASHPILOT_* variables, flags.",
    )
    p.add_argument("--version", action="version", version=f"crashpilot {__version__}")

    def add_common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--config", help="path to crashpilot.toml (default: search from the current folder up)"
        )
        parser.add_argument(
            "--home", help="crashpilot home folder (database, raw reports, logs); env CRASHPILOT_HOME"
        )
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
    sp.add_argument(
        "--watch", action="append", metavar="DIR", help="watch this folder too (all files); repeatable"
    )
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

    sp = add(
        "resign",
        cmd_resign,
        "recompute every stored report's signature after a rules change; move reports between groups",
    )
    sp.add_argument("--dry-run", action="store_true", help="only say what would move")
    sp.add_argument("--json", action="store_true")

    sp = add("settings", cmd_settings, "show the effective settings and where each comes from")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--markdown", action="store_true", help="print the documentation table of all settings")

    sp = add("db", cmd_db, "database maintenance")
    sp.add_argument("action", choices=["upgrade"], help="upgrade: apply migrations")

    sp = add(
        "demo",
        cmd_demo,
        "crash -> verified fix -> local pull request on a bundled sample project, in a throw-away home",
    )
    sp.add_argument("--keep", action="store_true", help="keep the demo home folder afterwards")
    sp.add_argument(
        "--model",
        help="use a real model, e.g. openai:gpt-4.1 (default with ANTHROPIC_API_KEY set: anthropic)",
    )
    sp.add_argument("--base-url", help="base URL of an OpenAI-compatible server for --model openai:<name>")

    sp = add(
        "eval",
        cmd_eval,
        "measure fix quality: run the pipeline up to VERIFY on a folder of crash cases with known fixes",
    )
    sp.add_argument("cases_dir", metavar="CASES_DIR", help="a folder of case folders (each with case.json)")
    sp.add_argument(
        "--model",
        help="gold (apply each case's fix_commit: a harness self-check), replay:<transcript.json>, "
        "anthropic:<name> or openai:<name>",
    )
    sp.add_argument("--base-url", help="base URL of an OpenAI-compatible server for --model openai:<name>")
    sp.add_argument(
        "--agent", help="let an agent CLI do FIX: claude-code, codex or aider (analysis by --model)"
    )
    sp.add_argument("--json", action="store_true", help="print a JSON list, one object per case")
    sp.add_argument("--jobs", type=int, default=1, help="cases run in parallel (default 1)")
    sp.add_argument(
        "--resume", nargs="?", const="latest", metavar="RESULTS_DIR",
        help="continue an earlier run (default: the newest CASES_DIR/results/*), skipping finished cases",
    )  # fmt: skip
    sp.add_argument("--runs", type=int, default=3, help="reproducer runs on each build (k, default 3)")
    sp.add_argument("--attempts", type=int, default=3, help="FIX passes per case (gold: always 1)")
    sp.add_argument("--case", action="append", metavar="ID", help="run only this case; repeatable")
    sp.add_argument("--keep-work", action="store_true", help="keep each case's working folder (clone, home)")
    sp.add_argument(
        "--prepare", metavar="DEST",
        help="only write the cases to DEST as ordinary cases (recipes become git repositories)",
    )  # fmt: skip

    sp = add("prs", cmd_prs, "list pull requests, local and on the forge (verified fixes waiting for review)")
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
        settings = (
            load_settings(args)
            if args.func is not cmd_parse
            else load(config=None, flags={"home": args.home} if args.home else None)
        )
        from crashpilot.app import forge_tokens, model_keys

        secrets = [*model_keys().values(), *forge_tokens().values()]  # redacted from every log line
        logsetup.configure(settings.home, settings["log.level"], console=bool(args.verbose), secrets=secrets)
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
        print(
            f"crashpilot: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (details in the log file)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("crashpilot: interrupted", file=sys.stderr)
        return 130
    finally:
        close_opened()
