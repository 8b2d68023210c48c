"""Money on a real database: costs stored per call and per run, spend by UTC period, and the caps
holding a new group back (status, reason, one log line, a delayed job, no run, no model call)."""

from __future__ import annotations

import logging
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from conftest import Groups  # type: ignore[import-not-found]
from crashpilot.app import stage_handlers
from crashpilot.backends.models import Exchange
from crashpilot.cli import main
from crashpilot.costs import Caps, hold_for
from crashpilot.errors import BudgetExceeded, PermanentError
from crashpilot.flow import Stage
from crashpilot.settings import Settings, load
from crashpilot.stages.setup import Pipeline
from crashpilot.store import queue, runs
from crashpilot.store.db import utcnow, write_transaction
from crashpilot.store.exchanges import insert_exchange, list_exchanges
from crashpilot.store.jobs import list_jobs
from crashpilot.store.schema import exchanges, jobs
from crashpilot.store.schema import runs as runs_table
from crashpilot.store.usage import spend_since
from crashpilot.worker import Context, Worker


def spend(engine: Engine, cost: float | None, tokens: int = 1000, *, days_ago: int = 0) -> None:
    with write_transaction(engine) as conn:
        xid = insert_exchange(
            conn, provider="anthropic", model="m", request={}, input_tokens=tokens, output_tokens=0, cost=cost
        )
        if days_ago:
            conn.execute(
                exchanges.update().where(exchanges.c.id == xid).values(at=utcnow() - timedelta(days=days_ago))
            )


