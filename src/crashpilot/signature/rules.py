"""Frame lists (data files in ``lists/``) compiled into matchers."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

LIST_NAMES = ("runtime_modules", "runtime_paths", "runtime_functions", "irrelevant", "prefix")
# File names and paths compare without case (Windows); function names are case-sensitive.
CASELESS = frozenset({"runtime_modules", "runtime_paths"})


@cache
def frame_list(name: str) -> re.Pattern[str] | None:
    """One regex that matches any line of ``lists/<name>.txt`` (None when the list is empty)."""
    if name not in LIST_NAMES:
        raise KeyError(name)
    text = resources.files("crashpilot.signature").joinpath("lists", f"{name}.txt").read_text("utf-8")
    parts = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            re.compile(line)  # a broken line fails here, naming itself
            parts.append(f"(?:{line})")
    flags = re.IGNORECASE if name in CASELESS else 0
    return re.compile("|".join(parts), flags) if parts else None


def matches(name: str, value: str | None) -> bool:
    if not value:
        return False
    pattern = frame_list(name)
    return bool(pattern and pattern.search(value))


def lists_version() -> str:
    """A short hash of all lists: stored with each signature so a change is noticed."""
    import hashlib

    h = hashlib.sha256()
    for name in LIST_NAMES:
        h.update(resources.files("crashpilot.signature").joinpath("lists", f"{name}.txt").read_bytes())
    return h.hexdigest()[:12]
