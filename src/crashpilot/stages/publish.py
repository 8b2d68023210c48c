"""PUBLISH: the verified fix becomes a pull request (local, or on the forge of the owning repo).

1. The bot's commit: the verified tree committed again by the bot identity with a message naming
   the crash and the root cause, its subject from ``forge.commit_template`` (the repository's
   convention, e.g. ``fix(Core/{area}): {summary}``). The commit's dates are the verified
   commit's, so a PUBLISH that runs again after a crash makes the very same commit (same sha).
2. The repository: the one owning the changed files (:mod:`crashpilot.projects`): the core, or a
   module that is a git repository of its own; in a module the commit FIX made in the module's
   worktree (``module_heads`` in the payload) is committed again by the bot like the core's, on
   ``crashpilot/<group-id>`` of the module; a bare diff (no FIX commit) is applied to the
   module's checked-out branch instead.
3. The pull request: pushed and opened through the repository's forge, which looks the branch's
   open pull request up before it opens one (one per group, also after a restart); on the local
   forge, a row in the database (the open one of the group is updated, not duplicated).

The body (:func:`crashpilot.backends.forges.body.render_pr_body`) is the same for every forge.
Never to the base branch, never merged here.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from crashpilot.backends.forges.body import commit_message, pr_title, render_pr_body
from crashpilot.errors import ConfigError, PermanentError, PolicyViolation
from crashpilot.flow import Outcome
from crashpilot.forge_setup import Forges
from crashpilot.git import Git, Identity, NumStat
from crashpilot.handoff import LocalForge
from crashpilot.projects import RepoMap, RepoRef
from crashpilot.stages import pr_facts
from crashpilot.stages.setup import Pipeline
from crashpilot.store import runs
from crashpilot.store.db import utcnow, write_transaction
from crashpilot.store.groups import get_group
from crashpilot.store.schema import crash_groups
from crashpilot.worker import StageResult

log = logging.getLogger(__name__)

__all__ = ["bot_commit", "changed_files", "forges_of", "module_commit", "run"]


def _who(identity: Identity, date: str) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": identity.name,
        "GIT_AUTHOR_EMAIL": identity.email,
        "GIT_COMMITTER_NAME": identity.name,
        "GIT_COMMITTER_EMAIL": identity.email,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }


def bot_commit(git: Git, head: str, message: str, identity: Identity) -> str:
    """``head``'s tree and parents committed again as ``identity`` with ``message``.

    Deterministic: the dates are ``head``'s committer date, so the same inputs give the same sha.
    """
    tree = git.run("rev-parse", "--verify", f"{head}^{{tree}}").stdout.strip()
    parents = git.run("rev-parse", f"{head}^@").stdout.split()
    date = git.run("log", "-1", "--format=%cI", head).stdout.strip()
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    res = git.run(*args, "-F", "-", input=message, extra_env=_who(identity, date))
    return res.stdout.strip()


def module_commit(module: RepoRef, base: str, diff: str, message: str, identity: Identity, date: str) -> str:
    """The change ``diff`` (paths relative to the core's root) committed on ``base`` of ``module``.

    Made in a private index (no work tree is touched); deterministic like :func:`bot_commit`.
    """
    git = Git(module.path)
    base_sha = git.rev_parse(base)
    depth = 1 + len(module.key.split("/"))
    with tempfile.TemporaryDirectory(prefix="crashpilot-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git.run("read-tree", base_sha, extra_env=env)
        git.run("apply", "--cached", f"-p{depth}", "-", input=diff, extra_env=env)
        tree = git.run("write-tree", extra_env=env).stdout.strip()
    res = git.run(
        "commit-tree", tree, "-p", base_sha, "-F", "-", input=message, extra_env=_who(identity, date)
    )
    return res.stdout.strip()


def forges_of(p: Pipeline) -> Forges:
    """The forges the workers were given; local pull requests only when the settings say local."""
    given = p.backends.get("forges")
    if isinstance(given, Forges):
        return given
    kind = str(p.settings["forge.kind"] or "local")
    if kind != "local":
        raise ConfigError(f"forge.kind is {kind} but the workers have no forge (is GITHUB_TOKEN set?)")
    return Forges()


def run(job: Any, ctx: Any) -> StageResult:
    p = Pipeline(ctx)
    payload = job.payload
    run_id, branch, head = int(payload["run_id"]), str(payload["branch"]), str(payload["head"])
    extra = {"group": job.group_id, "run": run_id, "stage": "publish"}
    with write_transaction(p.engine) as conn:
        runs.update_run(conn, run_id, status="publishing", stage="publish", actor=ctx.worker_id)
    with p.engine.connect() as conn:
        group = get_group(conn, job.group_id, report_limit=0)
        run_row = runs.get_run(conn, run_id)
        frames, model = pr_facts.gather(conn, job.group_id, run_id)
    if group is None or run_row is None:
        raise PermanentError(f"group {job.group_id} or run {run_id} is gone")
    core = Git(p.repo)
    base_sha = str(payload.get("base_sha") or core.rev_parse(p.base_branch))
    diff = str(payload.get("previous_diff") or "") or core.run("diff", base_sha, head).stdout
    files = changed_files(diff) or list((run_row["result"].get("fix") or {}).get("files") or [])
    repos = RepoMap.from_settings(p.settings, p.repo)
    try:
        target = repos.target(files)
    except PolicyViolation as exc:
        raise PermanentError(str(exc)) from exc
    forges = forges_of(p)
    forge = forges.for_repo(target.key)
    level = str(run_row.get("verification") or payload.get("verification") or "builds-only")
    hint = ""
    if forge is None:
        hint = f"Review: `crashpilot approve {group['id']}` merges the branch, `crashpilot reject {group['id']}` drops it."
    facts = pr_facts.body_facts(group, run_row, frames=frames, diff=diff, model=model, review_hint=hint)
    secrets = forges.secrets
    area = pr_facts.area_of(target.relative(files[0])) if files else ""
    template = str(p.settings["forge.commit_template"])
    message = commit_message(facts, template=template, area=area, secrets=secrets)

    # 1. the bot's commit on crashpilot/<group> in the owning repository (same sha on a re-run)
    if target.is_core:
        repo_git, base = core, p.base_branch
        new_head = bot_commit(core, head, message, p.identity)
    else:
        repo_git = Git(target.path)
        base = repo_git.current_branch() or p.base_branch
        fixed = dict(payload.get("module_heads") or {}).get(target.key)
        if fixed and fixed != dict(payload.get("module_bases") or {}).get(target.key):
            # FIX committed the change in the module's worktree: the bot's commit is that commit
            # with the pull request's message, like the core's (no second application of the diff).
            new_head = bot_commit(repo_git, str(fixed), message, p.identity)
        else:  # a diff given without a FIX commit in the module (e.g. made by hand)
            date = core.run("log", "-1", "--format=%cI", head).stdout.strip()
            new_head = module_commit(target, base, diff, message, p.identity, date)
    if branch == base:
        raise PermanentError(f"refusing to publish on the base branch {base}")
    repo_git.run("update-ref", "-m", "crashpilot: publish", f"refs/heads/{branch}", new_head)
    facts = replace(facts, diff_stats=_numstat(repo_git, f"{new_head}^", new_head))
    title = pr_title(facts, secrets=secrets)
    body = render_pr_body(facts, secrets=secrets)

    # 2. push and open (or find again) the pull request
    pr_info: dict[str, Any]
    if forge is None:
        with write_transaction(p.engine) as conn:
            ref = LocalForge().open(
                conn,
                group_id=group["id"],
                run_id=run_id,
                branch=branch,
                base=base,
                head_sha=new_head,
                verification=level,
                title=title,
                body=body,
                actor=ctx.worker_id,
            )
        pr_info = {"forge": "local", "repo": target.key, "url": ref}
    else:
        forge.push(target.path, branch, base)
        pr = forge.open_pr(branch, base, title, body)
        ref = pr.url
        pr_info = {
            "forge": forge.name,
            "repo": target.key,
            "forge_repo": target.forge_repo,
            "number": pr.number,
            "url": pr.url,
            "base": base,
            "title": title,
        }
    pr_info["head"] = new_head
    with write_transaction(p.engine) as conn:
        conn.execute(
            crash_groups.update()
            .where(crash_groups.c.id == group["id"])
            .values(branch=branch, pr_url=ref, updated_at=utcnow())
        )
        runs.add_result(conn, run_id, pr=pr_info)
        runs.update_run(conn, run_id, status="pr_open", stage="track", actor=ctx.worker_id)
    log.info("group %s: pull request %s (%s) for %s", group["id"], ref, level, branch, extra=extra)
    return StageResult(
        Outcome.OK,
        payload={"pr": ref, "head": new_head},
        reason=f"pull request {ref} ({level}) waits for review",
    )


_DIFF_FILE = re.compile(r"^diff --git a/(.+?) b/(.+)$", re.M)


def changed_files(diff: str) -> list[str]:
    """The paths a unified git diff changes (new names of renamed files)."""
    return list(dict.fromkeys(m.group(2) for m in _DIFF_FILE.finditer(diff)))


def _numstat(git: Git, base: str, head: str) -> list[NumStat]:
    out: list[NumStat] = []
    for line in git.run("diff", "--numstat", "-M", base, head).stdout.splitlines():
        added, deleted, path = line.split("\t", 2)
        out.append(
            NumStat(path, None if added == "-" else int(added), None if deleted == "-" else int(deleted))
        )
    return out
