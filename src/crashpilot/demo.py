"""``crashpilot demo``: the main job on the embedded default, from a real crash to a local pull request.

In a throw-away home: the bundled sample C++ project (minirealm) is copied out, committed to a
fresh git repository and built with the system compiler; it is run on its crash input under gdb
(AddressSanitizer when there is no gdb) and the crash report is written into a watched folder,
as a crashing server would. The real watcher takes it in and groups it; real workers analyse,
fix, rebuild and verify it with the reproducer; a local pull request is recorded. Each stage is
printed as it happens, with its time.

With no model key the model is a recorded conversation (``samples/transcripts/minirealm.json``)
served on 127.0.0.1 by :class:`~crashpilot.replay.ReplayServer` to the real ``anthropic`` SDK:
the same backend and agent code run, and the demo says so on screen.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from crashpilot import app as appmod
from crashpilot.errors import CrashpilotError
from crashpilot.git import Git, Identity
from crashpilot.proc import run
from crashpilot.settings import load
from crashpilot.store.groups import list_groups
from crashpilot.store.runs import latest_pr, latest_run

Out = Callable[[str], None]

CRASH_INPUT = "reproducer/crash_input.txt"
BINARY = "build/minirealm"
DEFAULT_MODEL = "anthropic:claude-sonnet-4-5"
TRANSCRIPT = "minirealm.json"
DEVELOPER = Identity("minirealm developers", "dev@minirealm.invalid")
STAGE_OF = {
    "analysing": "ANALYSE",
    "fixing": "FIX",
    "building": "BUILD",
    "verifying": "VERIFY",
    "publishing": "PUBLISH",
    "pr_open": "TRACK",
}


def _copy(src: Traversable, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_dir():
            _copy(item, dest / item.name)
        else:
            (dest / item.name).write_bytes(item.read_bytes())


def prepare_project(dest: Path) -> Git:
    """The sample project copied to ``dest`` and committed on ``main`` in a new repository."""
    _copy(resources.files("crashpilot").joinpath("samples", "project"), dest)
    git = Git.init(dest)
    git.commit("minirealm: a tiny game server", DEVELOPER)
    return git


def build_project(root: Path, *args: str, timeout: float = 300) -> float:
    res = run(["make", "-j2", *args], cwd=root, timeout=timeout, merge_output=True)
    if not res.ok:
        raise CrashpilotError(f"building the sample project failed:\n{res.output[-2000:]}")
    return res.duration


def crash_report(root: Path) -> tuple[str, str]:
    """Run the built program on its crash input and return (how, the crash text it produced)."""
    if shutil.which("gdb"):
        res = run(
            ["gdb", "-nx", "-batch", "-ex", "run", "-ex", "bt", "--args", BINARY, CRASH_INPUT],
            cwd=root,
            timeout=120,
            merge_output=True,
        )
        if "SIGSEGV" in res.output:
            return "gdb", res.output
    build_project(root, "SANITIZE=address", "BUILD=build-asan")
    res = run(["build-asan/minirealm", CRASH_INPUT], cwd=root, timeout=120, merge_output=True)
    if "AddressSanitizer" not in res.output:
        raise CrashpilotError("the sample program did not crash on its crash input")
    return "AddressSanitizer", res.output


def transcript_path() -> Path:
    return Path(str(resources.files("crashpilot").joinpath("samples", "transcripts", TRANSCRIPT)))


@contextmanager
def replayed_model() -> Iterator[tuple[Any, str]]:
    """A model factory backed by the recorded conversation on a loopback server, and its URL."""
    from crashpilot.backends.models import RetryPolicy, model_class
    from crashpilot.replay import ReplayServer, load_transcript

    cls = model_class("anthropic")
    # ANALYSE and FIX are separate conversations: the analysis call's tool use gets no result.
    with ReplayServer(load_transcript(transcript_path())) as server:

        def make(budget: Any, record: Any) -> Any:
            return cls(
                "claude-recorded",
                api_key="recorded-conversation",
                base_url=server.anthropic_base_url,
                timeout=30.0,
                retry=RetryPolicy(max_retries=1, base_delay=0.1),
                budget=budget,
                record=record,
            )

        yield make, server.url


def _wait_for(cond: Callable[[], bool], timeout: float, poll: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(poll)
    return cond()


def main(
    home: Path | None = None,
    keep: bool = False,
    out: Out = print,
    *,
    model: str | None = None,
    base_url: str | None = None,
    keys: Mapping[str, str] | None = None,
    timeout: float = 110.0,
) -> int:
    """Run the demo; ``keys`` are the model API keys (the CLI reads them from the environment)."""
    keys = dict(keys or {})
    made = home is None
    home = (home or Path(tempfile.mkdtemp(prefix="crashpilot-demo-"))).resolve()
    started = time.monotonic()
    timings: list[tuple[str, float]] = []

    def stamp() -> str:
        return f"[{time.monotonic() - started:5.1f}s]"

    project, crashes = home / "minirealm", home / "incoming-crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    prepare_project(project)
    out(f"{stamp()} sample project minirealm committed on main in {project}")
    seconds = build_project(project)
    out(f"{stamp()} built with the system compiler in {seconds:.1f}s (make)")
    how, text = crash_report(project)
    out(f"{stamp()} {BINARY} {CRASH_INPUT} crashed (SIGSEGV); report taken with {how}")

    use_real = model is not None or bool(keys.get("ANTHROPIC_API_KEY"))
    flags: dict[str, Any] = {"home": str(home), "watch.folders": [str(crashes)], "watch.settle_seconds": 0.3}
    if use_real:
        flags["model.name"] = model or DEFAULT_MODEL
        if base_url:
            flags["model.base_url"] = base_url
    settings = load(config=project / "crashpilot.toml", env={}, flags=flags)
    app = appmod.open_app(settings)
    out(f"{stamp()} crashpilot home {home} (SQLite), watching {crashes}")

    with _model_backends(app, use_real, keys, out) as backends:
        stop = threading.Event()
        ingested: list[Any] = []

        def on_ingested(result: Any) -> None:
            ingested.append(result)
            out(
                f"{stamp()} INGEST  {Path(result.source).name} -> group {', '.join(map(str, result.group_ids))} (new crash group)"
            )

        runner = threading.Thread(
            target=appmod.run,
            args=(app, stop),
            kwargs={"on_ingested": on_ingested, "backends": backends},
            daemon=True,
        )
        runner.start()
        try:
            time.sleep(0.3)  # let the watcher's observer start
            target = crashes / "minirealm-crash.txt"
            data = text.encode("utf-8")
            with open(target, "wb") as fh:  # written in pieces, as a crashing process does
                for i in range(0, len(data), 512):
                    fh.write(data[i : i + 512])
                    fh.flush()
            out(f"{stamp()} crash report written to {target}")
            if not _wait_for(lambda: bool(ingested), 30):
                out("demo: the crash file was not taken in within 30 s")
                return 1
            group_id = ingested[0].group_ids[0]
            state = _follow(app, group_id, out, stamp, timings, started + timeout)
        finally:
            stop.set()
            runner.join(timeout=30)
    code = _summary(app, group_id, state, out, timings, time.monotonic() - started)
    if made and not keep:
        shutil.rmtree(home, ignore_errors=True)
        out("the throw-away home is removed; `crashpilot demo --keep` keeps it to review, approve or reject the fix")
    else:
        cfg = f"--home {home} --config {home / 'minirealm' / 'crashpilot.toml'}"
        out(f"review it: crashpilot {cfg} show {group_id}; then approve {group_id} or reject {group_id}")
    return code


@contextmanager
def _model_backends(app: Any, use_real: bool, keys: Mapping[str, str], out: Out) -> Iterator[dict[str, Any]]:
    if use_real:
        out(f"model: {app.settings['model.name']} (a real model; its calls are stored in exchanges)")
        yield appmod.make_backends(app, keys=keys)
        return
    with replayed_model() as (factory, url):
        out(
            f"model: none configured, so this demo REPLAYS A RECORDED CONVERSATION ({TRANSCRIPT}) served on {url}"
        )
        out(
            "       to the real anthropic SDK and the same agent code; set ANTHROPIC_API_KEY to use a real model"
        )
        yield appmod.make_backends(app, model=factory)


def _transitions(app: Any, group_id: int, after: int) -> list[tuple[int, str]]:
    """The group's status changes after event ``after``: (event id, new status), oldest first."""
    from crashpilot.store.events import list_events

    with app.engine.connect() as conn:
        events = list_events(conn, "group", group_id)
    return [(e.id, str(e.to_state)) for e in events if e.id > after and e.kind == "status_changed"]


