"""What the stages from ANALYSE to TRACK share: the run's model, budget, slots, policy and identity.

A stage gets a worker ``Context``; :class:`Pipeline` reads from it what the stage needs. The
resolved backends come in ``ctx.backends`` (built by ``app.make_backends``):

- ``env``    the scrubbed environment for untrusted processes (build, tests, reproducer, agent
             actions); never the worker's own environment;
- ``model``  a :data:`ModelFactory` ``(budget, record) -> Model``, or absent when no model is
             configured (then ANALYSE writes a triage brief and stops);
- ``slots``  optionally a ready :class:`~crashpilot.slots.Slots` (default: ``<home>/slots``);
- ``forge``  optionally a forge (default: local pull requests, :mod:`crashpilot.handoff`).

Model construction from settings lives here too (:func:`model_spec`, :func:`model_factory`):
one place, given the keys by the caller (the CLI / app read them from the environment).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from crashpilot.backends.models import Budget, Exchange, RetryPolicy, model_class
from crashpilot.costs import Prices, money
from crashpilot.errors import BudgetExceeded, ConfigError, PermanentError
from crashpilot.git import Identity
from crashpilot.policy import DEFAULT_FORBIDDEN, Policy
from crashpilot.protocols import Model
from crashpilot.slots import Slots
from crashpilot.store import exchanges as exchange_store
from crashpilot.store.blobs import BlobStore
from crashpilot.store.db import write_transaction

log = logging.getLogger(__name__)

BRANCH_PREFIX = "crashpilot/"
KEY_VARIABLES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}

Recorder = Callable[[Exchange], None]
ModelFactory = Callable[[Budget | None, Recorder | None], Model]


def branch_name(group_id: int) -> str:
    return f"{BRANCH_PREFIX}{group_id}"


@dataclass(frozen=True)
class ModelSpec:
    """Which model to talk to and how; ``api_key`` is never shown by ``repr``."""

    provider: str
    name: str
    api_key: str | None
    base_url: str | None
    timeout: float
    retries: int

    def __repr__(self) -> str:
        return f"ModelSpec(provider={self.provider!r}, name={self.name!r}, base_url={self.base_url!r})"


def model_spec(
    settings: Any, keys: Mapping[str, str], *, name: str | None = None, base_url: str | None = None
) -> ModelSpec | None:
    """The model the settings name (``provider:name``), with its key from ``keys``; None when unset."""
    full = name if name is not None else str(settings["model.name"] or "")
    if not full:
        return None
    provider, sep, model = full.partition(":")
    if not sep or not provider or not model:
        raise ConfigError(
            f"model.name must be provider:name (e.g. anthropic:claude-sonnet-4-5), not {full!r}"
        )
    url = base_url if base_url is not None else (settings["model.base_url"] or None)
    key = keys.get(KEY_VARIABLES.get(provider, f"{provider.upper()}_API_KEY")) or None
    return ModelSpec(
        provider, model, key, url, float(settings["model.timeout"]), int(settings["model.retries"])
    )


def model_factory(spec: ModelSpec) -> ModelFactory:
    """A factory that builds the backend of ``spec`` for one run (its budget, its recorder)."""
    cls = model_class(spec.provider)

    def make(budget: Budget | None, record: Recorder | None) -> Model:
        kwargs: dict[str, Any] = {
            "api_key": spec.api_key,
            "timeout": spec.timeout,
            "budget": budget,
            "record": record,
        }
        kwargs["retry"] = RetryPolicy(max_retries=spec.retries)
        if spec.base_url:
            kwargs["base_url"] = spec.base_url
        model: Model = cls(spec.name, **kwargs)
        return model

    return make


def policy_from(settings: Any) -> Policy:
    """The patch policy: allowed = ``policy.allowed`` or the in-app paths; tests/CI/build refused."""
    allowed: list[str] = list(settings["policy.allowed"])
    if not allowed:
        for path in settings["project.in_app"]:
            p = str(path)
            if p.endswith("/"):
                allowed.append(p + "**")
            elif any(c in p for c in "*?["):
                allowed.append(p)
            else:
                allowed += [p, p + "/**"]
    return Policy(
        allowed=tuple(allowed) or ("**",),
        forbidden=DEFAULT_FORBIDDEN + tuple(settings["policy.forbidden"]),
        max_changed_lines=int(settings["policy.max_changed_lines"]),
    )


class Pipeline:
    """What a stage reads from its worker context."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.engine: Engine = ctx.engine
        self.settings = ctx.settings
        self.backends: Mapping[str, Any] = ctx.backends or {}
        self._models: list[Model] = []

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the models this stage made (their SDK clients hold HTTP connections)."""
        while self._models:
            close = getattr(self._models.pop(), "close", None)
            if callable(close):
                close()

    @property
    def home(self) -> Path:
        home: Path = self.settings.home
        return home

    @property
    def blobs(self) -> BlobStore:
        return BlobStore(self.home / "blobs")

    @property
    def repo(self) -> Path:
        repo = self.settings.repo
        if repo is None or not (repo / ".git").exists():
            raise PermanentError("no project repository (project.repo) is configured: nothing to fix in")
        return Path(repo)

    @property
    def base_branch(self) -> str:
        return str(self.settings["project.base_branch"])

    @property
    def env(self) -> dict[str, str]:
        """The scrubbed environment for untrusted processes."""
        env = self.backends.get("env")
        if env is None:
            raise ConfigError("no process environment was given to the workers (backends['env'])")
        return dict(env)

    def slots(self) -> Slots:
        given = self.backends.get("slots")
        if isinstance(given, Slots):
            return given
        return Slots(
            self.repo,
            self.home / "slots",
            int(self.settings["worker.build_slots"]),
            modules=list(self.settings["project.modules"]),
        )

    @property
    def identity(self) -> Identity:
        return Identity(str(self.settings["bot.name"]), str(self.settings["bot.email"]))

    @property
    def policy(self) -> Policy:
        return policy_from(self.settings)

    @property
    def has_model(self) -> bool:
        return self.backends.get("model") is not None

    def recorder(self, run_id: int, group_id: int) -> Recorder:
        """Stores every model exchange of the run in ``exchanges``, with its cost (``costs.prices``)."""
        prices = Prices.from_settings(self.settings)

        def record(ex: Exchange) -> None:
            with write_transaction(self.engine) as conn:
                exchange_store.insert_exchange(
                    conn,
                    provider=ex.provider,
                    model=ex.model,
                    request=ex.request,
                    response=ex.response,
                    run_id=run_id,
                    group_id=group_id,
                    input_tokens=ex.input_tokens,
                    output_tokens=ex.output_tokens,
                    duration_ms=int(ex.duration_s * 1000),
                    error=ex.error,
                    cost=prices.cost(ex.model, ex.input_tokens, ex.output_tokens, provider=ex.provider),
                )

        return record

    def budget(self, run: Mapping[str, Any]) -> Budget:
        """What is left of the run's budget; BudgetExceeded when a limit is already spent."""
        with self.engine.connect() as conn:
            used = exchange_store.usage(conn, run_id=int(run["id"]))
        limits: dict[str, float | None] = {}
        tokens, calls, minutes = (
            self.settings["budget.tokens"],
            self.settings["budget.calls"],
            self.settings["budget.minutes"],
        )
        spent_minutes = float(run.get("result", {}).get("model_seconds", 0.0)) / 60
        for name, limit, spent in (
            ("tokens", tokens, used["input_tokens"] + used["output_tokens"]),
            ("calls", calls, used["calls"]),
            ("minutes", minutes, spent_minutes),
        ):
            if not limit:
                limits[name] = None
                continue
            left = limit - spent
            if left <= 0:
                raise BudgetExceeded(f"the run's model budget is spent: {spent:g} {name} used of {limit:g}")
            limits[name] = left
        usd_tokens = self._usd_tokens_left(used["cost"])
        if usd_tokens is not None:
            limits["tokens"] = min(limits["tokens"] or usd_tokens, usd_tokens)
        return Budget(
            max_tokens=int(limits["tokens"]) if limits["tokens"] is not None else None,
            max_calls=int(limits["calls"]) if limits["calls"] is not None else None,
            max_minutes=limits["minutes"],
        )

    def _usd_tokens_left(self, spent: float | None) -> float | None:
        """``budget.usd`` as tokens left at the model's dearer rate; None when unset or unpriced."""
        limit = float(self.settings["budget.usd"])
        if not limit:
            return None
        spent = spent or 0.0
        if spent >= limit:
            raise BudgetExceeded(f"the run's model budget is spent: {money(spent)} used of {money(limit)}")
        provider, _, name = str(self.settings["model.name"] or "").rpartition(":")
        price = Prices.from_settings(self.settings).price(name, provider or None)
        if price is None or max(price.input_per_mtok, price.output_per_mtok) <= 0:
            return None  # no price: the dollar limit cannot be counted; the token limit still holds
        return max(1.0, (limit - spent) * 1_000_000 / max(price.input_per_mtok, price.output_per_mtok))

    def model(self, run: Mapping[str, Any], group_id: int) -> tuple[Model, Budget]:
        factory: ModelFactory | None = self.backends.get("model")
        if factory is None:
            raise PermanentError("no model is configured (model.name)")
        budget = self.budget(run)
        model = factory(budget, self.recorder(int(run["id"]), group_id))
        self._models.append(model)
        return model, budget


