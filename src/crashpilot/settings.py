"""Every setting, declared once: name, default, environment variable, doc.

Precedence: defaults < ``crashpilot.toml`` < ``CRASHPILOT_*`` environment < command-line flags.
A setting ``section.key`` is read from ``[section] key = ...`` in the file and from the
environment variable ``CRASHPILOT_SECTION_KEY``; lists in the environment are comma-separated.
Library code receives a ``Settings`` object and never reads the environment itself.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashpilot.errors import ConfigError

CONFIG_NAME = "crashpilot.toml"


@dataclass(frozen=True)
class Setting:
    key: str  # "section.name"
    type: type
    default: Any
    doc: str

    @property
    def env(self) -> str:
        return "CRASHPILOT_" + self.key.replace(".", "_").upper()


def _s(key: str, typ: type, default: Any, doc: str) -> Setting:
    return Setting(key, typ, default, doc)


SETTINGS: tuple[Setting, ...] = (
    _s("home", str, "", "Folder for the database, raw reports, logs and quarantine (default: a per-user data folder per project). Env: CRASHPILOT_HOME."),
    _s("project.name", str, "", "Project name, used for the default home folder and in messages (default: the repo folder's name)."),
    _s("project.repo", str, "", "Path of the C/C++ project's git repository (default: the folder holding crashpilot.toml)."),
    _s("project.base_branch", str, "main", "Branch fixes start from and pull requests target."),
    _s("project.in_app", list, ["src/"], "Repository paths (prefixes or globs) that hold the project's own code."),
    _s("watch.folders", list, [], "Folders watched for crash files (each a path, or 'path:glob')."),
    _s("watch.glob", str, "*", "File name pattern for watched folders without their own glob."),
    _s("watch.recursive", bool, False, "Watch sub-folders too."),
    _s("watch.poll", bool, False, "Poll instead of using file-system events (network shares)."),
    _s("watch.settle_seconds", float, 1.0, "A file without a close event counts as complete when unchanged this long."),
    _s("queue.folder", str, "", "The request-queue folder of the earlier design (crash_analysis_queue): requests/ are read, responses/ written."),
    _s("limits.text_max_bytes", int, 16 * 1024 * 1024, "Largest text crash report accepted; larger files are quarantined."),
    _s("limits.dump_max_bytes", int, 512 * 1024 * 1024, "Largest dump (.dmp, core) accepted; larger files are quarantined."),
    _s("symbols.folder", str, "", "Symbol store for dumps and cores: one folder per build revision holding the binary, its .debug/.pdb and Breakpad .sym files (see docs/dumps.md); empty = none."),
    _s("symbols.stackwalker", str, "", "Minidump stackwalker (minidump_stackwalk, minidump-stackwalk or cdb): a path or a name; empty = look on PATH."),
    _s("symbols.gdb", str, "gdb", "gdb used to read Linux core files (a path or a name on PATH)."),
    _s("symbols.binary", str, "", "A fixed binary for every core file (setups with one build); empty = the binary of the crash's revision in symbols.folder."),
    _s("symbols.timeout", float, 120.0, "Seconds before a stackwalker or gdb run on one dump is killed."),
    _s("grouping.depth", int, 3, "Meaningful frames in a signature (prefix frames do not count); change it, then run `crashpilot resign`."),
    _s("grouping.lists_folder", str, "", "Folder of extra frame-list lines (irrelevant.txt, prefix.txt, sentinel.txt ...) added to the built-in lists."),
    _s("grouping.fuzzy_threshold", float, 0.75, "Similarity (0..1) a new group's stack needs to join an open group (docs/grouping.md); above 1 turns the fuzzy stage off."),
    _s("database.url", str, "", "Database URL: empty = SQLite in the home folder; postgresql://user@host/db for several hosts."),
    _s("worker.lease_seconds", float, 60.0, "How long a claimed job stays leased without a heartbeat."),
    _s("worker.build_slots", int, 1, "Build slots per host: at most this many builds run at once."),
    _s("worker.max_fix_attempts", int, 3, "FIX passes per run before the group goes to NEEDS_HUMAN."),
    _s("build.command", str, "", "Build command, run from the repository root of a build slot."),
    _s("build.timeout", float, 1800.0, "Seconds before a build is killed (with its whole process group)."),
    _s("test.command", str, "", "Test command; tests that passed on the base must still pass."),
    _s("test.timeout", float, 1800.0, "Seconds before the test command is killed."),
    _s("reproduce.command", str, "", "Command that reproduces the crash ({input} = the test case path)."),
    _s("reproduce.runs", int, 3, "How many times the reproducer runs on each build (reproducers are flaky)."),
    _s("reproduce.timeout", float, 120.0, "Seconds before one reproducer run is killed."),
    _s("model.name", str, "", "Model as provider:name, e.g. anthropic:claude-sonnet-4-5 or openai:gpt-4.1; empty = no model (triage briefs only)."),
    _s("model.base_url", str, "", "Base URL for an OpenAI-compatible server (Ollama, vLLM, llama.cpp)."),
    _s("model.timeout", float, 120.0, "Seconds before one model request is abandoned (then retried)."),
    _s("model.retries", int, 3, "Retries of a model call after a transient failure (timeout, 429, 5xx)."),
    _s("model.max_tokens", int, 4096, "Most output tokens one model answer may use."),
    _s("budget.tokens", int, 400_000, "Model tokens (input + output) one run may spend before it stops; 0 = no limit."),
    _s("budget.calls", int, 80, "Model calls one run may make before it stops; 0 = no limit."),
    _s("budget.minutes", float, 30.0, "Wall-clock minutes a run may spend on model calls before it stops; 0 = no limit."),
    _s("budget.usd", float, 0.0, "US dollars one run may spend on model calls (needs the model's price in costs.prices); 0 = no limit."),
    _s("costs.prices", list, [], "Model prices in USD per million tokens, 'model=input/output' (e.g. 'claude-sonnet-4-5=3.00/15.00'); a model with no price has cost null."),
    _s("costs.daily_cap_usd", float, 0.0, "Model spend (USD, all runs) per UTC day after which no new run starts until 00:00 UTC; 0 = no cap."),
    _s("costs.monthly_cap_usd", float, 0.0, "Model spend (USD, all runs) per UTC calendar month after which no new run starts; 0 = no cap."),
    _s("costs.daily_cap_tokens", int, 0, "Model tokens (all runs, priced or not) per UTC day after which no new run starts; 0 = no cap."),
    _s("costs.monthly_cap_tokens", int, 0, "Model tokens (all runs, priced or not) per UTC month after which no new run starts; 0 = no cap."),
    _s("costs.recheck_minutes", float, 15.0, "While a cap holds, a waiting group checks again this often (and at the reset)."),
    _s("agent.max_turns", int, 40, "Model turns the built-in FIX agent may take in one pass."),
    _s("agent.run_tools", bool, True, "Give the FIX agent build / test / reproducer tools (they run in the build slot)."),
    _s("agent.backend", str, "builtin", "Who edits the code in FIX: builtin (crashpilot's tool loop) or an agent CLI: claude-code, codex, aider (docs/agents.md)."),
    _s("agent.timeout", float, 1800.0, "Seconds an agent CLI may run in one FIX pass before its whole process group is killed."),
    _s("agent.executable", str, "", "The agent CLI program (a path or a name on PATH); empty = claude, codex or aider."),
    _s("agent.key_env", str, "", "Environment variable whose key the agent CLI gets (the only secret it sees); empty = the backend's own (ANTHROPIC_API_KEY, CODEX_API_KEY)."),
    _s("agent.max_budget_usd", float, 0.0, "Most US dollars one agent CLI pass may spend (Claude Code's --max-budget-usd); 0 = no limit."),
    _s("agent.model", str, "", "Model name passed to the agent CLI (--model); empty = the program's default."),
    _s("bot.name", str, "crashpilot", "Author name of the commits crashpilot makes."),
    _s("bot.email", str, "crashpilot@localhost", "Author e-mail of the commits crashpilot makes."),
    _s("forge.kind", str, "local", "Where pull requests go: local (branches in the repo) or github."),
    _s("forge.repo", str, "", "The forge repository of the project (core) as owner/name, e.g. azerothcore/azerothcore-wotlk (github forge)."),
    _s("forge.base_url", str, "https://api.github.com", "REST API URL of the forge (GitHub Enterprise Server: https://HOST/api/v3)."),
    _s("forge.push_url", str, "", "HTTPS URL branches are pushed to (empty = the repository's clone URL from the API); no credentials in it, the token is sent in a header."),
    _s("forge.commit_template", str, "fix: {summary}", "Subject of crashpilot's commits: {summary}, {area} (the changed file's folder), {group}, {signature}; e.g. 'fix(Core/{area}): {summary}'."),
    _s("forge.timeout", float, 15.0, "Seconds before one forge API request is abandoned (then retried)."),
    _s("forge.poll_seconds", float, 300.0, "How often TRACK asks the forge about an open pull request (merged, closed, changes requested)."),
    _s("forge.module_repos", list, [], "Forge repository of each module as 'folder=owner/name', e.g. 'modules/mod-playerbots=liyunfan1223/mod-playerbots'."),
    _s("project.modules", list, [], "Sub-folders of the project that are git repositories of their own (e.g. modules/mod-playerbots); a fix there gets its branch and pull request in that repository."),
    _s("policy.allowed", list, [], "Globs the patch may touch (empty = the in-app paths)."),
    _s("policy.forbidden", list, [], "Extra globs the patch may never touch (tests, CI and build scripts are always refused unless allowed here)."),
    _s("policy.max_changed_lines", int, 200, "Largest patch, in changed lines."),
    _s("log.level", str, "INFO", "Log level of the log file and of `crashpilot run`."),
)

BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any]
    config_path: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)  # key -> default|file|env|flag

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def repo(self) -> Path | None:
        repo = self.values["project.repo"]
        if repo:
            p = Path(repo).expanduser()
            if not p.is_absolute() and self.config_path is not None:
                p = self.config_path.parent / p
            return p.resolve()
        return self.config_path.parent.resolve() if self.config_path else None

    @property
    def home(self) -> Path:
        if self.values["home"]:
            return Path(self.values["home"]).expanduser().resolve()
        from platformdirs import user_data_path

        name = self.values["project.name"] or (self.repo.name if self.repo else "default")
        return user_data_path("crashpilot") / _slug(name)

    @property
    def database_url(self) -> str:
        if self.values["database.url"]:
            return str(self.values["database.url"])
        return f"sqlite:///{self.home / 'crashpilot.db'}"

    def watch_folders(self) -> list[tuple[Path, str]]:
        out = []
        base = self.config_path.parent if self.config_path else Path.cwd()
        for item in self.values["watch.folders"]:
            path, _, glob = str(item).partition(":") if not re.match(r"^[A-Za-z]:[\\/]", str(item)) else (str(item), "", "")
            p = Path(path).expanduser()
            out.append(((base / p) if not p.is_absolute() else p, glob or self.values["watch.glob"]))
        return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "default"


def find_config(start: Path | None = None) -> Path | None:
    """``crashpilot.toml`` in ``start`` (default: the current folder) or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _line_of(text: str, key: str) -> int | None:
    section, _, name = key.rpartition(".")
    current = ""
    for no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        m = re.match(r"^\[\s*([^\]]+?)\s*\]", stripped)
        if m:
            current = m.group(1)
            continue
        if current == section and re.match(rf"^{re.escape(name)}\s*=", stripped):
            return no
    return None


