"""Shared by the command modules: settings and store from the flags, JSON output, times."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from crashpilot.errors import CrashpilotError

log = logging.getLogger("crashpilot.cli")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNRECOGNISED = 0, 1, 2, 3


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def load_settings(args: argparse.Namespace) -> Any:
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


_OPENED: list[Any] = []  # stores a command opened; `main` closes them when the command ends


def open_app_from(args: argparse.Namespace, upgrade: bool = True) -> Any:
    from crashpilot.app import open_app

    app = open_app(load_settings(args), upgrade=upgrade)
    _OPENED.append(app)
    return app


def close_opened() -> None:
    """Dispose of the database engines the command opened (their pooled connections)."""
    while _OPENED:
        _OPENED.pop().engine.dispose()


def when(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else value.isoformat()
    return text.replace("+00:00", "Z")[:19].replace("T", " ")


def read(args: argparse.Namespace, query: Any) -> Any:
    """Run a read-only ``query(conn)`` on the store; with ``--json`` print its result and return None."""
    app = open_app_from(args)
    with app.engine.connect() as conn:
        data = query(conn)
    if getattr(args, "json", False):
        print_json(data)
        return None
    return data


def print_report(r: dict[str, Any]) -> None:
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
        where = (
            f.get("function")
            or (f"{f.get('module')}+{f['module_offset']}" if f.get("module_offset") else f.get("address"))
            or "?"
        )
        loc = f"  {f['file']}:{f['line']}" if f.get("file") else ""
        print(f"  {mark}#{i:<3} {where}{loc}")
    if len(frames) > 20:
        print(f"   ... {len(frames) - 20} more frames")


def project_repo(app: Any) -> Path:
    repo = app.repo
    if repo is None:
        raise CrashpilotError("no project repository (project.repo, or run from inside it)")
    return Path(repo)
