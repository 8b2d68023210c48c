"""Commands that take crashes in and work them: ingest, run, worker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from crashpilot import __version__
from crashpilot.cli.common import EXIT_OK, open_app_from, print_json
from crashpilot.errors import CrashpilotError


def cmd_ingest(args: argparse.Namespace) -> int:
    from crashpilot.ingest.watch import ingest_paths

    app = open_app_from(args)
    bar = _Progress(enabled=not args.json and sys.stderr.isatty())
    results = ingest_paths(
        app.engine, app.blobs, [Path(p) for p in args.paths], progress=bar.update, **app.ingest_options()
    )
    bar.close()
    group_ids: list[int] = sorted({g for r in results for g in r.group_ids})
    summary: dict[str, Any] = {
        "files": len(results),
        "new_reports": sum(1 for r in results if not r.duplicate and not r.quarantined),
        "duplicates": sum(1 for r in results if r.duplicate),
        "quarantined": sum(1 for r in results if r.quarantined),
        "groups": group_ids,
    }
    if args.json:
        print_json({**summary, "results": [_result_json(r) for r in results]})
    else:
        for r in results:
            if r.quarantined:
                print(f"quarantined {r.source}: {r.reason}")
        print(
            f"{summary['files']} file(s): {summary['new_reports']} new, {summary['duplicates']} already known, "
            f"{summary['quarantined']} quarantined; groups {', '.join(map(str, group_ids)) or '-'}"
        )
    return EXIT_OK


def _result_json(r: Any) -> dict[str, Any]:
    return {
        "source": r.source,
        "sha256": r.sha256,
        "duplicate": r.duplicate,
        "quarantined": r.quarantined,
        "reason": r.reason,
        "report_ids": list(r.report_ids),
        "group_ids": list(r.group_ids),
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

    app = open_app_from(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    folders = appmod.watch_folders(app, args.watch or [])
    if not folders and not app.settings["queue.folder"] and args.no_workers:
        raise CrashpilotError(
            "nothing to do: no watch folders (use --watch DIR or [watch] folders) and --no-workers"
        )
    print(f"crashpilot {__version__}: home {app.settings.home}", flush=True)
    for path, glob in folders:
        print(f"watching {path} ({glob})", flush=True)

    def on_ingested(result: Any) -> None:
        if result.quarantined:
            print(f"quarantined {result.source}: {result.reason}", flush=True)
        elif not result.duplicate:
            print(f"ingested {result.source} -> group {', '.join(map(str, result.group_ids))}", flush=True)

    try:
        appmod.run(
            app, stop, extra_watch=args.watch or [], workers=not args.no_workers, on_ingested=on_ingested
        )
    except KeyboardInterrupt:
        stop.set()
    print("stopped", flush=True)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from crashpilot import app as appmod

    app = open_app_from(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    workers = appmod.make_workers(
        app, count=args.count, stages=args.stages.split(",") if args.stages else None
    )
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