def _follow(
    app: Any,
    group_id: int,
    out: Out,
    stamp: Callable[[], str],
    timings: list[tuple[str, float]],
    deadline: float,
) -> str:
    """Print each stage as the group moves through it, until a pull request is open or it stops.

    Read from the group's event log, so a stage that takes less than a poll is still shown.
    """
    current, since, seen = "new", time.monotonic(), 0
    while time.monotonic() < deadline:
        for event_id, status in _transitions(app, group_id, seen):
            seen = event_id
            now = time.monotonic()
            if current in STAGE_OF:
                timings.append((STAGE_OF[current], now - since))
            current, since = status, now
            if status in STAGE_OF and status != "pr_open":
                out(f"{stamp()} {STAGE_OF[status]:<7} group {group_id}")
            if status in ("pr_open", "needs_human", "fixed", "rejected"):
                return status
        time.sleep(0.05)
    return current


def _summary(
    app: Any, group_id: int, state: str, out: Out, timings: list[tuple[str, float]], elapsed: float
) -> int:
    with app.engine.connect() as conn:
        pr = latest_pr(conn, group_id)
        run_row = latest_run(conn, group_id)
    out("")
    if state != "pr_open" or pr is None:
        with app.engine.connect() as conn:
            reason = next(
                (g.get("status_reason") or "" for g in list_groups(conn) if g["id"] == group_id), ""
            )
        out(f"demo: group {group_id} ended in {state}, no pull request: {reason}")
        return 1
    fix = (run_row or {}).get("result", {}).get("fix") or {}
    out(f"local pull request {pr['id']} for group {group_id}: {pr['title']}")
    out(
        f"  branch:        {pr['branch']} at {pr['head_sha'][:12]} (base {pr['base']}), committed by crashpilot"
    )
    out(f"  verification:  {pr['verification']}")
    out(f"  root cause:    {fix.get('root_cause', '-')}")
    out(f"  change:        {', '.join(fix.get('files') or [])} ({fix.get('changed_lines', 0)} lines)")
    if run_row:
        out(f"  model tokens:  {run_row['input_tokens']} in, {run_row['output_tokens']} out")
    out(f"crash -> verified fix -> local pull request in {elapsed:.1f} s")
    out("timings per stage: " + ", ".join(f"{name} {secs:.1f}s" for name, secs in timings))
    return 0
