"""Run one eval case through the real pipeline stages, from its crash output to VERIFY.

Each case gets its own working folder: a clone of its repository (``git clone --shared`` for a
local path, so the user's repository is never touched; a recipe case is committed afresh), a
branch ``crashpilot-eval-base`` at the buggy commit, a crashpilot home with its own SQLite
database, and the case's commands as settings. The crash files are ingested as any crash
would be; a :class:`~crashpilot.worker.Worker` then runs the real ANALYSE, FIX, BUILD and VERIFY
handlers until nothing is left to do. PUBLISH is never run: eval stops after VERIFY.

With the ``gold`` model there is no analysis: the run is started without one (as ANALYSE would
start it) and FIX applies the upstream fix through :class:`~crashpilot.eval.gold.GoldAgent`.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crashpilot.errors import CommandFailed, ConfigError, CrashpilotError
from crashpilot.eval.cases import Case, materialize
from crashpilot.eval.gold import GoldAgent
from crashpilot.eval.judge import localized, plausible
from crashpilot.flow import Outcome, Stage
from crashpilot.git import Git
from crashpilot.proc import run as run_process
from crashpilot.worker import StageResult

log = logging.getLogger(__name__)

__all__ = ["BASE_BRANCH", "CaseResult", "ModelChoice", "parse_model", "run_case"]

BASE_BRANCH = "crashpilot-eval-base"
EVAL_STAGES = (Stage.ANALYSE, Stage.FIX, Stage.BUILD, Stage.VERIFY)
# Alembic keeps its migration context in module globals: cases running in parallel threads
# open (and migrate) their databases one at a time.
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelChoice:
    """What makes the fix: ``gold`` (the upstream fix), ``replay`` (a recorded conversation on a
    loopback server) or a real model ``provider:name``; optionally an agent CLI does FIX."""

    kind: str  # gold | replay | model
    label: str
    transcript: Path | None = None
    base_url: str | None = None
    agent: str | None = None

    @property
    def is_gold(self) -> bool:
        return self.kind == "gold"


def parse_model(text: str, *, base_url: str | None = None, agent: str | None = None) -> ModelChoice:
    """``gold``, ``replay:<transcript.json>`` or ``provider:name`` (anthropic:..., openai:...)."""
    if text == "gold":
        if agent:
            raise ConfigError("--model gold applies the upstream fix; it takes no --agent")
        return ModelChoice("gold", "gold")
    kind, sep, rest = text.partition(":")
    if not sep or not kind or not rest:
        raise ConfigError(f"--model must be gold, replay:<transcript> or provider:name, not {text!r}")
    if kind == "replay":
        path = Path(rest).expanduser()
        if path.is_file():
            path = path.resolve()
        elif path.is_absolute():
            raise ConfigError(f"no transcript {path}")
        # otherwise a name each case folder holds (its own recorded conversation)
        return ModelChoice("replay", text, transcript=path, agent=agent)
    return ModelChoice("model", text, base_url=base_url, agent=agent)


@dataclass
class CaseResult:
    """One row of the results table (``to_json`` gives the documented object)."""

    id: str
    localized: bool | None = None
    plausible: bool = False
    verification: str = "failed:setup"
    seconds: float = 0.0
    tokens: int = 0
    cost: float | None = None
    error: str | None = None
    stages: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("stages")
        return data


def _git_out(git: Git, *args: str) -> str:
    return str(git.run(*args).stdout)


def checkout_case(case: Case, dest: Path) -> tuple[Git, str, str | None]:
    """The case's repository at ``dest`` on ``BASE_BRANCH`` (the buggy commit); (git, buggy, fix)."""
    if case.is_recipe:
        _, buggy, fix = materialize(case, dest)
        git = Git(dest)
    else:
        assert case.repo is not None and case.buggy_commit is not None
        local = Path(case.repo).is_dir()
        argv = ["git", "clone", "-q", *(["--shared"] if local else []), case.repo, str(dest)]
        res = run_process(argv, timeout=1800, merge_output=True)
        if not res.ok:
            raise ConfigError(f"case {case.id}: git clone {case.repo} failed: {res.output[-500:]}")
        git = Git(dest)
        try:
            buggy = _git_out(git, "rev-parse", "--verify", f"{case.buggy_commit}^{{commit}}").strip()
            fix = (
                _git_out(git, "rev-parse", "--verify", f"{case.fix_commit}^{{commit}}").strip()
                if case.fix_commit
                else None
            )
        except CommandFailed as exc:
            raise ConfigError(f"case {case.id}: a commit it names is not in {case.repo}: {exc}") from exc
    git.run("checkout", "-q", "--force", "-B", BASE_BRANCH, buggy)
    return git, buggy, fix