class Stopwatch:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return round(time.monotonic() - self.t0, 3)


def read_artifact(engine: Engine, blobs: BlobStore, artifact_id: int) -> bytes:
    import sqlalchemy as sa

    from crashpilot.store.schema import artifacts

    with engine.connect() as conn:
        sha = conn.execute(
            sa.select(artifacts.c.sha256).where(artifacts.c.id == artifact_id)
        ).scalar_one_or_none()
    if sha is None:
        raise PermanentError(f"artifact {artifact_id} is missing")
    return blobs.read(str(sha))


def last_attempt(settings: Any, payload: Mapping[str, Any]) -> bool:
    """True when a failure now ends the run (the FIX passes are spent: the next stop is a human)."""
    return int(payload.get("fix_passes", 0)) >= int(settings["worker.max_fix_attempts"])


def drop_branch(p: Pipeline, run_id: int, branch: str, status: str = "needs_human") -> None:
    """End a run that produced nothing to review: its branch is deleted, the run closed."""
    from crashpilot.git import Git
    from crashpilot.store import runs

    repo = Git(p.repo)
    if repo.branch_exists(branch):
        repo.delete_branch(branch, force=True)
    with write_transaction(p.engine) as conn:
        runs.finish_run(conn, run_id, status, actor=p.ctx.worker_id)
