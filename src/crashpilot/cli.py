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
            _print_report(r)
    return EXIT_UNRECOGNISED if unrecognised else EXIT_OK


def _print_report(r: Any) -> None:
    print(f"format:     {r.format}")
    if r.error:
        print(f"error:      {r.error}")
    print(f"kind:       {r.crash_kind or '-'}" + (f" ({r.exception_code})" if r.exception_code else ""))
    if r.message:
        print(f"message:    {r.message.splitlines()[0][:200]}")
    if r.revision:
        print(f"revision:   {r.revision}")
    print(f"signature:  {r.signature}")
    fa = r.first_app_frame
    if fa:
        loc = f" at {fa.file}:{fa.line}" if fa.file else ""
        print(f"first app:  {fa.function or fa.module}{loc}")
    for i, f in enumerate(r.frames[:20]):
        mark = "*" if f.in_app else " "
        where = f.function or (f"{f.module}+{f.module_offset}" if f.module_offset else f.address) or "?"
        loc = f"  {f.file}:{f.line}" if f.file else ""
        print(f"  {mark}#{i:<3} {where}{loc}")
    if len(r.frames) > 20:
        print(f"   ... {len(r.frames) - 20} more frames")


# --- the parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="crashpilot",
        description="Turn C/C++ crashes into review-ready pull requests.",
    )
    p.add_argument("--version", action="version", version=f"crashpilot {__version__}")
    p.add_argument("--config", help="path to crashpilot.toml (default: search from the current folder up)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug output to the console")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sp = sub.add_parser("parse", help="read one crash file and print what crashpilot sees in it")
    sp.add_argument("file", help="crash report file (text; UTF-8 or UTF-16)")
    sp.add_argument("--repo", help="project repository: map paths into it and mark its frames in-app")
    sp.add_argument("--json", action="store_true", help="print a JSON list, one object per report")
    sp.set_defaults(func=cmd_parse, needs_settings=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except CrashpilotError as exc:
        log.debug("command failed", exc_info=True)
        print(f"crashpilot: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("crashpilot: interrupted", file=sys.stderr)
        return 130