def fix_diff(git: Git, fix: str | None) -> str | None:
    """The change the fix commit made (against its first parent)."""
    if fix is None:
        return None
    return _git_out(git, "diff", f"{fix}^", fix)


def case_flags(
    case: Case, repo: Path, home: Path, choice: ModelChoice, k: int, attempts: int
) -> dict[str, Any]:
    reproducer = case.reproducer or ""
    if case.input_file is not None:
        reproducer = reproducer.replace("{input}", shlex.quote(str(case.input_file)))
    flags: dict[str, Any] = {
        **case.settings,
        "home": str(home),
        "project.repo": str(repo),
        "project.base_branch": BASE_BRANCH,
        "build.command": case.build,
        "test.command": case.tests or "",
        "reproduce.command": reproducer,
        "reproduce.runs": k,
        "worker.max_fix_attempts": attempts,
    }
    if case.in_app:
        flags["project.in_app"] = list(case.in_app)
    if choice.kind == "model":
        flags["model.name"] = choice.label
        if choice.base_url:
            flags["model.base_url"] = choice.base_url
    if choice.agent:
        flags["agent.backend"] = choice.agent
    return flags


def start_without_analysis(job: Any, ctx: Any) -> StageResult:
    """ANALYSE for ``gold``: start the run (context gathered, base recorded) with no model call."""
    from crashpilot.context import gather
    from crashpilot.serial import report_from_json
    from crashpilot.stages.setup import Pipeline, branch_name
    from crashpilot.store import artifacts, runs
    from crashpilot.store.db import write_transaction
    from crashpilot.store.groups import get_group
    from crashpilot.store.reports import get_report

    p = Pipeline(ctx)
    with p.engine.connect() as conn:
        group = get_group(conn, job.group_id, report_limit=1)
        reports = (group or {}).get("reports") or []
        newest = get_report(conn, reports[0]["id"]) if reports else None
    parsed = dict((newest or {}).get("parsed") or {})
    base_sha = Git(p.repo).rev_parse(p.base_branch)
    branch = branch_name(job.group_id)
    context_md = gather(report_from_json(parsed), p.repo).to_markdown()
    with write_transaction(p.engine) as conn:
        run_id = runs.start_run(
            conn, job.group_id, branch=branch, base_revision=base_sha, actor=ctx.worker_id
        )
        context_id = artifacts.save(
            conn, p.blobs, "context", context_md.encode("utf-8"),
            name=f"context-run-{run_id}.md", group_id=job.group_id, run_id=run_id,
        )  # fmt: skip
        runs.add_result(conn, run_id, context_artifact=context_id, analysis=None)
        runs.update_run(conn, run_id, status="fixing", stage="fix", actor=ctx.worker_id)
    return StageResult(Outcome.OK, payload={"run_id": run_id, "base_sha": base_sha, "branch": branch})


@contextmanager
def _replay_factory(transcript: Path) -> Iterator[Callable[..., Any]]:
    from crashpilot.backends.models import RetryPolicy, model_class
    from crashpilot.replay import ReplayServer, load_transcript

    cls = model_class("anthropic")
    with ReplayServer(load_transcript(transcript), check_tool_results=False) as server:

        def make(budget: Any, record: Any) -> Any:
            return cls(
                "replayed", api_key="replayed-conversation", base_url=server.anthropic_base_url,
                timeout=30.0, retry=RetryPolicy(max_retries=0), budget=budget, record=record,
            )  # fmt: skip

        yield make


