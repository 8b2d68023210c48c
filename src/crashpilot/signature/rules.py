"""Frame lists (data files in ``lists/``) compiled into matchers.

A project can add lines of its own: ``use_extra_lists(folder)`` appends ``<folder>/<name>.txt``
to each built-in list (the ``grouping.lists_folder`` setting). Changing them changes
``lists_version()``, so ``crashpilot resign`` knows which stored signatures are stale.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

LIST_NAMES = ("runtime_modules", "runtime_paths", "runtime_functions", "irrelevant", "prefix", "sentinel")
# Bumped when the way lists are applied changes (normalization, the walk), not only the lists.
ALGORITHM = 2
# File names and paths compare without case (Windows); function names are case-sensitive.
CASELESS = frozenset({"runtime_modules", "runtime_paths"})


_extra: Path | None = None
_listeners: list[Callable[[], None]] = []


def on_lists_change(callback: Callable[[], None]) -> None:
    """Call ``callback`` (e.g. a memo's ``cache_clear``) whenever the lists in use change."""
    _listeners.append(callback)


def use_extra_lists(folder: str | Path | None) -> None:
    """Append ``<folder>/<name>.txt`` to the built-in lists (None: built-in lists only)."""
    global _extra
    new = Path(folder) if folder else None
    if new == _extra:
        return
    _extra = new
    frame_list.cache_clear()
    lists_version.cache_clear()
    for callback in _listeners:
        callback()


def _list_bytes(name: str) -> bytes:
    data = resources.files("crashpilot.signature").joinpath("lists", f"{name}.txt").read_bytes()
    if _extra is not None:
        extra = _extra / f"{name}.txt"
        if extra.is_file():
            data += b"\n" + extra.read_bytes()
    return data


@cache
def frame_list(name: str) -> re.Pattern[str] | None:
    """One regex that matches any line of ``lists/<name>.txt`` (None when the list is empty)."""
    if name not in LIST_NAMES:
        raise KeyError(name)
    text = _list_bytes(name).decode("utf-8")
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


@cache
def lists_version() -> str:
    """A short hash of all lists in use: stored with each signature so a change is noticed."""
    h = hashlib.sha256()
    for name in LIST_NAMES:
        h.update(_list_bytes(name))
    return h.hexdigest()[:12]


def rules_version(depth: int) -> str:
    """What a stored signature was made with: algorithm, lists and depth (``"2.<hash>.3"``).

    ``resign`` compares it with the stored ``parsed["signature_rules"]`` to tell stale reports."""
    return f"{ALGORITHM}.{lists_version()}.{depth}"
