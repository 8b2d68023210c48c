"""Eval cases: reading ``case.json`` folders, and turning recipe cases into git repositories.

A case folder holds ``case.json``::

    {"id": "...", "repo": "<local path or clone URL>", "buggy_commit": "...",
     "fix_commit": "..." (optional), "build": {"command": "..."},
     "reproducer": {"command": "... {input} ...", "input_file": "..."},
     "tests": {"command": "..."} (optional), "in_app": ["src/"] (optional)}

plus the crash output (``crash_*.txt``) and the reproducer's input file. A relative ``repo`` is
resolved against the case folder. A *recipe* case (used for cases kept inside another git
repository, where a nested repository cannot be committed) has ``"recipe": {"project": "<folder
with the buggy source>", "fix_patch": "<the fix as a unified diff>"}`` instead of ``repo`` and
the commits: :func:`materialize` commits both into a fresh repository.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashpilot.errors import CommandFailed, ConfigError
from crashpilot.git import Git, Identity

__all__ = ["Case", "load_case", "load_cases", "materialize", "prepare_cases", "RECIPE_AUTHOR"]

RECIPE_AUTHOR = Identity("eval case author", "cases@crashpilot.invalid")


@dataclass(frozen=True)
class Case:
    """One eval case, as read from its folder (paths absolute)."""

    id: str
    folder: Path
    build: str
    reproducer: str | None
    input_file: Path | None
    crash_files: tuple[Path, ...]
    repo: str | None = None  # a local path (absolute) or a clone URL
    buggy_commit: str | None = None
    fix_commit: str | None = None
    tests: str | None = None
    in_app: tuple[str, ...] = ()
    recipe_project: Path | None = None
    recipe_patch: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def is_recipe(self) -> bool:
        return self.recipe_project is not None


def _command(data: dict[str, Any], key: str, where: Path, required: bool) -> str | None:
    part = data.get(key)
    if part is None and not required:
        return None
    if not isinstance(part, dict) or not isinstance(part.get("command"), str) or not part["command"].strip():
        raise ConfigError(f"{where}: {key}.command must be a non-empty string")
    return str(part["command"])


def _is_url(repo: str) -> bool:
    return "://" in repo or repo.startswith("git@")


def load_case(folder: Path) -> Case:
    """The case in ``folder``; ConfigError names the file and what is wrong."""
    folder = folder.resolve()
    path = folder / "case.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold one JSON object")
    case_id = str(data.get("id") or folder.name)
    build = _command(data, "build", path, required=True)
    assert build is not None
    reproducer = _command(data, "reproducer", path, required=False)
    input_file = None
    if reproducer is not None:
        name = data["reproducer"].get("input_file")
        if name:
            input_file = (folder / str(name)).resolve()
            if not input_file.is_file():
                raise ConfigError(f"{path}: reproducer input file {name!r} is missing")
        elif "{input}" in reproducer:
            raise ConfigError(f"{path}: the reproducer uses {{input}} but names no input_file")
    crash_files = tuple(sorted(folder.glob("crash_*.txt")))
    if not crash_files:
        raise ConfigError(f"{folder}: no crash output (crash_*.txt)")
    in_app = data.get("in_app") or []
    if not isinstance(in_app, list) or not all(isinstance(x, str) for x in in_app):
        raise ConfigError(f"{path}: in_app must be a list of path prefixes")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: settings must be an object of crashpilot settings")
    common: dict[str, Any] = {
        "id": case_id, "folder": folder, "build": build, "reproducer": reproducer,
        "input_file": input_file, "crash_files": crash_files,
        "tests": _command(data, "tests", path, required=False), "in_app": tuple(in_app),
        "settings": dict(settings),
    }  # fmt: skip
    recipe = data.get("recipe")
    if recipe is not None:
        if not isinstance(recipe, dict) or not recipe.get("project"):
            raise ConfigError(f"{path}: recipe needs a project folder")
        project = (folder / str(recipe["project"])).resolve()
        patch = (folder / str(recipe["fix_patch"])).resolve() if recipe.get("fix_patch") else None
        if not project.is_dir() or (patch is not None and not patch.is_file()):
            raise ConfigError(f"{path}: the recipe's project folder or fix patch is missing")
        return Case(**common, recipe_project=project, recipe_patch=patch)
    repo, buggy = data.get("repo"), data.get("buggy_commit")
    if not isinstance(repo, str) or not repo or not isinstance(buggy, str) or not buggy:
        raise ConfigError(f"{path}: repo and buggy_commit are required")
    if not _is_url(repo):
        repo = str((folder / Path(repo).expanduser()).resolve())
    fix = data.get("fix_commit")
    return Case(**common, repo=repo, buggy_commit=buggy, fix_commit=str(fix) if fix else None)


def load_cases(cases_dir: Path, only: set[str] | None = None) -> list[Case]:
    """Every case folder directly under ``cases_dir`` (those with a ``case.json``), by id."""
    if not cases_dir.is_dir():
        raise ConfigError(f"no cases folder {cases_dir}")
    cases = [load_case(d) for d in sorted(cases_dir.iterdir()) if (d / "case.json").is_file()]
    if only:
        cases = [c for c in cases if c.id in only]
    if not cases:
        raise ConfigError(f"{cases_dir}: no case folders (a folder per case holding case.json)")
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{cases_dir}: case ids must be unique")
    return cases


def materialize(case: Case, dest: Path) -> tuple[Path, str, str | None]:
    """Commit a recipe case's project (buggy) and its fix patch into a new repository at ``dest``.

    Returns (repository, buggy commit, fix commit or None).
    """
    if case.recipe_project is None:
        raise ConfigError(f"case {case.id} is not a recipe")
    shutil.copytree(case.recipe_project, dest, ignore=shutil.ignore_patterns("build", ".git"))
    git = Git.init(dest)
    buggy = git.commit(f"{case.id}: the buggy version", RECIPE_AUTHOR)
    fix = None
    if case.recipe_patch is not None:
        try:
            git.run("apply", "--whitespace=nowarn", str(case.recipe_patch))
        except CommandFailed as exc:
            raise ConfigError(f"case {case.id}: its fix patch does not apply: {exc}") from exc
        fix = git.commit(f"{case.id}: the upstream fix", RECIPE_AUTHOR)
    return dest, buggy, fix


def prepare_cases(cases_dir: Path, dest: Path) -> list[Path]:
    """Write every case of ``cases_dir`` to ``dest`` as an ordinary case (recipes become repositories)."""
    out = []
    for case in load_cases(cases_dir):
        target = dest / case.folder.name
        if target.exists():
            raise ConfigError(f"{target} exists already")
        shutil.copytree(case.folder, target, ignore=shutil.ignore_patterns("results", "build"))
        data = json.loads((case.folder / "case.json").read_text(encoding="utf-8"))
        if case.is_recipe:
            recipe = data.pop("recipe")
            shutil.rmtree(target / str(recipe["project"]))
            if recipe.get("fix_patch"):
                (target / str(recipe["fix_patch"])).unlink(missing_ok=True)
            _, buggy, fix = materialize(case, target / "repo")
            data.update({"repo": "repo", "buggy_commit": buggy})
            if fix:
                data["fix_commit"] = fix
        (target / "case.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        out.append(target)
    return out
