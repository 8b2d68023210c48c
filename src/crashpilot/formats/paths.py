"""Map build-machine paths in a report to paths inside the project's repository."""

from __future__ import annotations

import os
import re
import subprocess
from functools import lru_cache
from pathlib import Path


def split_path(path: str) -> list[str]:
    return [p for p in re.split(r"[\\/]+", path.strip()) if p and p != "."]


@lru_cache(maxsize=16)
def repo_files(repo: str) -> frozenset[str]:
    """Every file of the repository, repo-relative with '/' (git ls-files, else a walk)."""
    root = Path(repo)
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        files = [f for f in out.decode("utf-8", "replace").split("\0") if f]
        if files:
            return frozenset(files)
    except (OSError, subprocess.SubprocessError):
        pass
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in ("build", "node_modules")]
        for name in filenames:
            found.append(os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/"))
    return frozenset(found)


@lru_cache(maxsize=16)
def _suffix_index(repo: str) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for f in repo_files(repo):
        index.setdefault(f.rsplit("/", 1)[-1].lower(), []).append(f)
    return index


def map_to_repo(path: str | None, repo: str | Path | None) -> str | None:
    """The repo-relative path that shares the longest suffix with ``path`` (None if no file does).

    Comparison ignores case, since some Windows builds print lower-cased paths.
    """
    if not path or not repo:
        return None
    parts = [p.lower() for p in split_path(path)]
    if not parts:
        return None
    candidates = _suffix_index(str(repo)).get(parts[-1], [])
    best: str | None = None
    best_len = 0
    for cand in candidates:
        cparts = cand.lower().split("/")
        n = 0
        while n < len(cparts) and n < len(parts) and cparts[-1 - n] == parts[-1 - n]:
            n += 1
        if n > best_len or (n == best_len and best is not None and len(cand) < len(best)):
            best, best_len = cand, n
    return best