def project(tmp_path: Path) -> Path:
    repo = tmp_path / "proj"
    repo.mkdir(parents=True)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    (repo / "a.c").write_text("int main(void) { return 0; }\n")
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "."], ["git", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=repo, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    return repo


def settings_for(tmp_path: Path, db_url: str, **flags: Any) -> Settings:
    return load(
        env={},
        flags={
            "home": str(tmp_path / "home"),
            "project.repo": str(project(tmp_path)),
            "database.url": db_url,
            "model.name": "anthropic:m",
            **flags,
        },
    )


class Calls:
    """A model factory that counts how often a model was asked for and then fails for good."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, budget: Any, record: Any) -> Any:
        self.n += 1
        raise PermanentError("the stand-in model refuses")


def worker(engine: Engine, settings: Settings, model: Calls) -> Worker:
    return Worker(
        engine,
        {Stage.ANALYSE: stage_handlers()[Stage.ANALYSE]},
        settings=settings,
        backends={"env": {}, "model": model},
    )


def make_ready(engine: Engine) -> None:
    """Let every queued job run now (what the clock would do at the recheck)."""
    with engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.status == "queued").values(not_before=utcnow()))


def test_spend_counts_by_period_and_unpriced_calls_count_tokens_only(engine: Engine) -> None:
    spend(engine, 1.25, 100)
    spend(engine, None, 400)
    spend(engine, 7.0, 5000, days_ago=2)
    now = utcnow()
    with engine.connect() as conn:
        today = spend_since(conn, now.replace(hour=0, minute=0, second=0, microsecond=0))
        everything = spend_since(conn, now - timedelta(days=30))
    assert (today.calls, today.tokens, today.cost, today.unpriced_calls) == (2, 500, pytest.approx(1.25), 1)
    assert (everything.calls, everything.tokens, everything.cost) == (3, 5500, pytest.approx(8.25))


def test_hold_for_reads_the_stored_spend(engine: Engine) -> None:
    caps = Caps(daily_usd=2.0)
    assert hold_for(engine, caps) is None
    spend(engine, 1.5)
    spend(engine, 9.0, days_ago=1)  # yesterday's spend does not count today
    assert hold_for(engine, caps) is None
    spend(engine, 0.75)
    hold = hold_for(engine, caps)
    assert hold is not None and hold.reason.startswith("daily cost cap of $2.00 reached ($2.25 spent today)")
    assert hold_for(engine, Caps(daily_tokens=2000)) is not None  # 2 calls of 1000 tokens today
    assert hold_for(engine, Caps(daily_tokens=2001)) is None
    assert hold_for(engine, Caps()) is None


def test_the_recorder_prices_each_call_and_the_run_sums_them(
    engine: Engine, groups: Groups, tmp_path: Path, db_url: str
) -> None:
    settings = settings_for(tmp_path, db_url, **{"costs.prices": ["m=3/15"]})
    gid = groups.add("sig-cost")
    with write_transaction(engine) as conn:
        run_id = runs.start_run(conn, gid, branch="crashpilot/1", base_revision=None)
    p = Pipeline(Context(engine, settings, "w1", {"env": {}}))
    record = p.recorder(run_id, gid)

    def ex(model: str, tokens_in: int, tokens_out: int) -> Exchange:
        return Exchange("anthropic", model, {}, None, tokens_in, tokens_out, 0.1, 0.0, 1)

    record(ex("m", 1_000_000, 100_000))
    record(ex("m", 2000, 0))
    with write_transaction(engine) as conn:
        used = runs.sum_tokens(conn, run_id)
        stored = [x.cost for x in list_exchanges(conn, run_id=run_id)]
        run_cost = conn.execute(sa.select(runs_table.c.cost).where(runs_table.c.id == run_id)).scalar_one()
    assert stored == [pytest.approx(4.5), pytest.approx(0.006)]
    assert used["cost"] == pytest.approx(4.506) and run_cost == pytest.approx(4.506)
    record(ex("no-price-model", 10, 10))  # unknown price: cost null, never 0
    with engine.connect() as conn:
        assert list_exchanges(conn, run_id=run_id)[-1].cost is None


def test_past_the_daily_cap_a_new_group_waits_and_says_so(
    engine: Engine,
    groups: Groups,
    tmp_path: Path,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_for(tmp_path, db_url, **{"costs.daily_cap_usd": 5.0, "costs.recheck_minutes": 10})
    spend(engine, 5.12)
    gid = groups.add("sig-waits")
    with engine.begin() as conn:
        queue.enqueue(conn, Stage.ANALYSE.value, group_id=gid)
    model = Calls()
    w = worker(engine, settings, model)
    caplog.set_level(logging.DEBUG, logger="crashpilot.stages.analyse")
    started = utcnow()
    assert w.run_once()
    status, reason = groups.status(gid)
    assert status == "waiting_budget"
    assert reason == "daily cost cap of $5.00 reached ($5.12 spent today); resumes at 00:00 UTC"
    with engine.connect() as conn:
        [waiting] = list_jobs(conn, status="queued", group_id=gid)
        assert conn.execute(sa.select(sa.func.count()).select_from(runs_table)).scalar_one() == 0
    assert waiting.stage == "analyse" and waiting.payload["budget_wait"] == "daily_usd"
    # it looks again at the recheck (10 min) or at midnight UTC, whichever comes first
    assert timedelta(seconds=1) <= waiting.not_before - started <= timedelta(minutes=10, seconds=5)
    assert not w.run_once()  # nothing is ready meanwhile
    make_ready(engine)
    assert w.run_once()  # still past the cap: waits again, and is not logged again
    assert groups.status(gid)[0] == "waiting_budget"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "waits:" in r.getMessage()]
    assert len(warnings) == 1 and "daily cost cap of $5.00" in warnings[0].getMessage()
    assert model.n == 0  # nothing was spent

    # crashpilot groups shows the status and why
    assert main(["groups", "--home", str(settings.home), "--database-url", db_url]) == 0
    out = capsys.readouterr().out
    assert "waiting_budget" in out
    assert "1 group(s) wait for the budget: daily cost cap of $5.00 reached ($5.12 spent today)" in out

    # a higher cap (a restart with new settings) lets the group go on: a run starts
    w2 = worker(engine, settings_for(tmp_path / "later", db_url, **{"costs.daily_cap_usd": 50.0}), model)
    make_ready(engine)
    assert w2.run_once()
    assert model.n == 1
    assert groups.status(gid)[0] == "needs_human"  # the stand-in model refused: the run went to a human
    with engine.connect() as conn:
        assert runs.latest_run(conn, gid) is not None


def test_without_a_cap_nothing_waits(engine: Engine, groups: Groups, tmp_path: Path, db_url: str) -> None:
    settings = settings_for(tmp_path, db_url)
    spend(engine, 10_000.0, 10**9)
    gid = groups.add("sig-free")
    with engine.begin() as conn:
        queue.enqueue(conn, Stage.ANALYSE.value, group_id=gid)
    model = Calls()
    assert worker(engine, settings, model).run_once()
    assert model.n == 1 and groups.status(gid)[0] == "needs_human"


def test_a_per_run_dollar_budget_becomes_a_token_limit_at_the_dearer_rate(
    engine: Engine, groups: Groups, tmp_path: Path, db_url: str
) -> None:
    gid = groups.add("sig-run-usd")
    with write_transaction(engine) as conn:
        run_id = runs.start_run(conn, gid, branch="crashpilot/1", base_revision=None)
        insert_exchange(conn, provider="anthropic", model="m", request={}, run_id=run_id, cost=0.4)
        run = runs.get_run(conn, run_id)
    assert run is not None

    def budget(**flags: Any) -> Any:
        settings = settings_for(tmp_path / str(len(flags)) / str(abs(hash(str(flags)))), db_url, **flags)
        return Pipeline(Context(engine, settings, "w1", {"env": {}})).budget(run)

    priced = {"costs.prices": ["m=3/15"], "budget.usd": 1.0}
    assert budget(**priced).max_tokens == 40_000  # $0.60 left at $15 per million output tokens
    assert budget(**priced, **{"budget.tokens": 1000}).max_tokens == 1000  # the smaller limit wins
    assert budget(**{"budget.usd": 1.0}).max_tokens == 400_000  # no price: only the token budget counts
    with pytest.raises(BudgetExceeded, match=r"\$0.40 used of \$0.30"):
        budget(**{"costs.prices": ["m=3/15"], "budget.usd": 0.3})


def test_a_malformed_price_stops_start_up(tmp_path: Path, db_url: str) -> None:
    from crashpilot.app import make_backends, open_app
    from crashpilot.errors import ConfigError

    app = open_app(settings_for(tmp_path, db_url, **{"costs.prices": ["claude-sonnet-4-5=3.00"]}))
    with pytest.raises(ConfigError, match="claude-sonnet-4-5=3.00"):
        make_backends(app, keys={})
    app.engine.dispose()
