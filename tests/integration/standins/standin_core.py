"""Shared logic of the stand-in agent CLIs (``claude``, ``codex``, ``aider`` in this folder).

No model is reachable from CI, so the tests put these on PATH instead of the real programs.
A stand-in reads what to do from ``$HOME/standin.json`` (the agent's environment is scrubbed,
so a test cannot pass it an arbitrary variable, but HOME goes through), records how it was
called in ``$HOME/standin-call.json`` (argv, stdin, environment, cwd), does it to the files
of its working directory, then prints what the real program prints for that case.

Modes: ``edit`` (apply ``edits``: [{path, search, replace}] or create ``path`` with ``content``),
``commit`` (edit, then ``git commit``), ``branch`` (edit on a new branch), ``auth`` (exit 1 with the program's not-logged-in
output), ``fail`` (edit, then exit 1 with an error), ``hang`` (edit, start a child, write both pids
to ``$HOME/standin-pids.json``, sleep), ``nothing`` (success, no change), ``garbage`` (exit 0,
print text that is not the documented output).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def load() -> dict[str, Any]:
    path = Path(os.environ["HOME"]) / "standin.json"
    return json.loads(path.read_text()) if path.is_file() else {"mode": "nothing"}


def record(argv: list[str], stdin: str | None) -> None:
    call = {"argv": argv, "stdin": stdin, "env": dict(os.environ), "cwd": os.getcwd()}
    (Path(os.environ["HOME"]) / "standin-call.json").write_text(json.dumps(call))


def apply_edits(cfg: dict[str, Any]) -> list[str]:
    changed = []
    for edit in cfg.get("edits", []):
        path = Path(edit["path"])
        if "content" in edit:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(edit["content"])
        else:
            text = path.read_text()
            if edit["search"] not in text:
                raise SystemExit(f"stand-in: search text not in {path}")
            path.write_text(text.replace(edit["search"], edit["replace"], 1))
        changed.append(str(path))
    if cfg.get("mode") == "branch":
        subprocess.run(["git", "checkout", "-q", "-b", "agent-branch"], check=True)
    if cfg.get("mode") == "commit":
        subprocess.run(["git", "add", "-A"], check=True)
        subprocess.run(
            [
                "git",
                "-c",
                "user.name=agent",
                "-c",
                "user.email=agent@example.invalid",
                "commit",
                "-qm",
                "agent",
            ],
            check=True,
        )
    return changed


def hang() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    pids = {"self": os.getpid(), "child": child.pid}
    (Path(os.environ["HOME"]) / "standin-pids.json").write_text(json.dumps(pids))
    time.sleep(300)


def main(argv: list[str], respond: Any, read_stdin: bool) -> int:
    """``respond(cfg, changed) -> exit code`` prints the program's output for the mode."""
    stdin = sys.stdin.read() if read_stdin else None
    record(argv, stdin)
    cfg = load()
    mode = cfg.get("mode", "nothing")
    changed = apply_edits(cfg) if mode in ("edit", "commit", "fail", "hang", "branch") else []
    if mode == "hang":
        hang()
    return int(respond(cfg, changed))
