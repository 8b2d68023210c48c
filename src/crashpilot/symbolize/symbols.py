"""A symbol store laid out per build revision: yesterday's core needs yesterday's binary.

::

    <symbols_dir>/
      6a2b8b8c4b2a.../            one folder per build revision (full hash or a short prefix)
        worldserver               the binary as built (ELF) ...
        worldserver.debug         ... its separate debug info (objcopy --only-keep-debug)
        worldserver.pdb           Windows: the PDB beside the .exe
        worldserver/<DEBUGID>/worldserver.sym   Breakpad symbols (dump_syms), also under symbols/

A revision matches a folder when they are equal, or one is a prefix (at least 7 characters) of
the other, ignoring case and a dirty-build suffix (``+``, ``-dirty``). Two matching folders, or
none, give no folder and a note saying so: there is never a fall back to "the latest" build.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MIN_PREFIX = 7
_DIRTY = re.compile(r"(?:\+|-dirty|-modified)$", re.I)
_MAX_WALK = 5000  # entries looked at when searching a revision folder for a binary


@dataclass(frozen=True)
class RevisionLookup:
    """The folder a revision resolved to (``path``), or None with ``note`` saying why."""

    path: Path | None
    note: str
    dirty: bool = False


def normalize_revision(revision: str) -> tuple[str, bool]:
    """``'6a2b8b8c4b2a+ 2024-01-02 (master branch)'`` -> (``'6a2b8b8c4b2a'``, dirty=True)."""
    token = revision.strip().split()[0] if revision.strip() else ""
    dirty = bool(_DIRTY.search(token))
    return _DIRTY.sub("", token).lower(), dirty


def _matches(folder: str, wanted: str) -> bool:
    if folder == wanted:
        return True
    short, long_ = sorted((folder, wanted), key=len)
    return len(short) >= MIN_PREFIX and long_.startswith(short)


def find_revision_dir(symbols_dir: Path | None, revision: str | None) -> RevisionLookup:
    """The folder of ``symbols_dir`` that holds the build ``revision`` (see the module docstring)."""
    if symbols_dir is None:
        return RevisionLookup(None, "no symbol folder configured")
    if not revision or not normalize_revision(revision)[0]:
        return RevisionLookup(
            None, f"the crash names no build revision, so no folder of {symbols_dir} was used"
        )
    wanted, dirty = normalize_revision(revision)
    try:
        folders = [p for p in symbols_dir.iterdir() if p.is_dir()]
    except OSError as exc:
        return RevisionLookup(
            None, f"symbol folder {symbols_dir} cannot be read: {exc.strerror or exc}", dirty
        )
    exact = [p for p in folders if normalize_revision(p.name)[0] == wanted]
    found = exact or [p for p in folders if _matches(normalize_revision(p.name)[0], wanted)]
    if len(found) == 1:
        note = f"symbols for revision {wanted} from {found[0]}"
        if dirty:
            note += " (the build was dirty: local changes may not match these symbols)"
        return RevisionLookup(found[0], note, dirty)
    if len(found) > 1:
        names = ", ".join(sorted(p.name for p in found))
        return RevisionLookup(None, f"revision {wanted} is ambiguous in {symbols_dir}: {names}", dirty)
    return RevisionLookup(None, f"no symbols for revision {wanted} in {symbols_dir}", dirty)


def _walk(root: Path) -> list[Path]:
    """Files under ``root`` (breadth-first, bounded), not following symlinked folders."""
    out: list[Path] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            out.append(Path(dirpath) / name)
        seen += len(filenames) + len(dirnames)
        if seen > _MAX_WALK:
            log.warning("stopped searching %s after %d entries", root, seen)
            break
    return out


def find_binary(rev_dir: Path, name: str) -> Path | None:
    """The executable called ``name`` in a revision folder (top level first, then below it).

    ``name`` may be the 15-character name a core file keeps (``pr_fname``): a longer file name
    that starts with it matches when nothing matches exactly.
    """
    base = Path(name).name
    if not base:
        return None
    files = [p for p in _walk(rev_dir) if p.is_file() and p.suffix.lower() not in (".debug", ".pdb", ".sym")]
    files.sort(key=lambda p: (len(p.relative_to(rev_dir).parts), str(p)))
    exact = [p for p in files if p.name == base]
    if exact:
        return exact[0]
    if len(base) == 15:  # the kernel cuts the command name to 15 characters
        longer = [p for p in files if p.name.startswith(base)]
        if longer:
            return longer[0]
    return None


def debug_dirs(rev_dir: Path) -> list[Path]:
    """Folders where gdb should look for separate debug files of this revision."""
    # gdb itself looks under each folder's .build-id/xx/yyyy.debug
    return [rev_dir, *(rev_dir / sub for sub in (".debug", "debug") if (rev_dir / sub).is_dir())]


def breakpad_roots(rev_dir: Path) -> list[Path]:
    """Symbol paths to give a stackwalker: the revision folder and its ``symbols/`` / ``breakpad/``."""
    roots = [rev_dir]
    for sub in ("symbols", "breakpad"):
        if (rev_dir / sub).is_dir():
            roots.append(rev_dir / sub)
    return roots


def breakpad_symbol_file(roots: list[Path], debug_file: str, debug_id: str) -> Path | None:
    """``<root>/<debug_file>/<debug_id>/<debug_file without .pdb>.sym`` if one exists."""
    if not debug_file or not debug_id or "/" in debug_id or "\\" in debug_id or debug_id in (".", ".."):
        return None
    name = debug_file.replace("\\", "/").rsplit("/", 1)[-1]
    if not name or name in (".", ".."):
        return None
    stem = name[:-4] if name.lower().endswith(".pdb") else name
    for root in roots:
        candidate = root / name / debug_id / f"{stem}.sym"
        if candidate.is_file():
            return candidate
    return None
