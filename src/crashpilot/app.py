"""Wiring: open the store from settings, and run intake + workers together (``crashpilot run``).

The pipeline itself is the FLOW table in flow.py; this module only starts the parts that move
crashes along it: the folder watcher and the request-queue folder (INGEST), and workers that run
the stage handlers of ``HANDLERS``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from crashpilot.flow import Stage
from crashpilot.ingest.dumps import SymbolOptions
from crashpilot.ingest.limits import Limits
from crashpilot.settings import Settings
from crashpilot.store import migrate
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import make_engine

log = logging.getLogger(__name__)


@dataclass
class App:
    """What every command needs: settings, the database and the raw-report store."""

    settings: Settings
    engine: Engine
    blobs: BlobStore

    @property
    def limits(self) -> Limits:
        return Limits(self.settings["limits.text_max_bytes"], self.settings["limits.dump_max_bytes"])

    @property
    def repo(self) -> Path | None:
        repo = self.settings.repo
        return repo if repo is not None and (repo / ".git").exists() else None

    def ingest_options(self) -> dict[str, Any]:
        return {"limits": self.limits, "repo": self.repo, "in_app_paths": tuple(self.settings["project.in_app"]) if self.repo else (), "symbols": self.symbols}

    @property
    def symbols(self) -> SymbolOptions:
        """Where dumps find their symbols and tools (settings ``symbols.*``)."""
        s = self.settings
        folder, binary = s["symbols.folder"], s["symbols.binary"]
        return SymbolOptions(
            folder=Path(folder).expanduser() if folder else None,
            stackwalker=s["symbols.stackwalker"] or None,
            gdb=s["symbols.gdb"] or "gdb",
            binary=Path(binary).expanduser() if binary else None,
            timeout=s["symbols.timeout"],
        )


def apply_grouping(settings: Settings) -> None:
    """Make the grouping rules of ``settings`` the ones this process signs and joins with."""
    from crashpilot import signature
    from crashpilot.signature import fuzzy, rules

    rules.use_extra_lists(settings["grouping.lists_folder"] or None)
    signature.configure(settings["grouping.depth"])
    fuzzy.configure(settings["grouping.fuzzy_threshold"])


def open_app(settings: Settings, upgrade: bool = True) -> App:
    apply_grouping(settings)
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    if upgrade:
        migrate.upgrade(engine)
    return App(settings=settings, engine=engine, blobs=BlobStore(home / "blobs"))


def stage_handlers() -> dict[Stage, Callable[..., Any]]:
    """The stage handlers this version has: stage -> ``run(job, ctx) -> Outcome``."""
    from crashpilot.stages import analyse, build, fix, publish, track, verify

    return {
        Stage.ANALYSE: analyse.run,
        Stage.FIX: fix.run,
        Stage.BUILD: build.run,
        Stage.VERIFY: verify.run,
        Stage.PUBLISH: publish.run,
        Stage.TRACK: track.run,
    }


def model_keys() -> dict[str, str]:
    """The model API keys from the environment (read here and in the CLI only, never in library code)."""
    import os

    return {k: os.environ[k] for k in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY") if os.environ.get(k)}


def make_backends(
    app: App,
    *,
    model: Any = None,
    model_name: str | None = None,
    base_url: str | None = None,
    keys: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the stages get in ``ctx.backends``: the scrubbed process environment and the model factory.

    ``model`` is a ready factory ``(budget, record) -> Model`` (the demo's replay); otherwise one is
    built from ``model.name`` (or ``model_name``) with the key from ``keys`` (default: the environment).
    """
    import os

    from crashpilot.costs import Prices
    from crashpilot.proc import clean_env
    from crashpilot.stages.setup import model_factory, model_spec

    Prices.from_settings(app.settings)  # a malformed costs.prices entry stops start-up (ConfigError)
    backends: dict[str, Any] = {"env": clean_env(os.environ)}
    if model is None:
        spec = model_spec(app.settings, model_keys() if keys is None else keys, name=model_name, base_url=base_url)
        model = model_factory(spec) if spec is not None else None
    if model is not None:
        backends["model"] = model
    backends.update(agent_backends(app.settings, os.environ))
    backends.update(forge_backends(app, forge_tokens()))
    return backends


def forge_tokens() -> dict[str, str]:
    """Forge tokens from the environment (``GITHUB_TOKEN``); read here and in the CLI only."""
    import os

    return {k: os.environ[k] for k in ("GITHUB_TOKEN",) if os.environ.get(k)}


def forge_backends(app: App, tokens: Mapping[str, str]) -> dict[str, Any]:
    """``{"forges": Forges}`` when ``forge.kind`` is not local (then a repository and token are needed)."""
    if str(app.settings["forge.kind"] or "local") == "local":
        return {}
    from crashpilot.forge_setup import make_forges
    from crashpilot.projects import RepoMap

    repos = RepoMap.from_settings(app.settings, app.repo) if app.repo is not None else None
    return {"forges": make_forges(app.settings, tokens, repos)}