def _coerce(setting: Setting, value: Any, where: str) -> Any:
    typ = setting.type
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif typ is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
    elif typ is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{where}: {setting.key} must be {_type_word(typ)}, got {value!r}")


def _type_word(typ: type) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", list: "a list of strings", str: "a string"}[typ]


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key not in BY_KEY:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def read_file(path: Path) -> dict[str, Any]:
    """Settings from one TOML file; an unknown key or a wrong type names the key and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    out: dict[str, Any] = {}
    for key, value in _flatten(data).items():
        line = _line_of(text, key)
        where = f"{path}:{line}" if line else str(path)
        setting = BY_KEY.get(key)
        if setting is None:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        out[key] = _coerce(setting, value, where)
    return out


def load(
    config: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    search_from: Path | None = None,
) -> Settings:
    """Build the settings: defaults < file < environment < flags."""
    values = {s.key: (list(s.default) if isinstance(s.default, list) else s.default) for s in SETTINGS}
    sources = {s.key: "default" for s in SETTINGS}
    env = os.environ if env is None else env
    path: Path | None
    if config is not None:
        path = Path(config).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
    else:
        path = find_config(search_from)
    if path is not None:
        path = path.resolve()
        for key, value in read_file(path).items():
            values[key], sources[key] = value, "file"
    for s in SETTINGS:
        if s.env in env and env[s.env] != "":
            values[s.key], sources[s.key] = _coerce(s, env[s.env], f"environment {s.env}"), "env"
    for key, value in (flags or {}).items():
        if value is None:
            continue
        setting = BY_KEY.get(key)
        if setting is None:
            raise ConfigError(f"unknown setting {key!r}")
        values[key], sources[key] = _coerce(setting, value, "command line"), "flag"
    return Settings(values=values, config_path=path, sources=sources)


def describe() -> str:
    """Markdown table of every setting (docs/configuration.md is generated from it)."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = s.default if s.default not in ("", []) else "(empty)"
        rows.append(f"| `{s.key}` | `{s.env}` | `{default}` | {s.doc} |")
    return "\n".join(rows) + "\n"