def run_case(
    case: Case,
    choice: ModelChoice,
    workdir: Path,
    *,
    keys: Mapping[str, str] | None = None,
    k: int = 3,
    attempts: int = 3,
) -> CaseResult:
    """Run ``case`` in ``workdir`` (made; the caller removes it) and judge it; never raises for a
    case that fails (the error is in the result)."""
    started = time.monotonic()
    result = CaseResult(case.id)
    try:
        _run(case, choice, workdir, result, dict(keys or {}), k, 1 if choice.is_gold else attempts)
    except CrashpilotError as exc:
        result.error = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
        log.warning("eval case %s: %s", case.id, result.error)
    except Exception as exc:  # one broken case must not end the whole eval; the log has the traceback
        log.error("eval case %s: internal error", case.id, exc_info=True)
        first = str(exc).splitlines()[0][:400] if str(exc) else ""
        result.error = f"internal error: {type(exc).__name__}: {first}"
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _run(
    case: Case,
    choice: ModelChoice,
    workdir: Path,
    result: CaseResult,
    keys: dict[str, str],
    k: int,
    attempts: int,
) -> None:
    from crashpilot.app import make_backends, open_app, stage_handlers
    from crashpilot.ingest.files import ingest_paths
    from crashpilot.settings import load

    workdir.mkdir(parents=True, exist_ok=True)
    git, _, fix = checkout_case(case, workdir / "repo")
    upstream = fix_diff(git, fix)
    if choice.is_gold and not upstream:
        raise ConfigError(f"case {case.id}: --model gold needs a fix_commit")
    config = git.root / "crashpilot.toml"
    if not config.is_file():
        config = workdir / "crashpilot.toml"
        config.write_text("# eval: settings come from case.json\n", encoding="utf-8")
    flags = case_flags(case, git.root, workdir / "home", choice, k, attempts)
    with _OPEN_LOCK:
        app = open_app(load(config=config, env={}, flags=flags))
    ingested = ingest_paths(app.engine, app.blobs, list(case.crash_files), **app.ingest_options())
    group_ids = [g for r in ingested for g in (r.group_ids or ())]
    if not group_ids:
        result.verification = "failed:ingest"
        raise ConfigError(f"case {case.id}: crashpilot could not read its crash output")
    handlers = dict(stage_handlers())
    errors: list[str] = []
    with ExitStack() as stack:
        if choice.is_gold:
            backends = {**make_backends(app), "agent": GoldAgent(upstream or "")}
            backends.pop("model", None)
            handlers[Stage.ANALYSE] = start_without_analysis
        elif choice.kind == "replay":
            assert choice.transcript is not None
            transcript = (
                choice.transcript if choice.transcript.is_absolute() else case.folder / choice.transcript
            )
            if not transcript.is_file():
                raise ConfigError(f"case {case.id}: no transcript {transcript}")
            backends = make_backends(app, model=stack.enter_context(_replay_factory(transcript)))
        else:
            backends = make_backends(app, keys=keys)
        made: list[Any] = []
        if backends.get("model") is not None:
            backends["model"] = _tracking(backends["model"], made)
            stack.callback(_close_clients, made)
        _drive(app, handlers, backends, attempts, result, errors)
    _judge(app, group_ids[0], upstream, result, errors)


def _tracking(factory: Callable[..., Any], made: list[Any]) -> Callable[..., Any]:
    """The model factory, remembering each model it makes (their HTTP clients are closed at the end)."""

    def make(budget: Any, record: Any) -> Any:
        model = factory(budget, record)
        made.append(model)
        return model

    return make


def _close_clients(models: list[Any]) -> None:
    for model in models:
        close = getattr(getattr(model, "_client", None), "close", None)
        if callable(close):
            close()


def _drive(
    app: Any, handlers: dict[Stage, Any], backends: dict[str, Any], attempts: int,
    result: CaseResult, errors: list[str], max_jobs: int = 50,
) -> None:  # fmt: skip
    from crashpilot.worker import Worker

    outcomes: list[tuple[str, str]] = []

    def recording(stage: Stage, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(job: Any, ctx: Any) -> Any:
            out = handler(job, ctx)
            outcome = out.outcome if isinstance(out, StageResult) else out
            outcomes.append((stage.value, str(Outcome(outcome).value)))
            return out

        return run

    worker = Worker(
        app.engine,
        {s: recording(s, handlers[s]) for s in EVAL_STAGES},
        settings=app.settings,
        backends=backends,
        max_attempts_fix=attempts,
        requeue_delay=3600,
        poll=0.01,
        on_error=lambda job, exc: errors.append(f"{job.stage}: {exc}"),
    )
    for _ in range(max_jobs):
        if not worker.run_once():
            break
    result.stages = [f"{s}:{o}" for s, o in outcomes]


def _judge(app: Any, group_id: int, upstream: str | None, result: CaseResult, errors: list[str]) -> None:
    from crashpilot.store import runs
    from crashpilot.store.groups import get_group

    with app.engine.connect() as conn:
        run_row = runs.latest_run(conn, group_id)
        group = get_group(conn, group_id, report_limit=0) or {}
    data = (run_row or {}).get("result") or {}
    result.tokens = int((run_row or {}).get("input_tokens") or 0) + int(
        (run_row or {}).get("output_tokens") or 0
    )
    cost = (run_row or {}).get("cost")
    result.cost = float(cost) if cost is not None else None
    result.localized = localized(data.get("analysis"), upstream)
    verify = data.get("verify")
    result.plausible = plausible(verify)
    level = (run_row or {}).get("verification") if verify and verify.get("level") else None
    if level:
        result.verification = str(level)
    else:
        failed = [s.split(":")[0] for s in result.stages if not s.endswith(":ok")]
        last = failed[-1] if failed else (result.stages[-1].split(":")[0] if result.stages else "analyse")
        result.verification = f"failed:{last}"
        if result.error is None:
            reason = group.get("status_reason") or data.get("fix_stopped")
            if errors:
                reason = errors[-1]
            result.error = str(reason).splitlines()[0][:500] if reason else None
