"""The results of an eval: a table for people (plain text and markdown) and the JSON list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "markdown", "summary_line", "table", "write_results"]

COLUMNS = ("id", "localized", "plausible", "verification", "seconds", "tokens", "cost", "error")


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "cost":
        return f"${float(value):.4f}"
    if key == "seconds":
        return f"{float(value):.1f}"
    text = str(value).replace("|", "/").replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def summary_line(rows: Sequence[dict[str, Any]], label: str) -> str:
    n = len(rows)
    plaus = sum(1 for r in rows if r.get("plausible"))
    loc = [r for r in rows if r.get("localized") is not None]
    located = sum(1 for r in loc if r["localized"])
    tokens = sum(int(r.get("tokens") or 0) for r in rows)
    costs = [float(r["cost"]) for r in rows if r.get("cost") is not None]
    parts = [f"{label}: {plaus}/{n} plausible ({100 * plaus / n:.0f} %)" if n else f"{label}: no cases"]
    parts.append(f"localized {located}/{len(loc)}" if loc else "localized: n/a (no analysis ran)")
    parts.append(f"{tokens} tokens")
    parts.append(f"cost ${sum(costs):.4f}" if costs else "cost unknown")
    return ", ".join(parts)


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table of ``rows`` (the JSON objects)."""
    cells = [[_cell(k, r.get(k)) for k in COLUMNS] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) if cells else len(k) for i, k in enumerate(COLUMNS)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def markdown(rows: Sequence[dict[str, Any]], label: str, note: str = "") -> str:
    out = [f"# crashpilot eval: {label}", ""]
    if note:
        out += [note, ""]
    out += [summary_line(rows, label), ""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "---|" * len(COLUMNS))
    for r in rows:
        out.append("| " + " | ".join(_cell(k, r.get(k)) for k in COLUMNS) + " |")
    out += ["", "A plausible patch is not necessarily a correct one: review the diffs (docs/eval.md).", ""]
    return "\n".join(out)


def write_results(folder: Path, rows: Sequence[dict[str, Any]], label: str, note: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(list(rows), indent=2) + "\n", encoding="utf-8")
    (folder / "results.md").write_text(markdown(rows, label, note), encoding="utf-8")