def agent_backends(settings: Settings, environ: Mapping[str, str]) -> dict[str, Any]:
    """The FIX agent CLI (``agent.backend``) and the one key it gets, read from ``environ``."""
    name = str(settings["agent.backend"] or "builtin")
    if name == "builtin":
        return {}
    from crashpilot.backends.agents import make_agent

    agent = make_agent(
        name,
        executable=settings["agent.executable"] or None,
        model=settings["agent.model"] or None,
        key_env=settings["agent.key_env"] or None,
    )
    out: dict[str, Any] = {"agent": agent}
    key_env = getattr(agent, "key_env", None)
    if key_env and environ.get(key_env):
        out["agent_key"] = environ[key_env]
    return out


def make_workers(
    app: App, count: int = 1, stages: list[str] | None = None, backends: Mapping[str, Any] | None = None
) -> list[Any]:
    from crashpilot.worker import Worker

    if backends is None:
        backends = make_backends(app)
    handlers = stage_handlers()
    if stages:
        wanted = {Stage(s) for s in stages}
        handlers = {k: v for k, v in handlers.items() if k in wanted}
    return [
        Worker(
            app.engine,
            handlers,
            settings=app.settings,
            lease_seconds=app.settings["worker.lease_seconds"],
            limits={Stage.BUILD.value: app.settings["worker.build_slots"]},
            limit_scope="host",
            max_attempts_fix=app.settings["worker.max_fix_attempts"],
            backends=backends,
        )
        for _ in range(count)
    ]


def queue_approvals(app: App) -> Any:
    """The request-queue folder's approval files (``approvals/approval_<id>.json``), or None."""
    if not app.settings["queue.folder"] or app.repo is None:
        return None
    from crashpilot.git import Identity
    from crashpilot.ingest.approvals import Approvals

    modules = [app.repo / m for m in app.settings["project.modules"]]
    identity = Identity(app.settings["bot.name"], app.settings["bot.email"])
    return Approvals(app.settings["queue.folder"], app.engine, app.repo, identity, modules)


def watch_folders(app: App, extra: list[str] = ()) -> list[tuple[Path, str]]:  # type: ignore[assignment]
    folders = list(app.settings.watch_folders())
    folders += [(Path(p).expanduser().resolve(), "*") for p in extra]
    return folders


def run(
    app: App,
    stop: threading.Event,
    *,
    extra_watch: list[str] = (),  # type: ignore[assignment]
    workers: bool = True,
    on_ingested: Callable[[Any], None] | None = None,
    queue_poll: float = 2.0,
    backends: Mapping[str, Any] | None = None,
    worker_count: int = 1,
) -> None:
    """Watch, take in, and work the queue until ``stop`` is set."""
    from crashpilot.ingest.queue_folder import RequestQueue
    from crashpilot.ingest.watch import Watcher

    folders = watch_folders(app, extra_watch)
    threads: list[threading.Thread] = []
    watcher = None
    if folders:
        watcher = Watcher(
            app.engine,
            app.blobs,
            folders,
            poll=app.settings["watch.poll"],
            recursive=app.settings["watch.recursive"],
            settle_seconds=app.settings["watch.settle_seconds"],
            on_ingested=on_ingested,
            **app.ingest_options(),
        )
        watcher.start()
        log.info("watching %s", ", ".join(f"{p}/{g}" for p, g in folders))
    if app.settings["queue.folder"]:
        queue = RequestQueue(app.settings["queue.folder"], app.engine, app.blobs, **app.ingest_options())
        approvals = queue_approvals(app)

        def poll_queue() -> None:
            while not stop.is_set():
                try:
                    for result in queue.scan():
                        if on_ingested and not result.duplicate:
                            on_ingested(result)
                    if approvals is not None:
                        approvals.scan()
                except Exception:  # the queue folder must never stop the daemon
                    log.exception("request-queue scan failed")
                stop.wait(queue_poll)

        threads.append(threading.Thread(target=poll_queue, name="request-queue", daemon=True))
    if workers:
        for w in make_workers(app, count=worker_count, backends=backends):
            threads.append(threading.Thread(target=w.run, args=(stop,), name="worker", daemon=True))
    for t in threads:
        t.start()
    try:
        stop.wait()
    finally:
        stop.set()  # also when Ctrl-C interrupted the wait: workers finish their job and leave
        if watcher is not None:
            watcher.stop()
        for t in threads:
            t.join(timeout=30)


def retry_group(app: App, group_id: int) -> int:
    """Queue ANALYSE again for a group (after a rules change, a fix of the environment ...)."""
    import sqlalchemy as sa

    from crashpilot.errors import CrashpilotError
    from crashpilot.store import queue, schema
    from crashpilot.store.db import utcnow
    from crashpilot.store.events import record_event

    g = schema.crash_groups
    with app.engine.begin() as conn:
        row = conn.execute(sa.select(g.c.status).where(g.c.id == group_id)).first()
        if row is None:
            raise CrashpilotError(f"no group {group_id}")
        conn.execute(sa.update(g).where(g.c.id == group_id).values(status="new", status_reason=None, updated_at=utcnow()))
        record_event(conn, "group", group_id, "retry", from_state=row.status, to_state="new", actor="cli")
        return queue.enqueue(conn, Stage.ANALYSE.value, group_id=group_id, payload={"reason": "manual retry"}, actor="cli")
