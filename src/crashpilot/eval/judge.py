"""How an eval case is judged from what the pipeline stored: localized, plausible, verification.

- **localized**: the analysis (fault location, root cause, plan) names a file or a function the
  upstream fix changed (file by base name, function by its last name part, as hunk headers and
  the fix's own lines show them). None when no analysis ran (gold) or there is no fix commit.
- **plausible**: the fix built; the reproducer crashed on the base and did not crash (no
  signal, no sanitizer or assertion report, no hang) in any of its k runs on the fix; the tests,
  when the case has them, pass on the fix. Read from VERIFY's evidence, never from a model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

__all__ = ["fix_targets", "localized", "plausible"]

_HUNK = re.compile(r"^@@ [^@]* @@ ?(.*)$")
_FILE = re.compile(r"^\+\+\+ b/(.+)$")
_CALLABLE = re.compile(r"([A-Za-z_~][A-Za-z0-9_:~]*)\s*\(")
_KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "catch"}


def fix_targets(diff: str) -> tuple[set[str], set[str]]:
    """(file base names, function names) a unified diff changes; names from hunk headers."""
    files: set[str] = set()
    functions: set[str] = set()
    for line in diff.splitlines():
        m = _FILE.match(line)
        if m:
            files.add(PurePosixPath(m.group(1).strip()).name)
            continue
        m = _HUNK.match(line)
        if m:
            for name in _CALLABLE.findall(m.group(1)):
                short = name.split("::")[-1]
                if short and short not in _KEYWORDS:
                    functions.add(short)
    return files, functions


def localized(analysis: Mapping[str, Any] | None, fix_diff: str | None) -> bool | None:
    """Did the analysis name a file or function the upstream fix changed? None when unknowable."""
    if not analysis or not fix_diff:
        return None
    text = " ".join(str(analysis.get(k) or "") for k in ("fault_location", "root_cause", "plan"))
    files, functions = fix_targets(fix_diff)
    for name in files:
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text):
            return True
    for name in functions:
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text):
            return True
    return False


def plausible(verify: Mapping[str, Any] | None) -> bool:
    """Built, reproducer crashed before and not after (k runs), tests (if any) pass."""
    if not verify:
        return False
    base, fix = verify.get("base") or {}, verify.get("fix") or {}
    if not (fix.get("build") or {}).get("ok"):
        return False
    b_repro, f_repro = base.get("reproducer") or {}, fix.get("reproducer") or {}
    if not f_repro.get("configured") or int(b_repro.get("crashes") or 0) <= 0:
        return False
    if not f_repro.get("ok") or int(f_repro.get("crashes") or 0) > 0:
        return False
    tests = fix.get("tests") or {}
    return not (tests.get("configured") and not tests.get("ok"))
