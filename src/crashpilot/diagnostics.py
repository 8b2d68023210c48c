"""Compiler, linker and build-tool diagnostics read out of a build log, to feed back to the model.

Understood: gcc/clang (``file:line:col: error: msg``), MSVC (``file(line[,col]): error C2065: msg``,
``x.obj : error LNK2019: ...``), GNU ld / lld (``undefined reference to``, ``undefined symbol``,
``multiple definition of``), CMake (``CMake Error at file:line``), make (``make: *** [...] Error 1``)
and ninja (``FAILED: target``). Colour codes are stripped, duplicates dropped, the list capped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath

__all__ = ["Diagnostic", "extract", "summarize"]

MAX_MESSAGE = 400
SEVERITY_ORDER = {"error": 0, "warning": 1, "note": 2}


@dataclass(frozen=True)
class Diagnostic:
    file: str | None
    line: int | None
    col: int | None
    severity: str  # error | warning | note
    message: str
    code: str | None = None  # MSVC / linker code such as C2065, LNK2019
    tool: str = "compiler"  # compiler | linker | cmake | make | ninja

    def render(self) -> str:
        where = self.file or self.tool
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        code = f" {self.code}" if self.code else ""
        return f"{where}: {self.severity}{code}: {self.message}"


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_GCC = re.compile(
    r"^(?P<file>(?:[A-Za-z]:)?[^:\n]+?):(?P<line>\d+):(?:(?P<col>\d+):)?\s+"
    r"(?P<sev>fatal error|error|warning|note):\s+(?P<msg>.*)$"
)
_MSVC = re.compile(
    r"^\s*(?:\d+>)?(?P<file>[^()\n]+?)\((?P<line>\d+)(?:,(?P<col>\d+))?(?:,\d+,\d+)?\)\s*:\s*"
    r"(?P<sev>fatal error|error|warning|note)\s+(?P<code>[A-Z]+\d+)\s*:\s*(?P<msg>.*?)"
    r"(?:\s+\[[^\]]+\.(?:vcxproj|csproj|proj)\])?$"
)
_MSVC_NOLINE = re.compile(
    r"^\s*(?:\d+>)?(?P<file>[^:\n]+?(?:\.obj|\.lib|\.exe|\.dll|LINK|cl))\s*:\s*"
    r"(?P<sev>fatal error|error|warning)\s+(?P<code>[A-Z]+\d+)\s*:\s*(?P<msg>.*?)"
    r"(?:\s+\[[^\]]+\.(?:vcxproj|csproj|proj)\])?$"
)
_LD_UNDEF = re.compile(
    r"^(?:\S*?(?:ld|ld\.lld|ld\.gold|mold)(?:\.exe)?:\s+)?(?:(?P<file>(?:[A-Za-z]:)?[^:\n]+?):(?:(?P<line>\d+)|\([^)]*\)):\s+)?"
    r"(?P<msg>(?:undefined reference to|multiple definition of)\s.*)$"
)
_LLD = re.compile(r"^(?:ld\.lld|lld|ld64\.lld|ld|mold|/\S*ld):\s+error:\s+(?P<msg>.*)$")
_DRIVER = re.compile(
    r"^(?P<tool>cc1plus|cc1|g\+\+|gcc|clang\+\+|clang|c\+\+|cc|cl)(?:\.exe)?:\s+"
    r"(?P<sev>fatal error|error):\s+(?P<msg>.*)$"
)
_CMAKE = re.compile(r"^CMake (?P<sev>Error|Warning)(?: \(dev\))? at (?P<file>[^:\n]+):(?P<line>\d+)")
_MAKE = re.compile(r"^(?:g?make|mingw32-make)(?:\[\d+\])?: \*\*\* (?P<msg>.*)$")
_NINJA = re.compile(r"^FAILED: (?P<msg>.*)$")


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _relative(file: str | None, root: Path | None, build_dir: Path | None) -> str | None:
    if file is None or root is None:
        return file
    p = PurePath(file)
    if not p.is_absolute() and build_dir is not None:
        p = Path(build_dir) / p
    if p.is_absolute():
        try:
            resolved = Path(p).resolve()
            return resolved.relative_to(root.resolve()).as_posix()
        except (ValueError, OSError):
            return file
    return file


def _parse_line(line: str) -> Diagnostic | None:
    if m := _GCC.match(line):
        sev = "error" if m["sev"] == "fatal error" else m["sev"]
        col = int(m["col"]) if m["col"] else None
        return Diagnostic(m["file"].strip(), int(m["line"]), col, sev, _clip(m["msg"]))
    if m := _MSVC.match(line):
        sev = "error" if m["sev"] == "fatal error" else m["sev"]
        col = int(m["col"]) if m["col"] else None
        return Diagnostic(m["file"].strip(), int(m["line"]), col, sev, _clip(m["msg"]), m["code"])
    if m := _MSVC_NOLINE.match(line):
        sev = "error" if m["sev"] == "fatal error" else m["sev"]
        tool = "linker" if m["code"].startswith("LNK") else "compiler"
        return Diagnostic(m["file"].strip(), None, None, sev, _clip(m["msg"]), m["code"], tool)
    if m := _LD_UNDEF.match(line):
        file = m["file"].strip() if m["file"] else None
        if file is not None and (file.endswith(("/ld", "ld.lld", "collect2")) or file == "ld"):
            file = None
        lineno = int(m["line"]) if m["line"] else None
        return Diagnostic(file, lineno, None, "error", _clip(m["msg"]), tool="linker")
    if m := _LLD.match(line):
        return Diagnostic(None, None, None, "error", _clip(m["msg"]), tool="linker")
    if m := _DRIVER.match(line):
        return Diagnostic(None, None, None, "error", _clip(m["msg"]))
    if m := _CMAKE.match(line):
        return Diagnostic(
            m["file"], int(m["line"]), None, m["sev"].lower(), "CMake " + m["sev"].lower(), tool="cmake"
        )
    if m := _MAKE.match(line):
        return Diagnostic(None, None, None, "error", _clip(m["msg"]), tool="make")
    if m := _NINJA.match(line):
        return Diagnostic(None, None, None, "error", _clip("FAILED: " + m["msg"]), tool="ninja")
    return None


def extract(
    output: str,
    *,
    root: str | Path | None = None,
    build_dir: str | Path | None = None,
    max_items: int = 50,
    include_notes: bool = False,
) -> list[Diagnostic]:
    """Diagnostics in ``output``, deduplicated, errors kept before warnings when capping.

    With ``root``, file paths under it are made repo-relative (relative paths are taken from
    ``build_dir`` when given).
    """
    root_p = Path(root) if root is not None else None
    build_p = Path(build_dir) if build_dir is not None else None
    seen: set[tuple[object, ...]] = set()
    found: list[Diagnostic] = []
    lines = _ANSI.sub("", output).replace("\r\n", "\n").split("\n")
    for i, raw in enumerate(lines):
        diag = _parse_line(raw.rstrip())
        if diag is None or (diag.severity == "note" and not include_notes):
            continue
        if diag.tool == "cmake" and i + 1 < len(lines) and lines[i + 1].strip():
            nxt = lines[i + 1].strip() if lines[i + 1].startswith(" ") else ""
            if nxt:
                diag = Diagnostic(diag.file, diag.line, None, diag.severity, _clip(nxt), tool="cmake")
        file = _relative(diag.file, root_p, build_p)
        if file != diag.file:
            diag = Diagnostic(file, diag.line, diag.col, diag.severity, diag.message, diag.code, diag.tool)
        key = (diag.file, diag.line, diag.col, diag.severity, diag.message)
        if key in seen:
            continue
        seen.add(key)
        found.append(diag)
    if len(found) <= max_items:
        return found
    keep = sorted(range(len(found)), key=lambda k: (SEVERITY_ORDER.get(found[k].severity, 3), k))[:max_items]
    return [found[k] for k in sorted(keep)]


def summarize(diags: Iterable[Diagnostic], *, max_chars: int = 4000) -> str:
    """A short text for the model: counts, then compiler/linker errors first, then the rest."""
    items = list(diags)
    if not items:
        return "no diagnostics found in the build output"
    errors = sum(1 for d in items if d.severity == "error")
    warnings = sum(1 for d in items if d.severity == "warning")
    head = f"{errors} error(s), {warnings} warning(s)"
    rank = {"compiler": 0, "linker": 0, "cmake": 1, "make": 2, "ninja": 2}
    ordered = sorted(
        items, key=lambda d: (SEVERITY_ORDER.get(d.severity, 3), rank.get(d.tool, 3))
    )  # stable: keeps log order within a rank
    lines = [head]
    used = len(head)
    for n, d in enumerate(ordered):
        text = d.render()
        if used + len(text) + 1 > max_chars:
            lines.append(f"... and {len(ordered) - n} more")
            break
        lines.append(text)
        used += len(text) + 1
    return "\n".join(lines)
