"""The patch policy: which files a fix may touch and how big it may be.

Model output is untrusted. Every edit (:mod:`crashpilot.edits`) and every diff an external agent
leaves behind goes through :class:`Policy` before anything is built. By default a fix may not
touch tests, CI configuration or build scripts, may not delete, rename, add binaries or symlinks,
and must stay small. A refusal raises :class:`~crashpilot.errors.PolicyViolation` whose message
says what to do instead, because it is fed back to the model.

Globs: ``*`` and ``?`` stay inside one path segment, ``**`` spans segments (``**/`` may match no
folder at all), ``[...]`` is a character class. A pattern without ``/`` matches the file name in
any folder (``Makefile``, ``*_test.*``); one with ``/`` matches the whole repo-relative path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from crashpilot.errors import PolicyViolation

__all__ = [
    "DEFAULT_FORBIDDEN",
    "DiffFile",
    "DiffSummary",
    "Policy",
    "glob_match",
    "parse_diff",
]

TEST_GLOBS = (
    "**/test/**", "**/tests/**", "**/Test/**", "**/Tests/**", "**/unittest/**", "**/unittests/**",
    "**/unit_tests/**", "**/testdata/**", "**/test_data/**",
    "*_test.*", "*_tests.*", "*_unittest.*", "test_*", "*.test.*", "**/*Test*.cpp", "**/*Test*.h",
)  # fmt: skip
CI_GLOBS = (
    ".github/**", ".gitlab-ci.yml", ".gitlab/**", ".ci/**", ".circleci/**", ".travis.yml",
    "appveyor.yml", ".appveyor.yml", "azure-pipelines.yml", "Jenkinsfile", ".drone.yml",
    ".buildkite/**", ".woodpecker.yml", ".woodpecker/**", "bitbucket-pipelines.yml",
    ".pre-commit-config.yaml", ".gitmodules", ".gitattributes",
)  # fmt: skip
BUILD_GLOBS = (
    "CMakeLists.txt", "*.cmake", "CMakePresets.json", "CMakeUserPresets.json", "Makefile",
    "makefile", "GNUmakefile", "*.mk", "*.make", "configure", "configure.*", "Makefile.am",
    "Makefile.in", "meson.build", "meson_options.txt", "meson.options", "BUILD", "BUILD.bazel",
    "WORKSPACE", "WORKSPACE.bazel", "MODULE.bazel", "*.bzl", "SConstruct", "SConscript",
    "*.vcxproj", "*.vcxproj.filters", "*.sln", "*.props", "*.targets", "conanfile.*",
    "vcpkg.json", "Dockerfile", "*.dockerfile", "premake*.lua", "xmake.lua", "build.ninja",
)  # fmt: skip
DEFAULT_FORBIDDEN: tuple[str, ...] = TEST_GLOBS + CI_GLOBS + BUILD_GLOBS
# Never editable, whatever the configuration says.
ALWAYS_FORBIDDEN: tuple[str, ...] = (".git/**", "**/.git/**", ".git")
SYMLINK_MODE = "120000"
GITLINK_MODE = "160000"


@functools.lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(path: str, pattern: str) -> bool:
    """True when repo-relative ``path`` (with ``/``) matches ``pattern`` (see module doc)."""
    target = path if "/" in pattern else path.rsplit("/", 1)[-1]
    return _glob_regex(pattern).match(target) is not None


def _first_match(path: str, patterns: Sequence[str]) -> str | None:
    return next((p for p in patterns if glob_match(path, p)), None)


@dataclass(frozen=True)
class DiffFile:
    """One file in a unified diff."""

    path: str  # new path (old path for a deletion)
    old_path: str | None = None  # set for renames and copies
    status: str = "modified"  # modified | added | deleted | renamed | copied
    added: int = 0
    deleted: int = 0
    binary: bool = False
    mode: str | None = None  # the new file mode when the diff names one


@dataclass(frozen=True)
class DiffSummary:
    files: tuple[DiffFile, ...]

    @property
    def changed_lines(self) -> int:
        return sum(f.added + f.deleted for f in self.files)


@dataclass(frozen=True)
class Policy:
    """What a fix may change. ``allowed``/``forbidden`` are globs; forbidden wins."""

    allowed: Sequence[str] = ("**",)
    forbidden: Sequence[str] = field(default=DEFAULT_FORBIDDEN)
    max_changed_lines: int = 200
    max_files: int = 10
    allow_delete: bool = False

    def check_path(self, path: str, root: str | Path | None = None) -> str:
        """Return ``path`` normalized (repo-relative, ``/``) or raise :class:`PolicyViolation`.

        With ``root``, symlinks are resolved: the real target must stay inside ``root`` and
        pass the policy too.
        """
        rel = _normalize(path)
        self._check_rel(rel)
        if root is not None:
            base = Path(root).resolve()
            real = (base / rel).resolve()
            if not real.is_relative_to(base):
                raise PolicyViolation(f"{rel}: resolves outside the repository (symlink); edit the real file")
            real_rel = real.relative_to(base).as_posix()
            if real_rel != rel:
                self._check_rel(real_rel)
        return rel

    def _check_rel(self, rel: str) -> None:
        hit = _first_match(rel, ALWAYS_FORBIDDEN) or _first_match(rel, self.forbidden)
        if hit is not None:
            raise PolicyViolation(
                f"{rel}: forbidden by the patch policy (pattern {hit!r}); tests, CI configuration "
                "and build scripts are not changed by a fix — change the program's source instead"
            )
        if _first_match(rel, self.allowed) is None:
            shown = ", ".join(self.allowed)
            raise PolicyViolation(f"{rel}: outside the paths a fix may change ({shown})")

    def check_diff(self, diff_text: str) -> DiffSummary:
        """Parse a unified diff and check it all; raise one violation listing every problem."""
        summary = parse_diff(diff_text)
        problems: list[str] = []
        if not summary.files:
            problems.append("the patch changes nothing")
        for f in summary.files:
            for p in {f.path, f.old_path} - {None}:
                try:
                    self.check_path(str(p))
                except PolicyViolation as exc:
                    problems.append(str(exc))
            if f.binary:
                problems.append(f"{f.path}: binary files may not be changed")
            if f.mode == SYMLINK_MODE:
                problems.append(f"{f.path}: symlinks may not be created or changed")
            if f.mode == GITLINK_MODE:
                problems.append(f"{f.path}: submodules may not be changed")
            if f.status in ("deleted", "renamed") and not self.allow_delete:
                problems.append(f"{f.path}: deleting or renaming files is not allowed; edit it in place")
        if len(summary.files) > self.max_files:
            problems.append(
                f"the patch touches {len(summary.files)} files, more than {self.max_files}; "
                "make a smaller, focused fix"
            )
        if summary.changed_lines > self.max_changed_lines:
            problems.append(
                f"the patch changes {summary.changed_lines} lines, more than {self.max_changed_lines}; "
                "make a smaller, focused fix"
            )
        if problems:
            raise PolicyViolation("patch refused:\n- " + "\n- ".join(dict.fromkeys(problems)))
        return summary


def _normalize(path: str) -> str:
    if not path or "\0" in path or "\\" in path:
        raise PolicyViolation(f"{path!r}: not a usable path (empty, NUL or backslash)")
    p = PurePosixPath(path)
    if p.is_absolute() or re.match(r"^[A-Za-z]:", path):
        raise PolicyViolation(
            f"{path}: absolute paths are refused; use a path relative to the repository root"
        )
    parts = [part for part in p.parts if part != "."]
    if ".." in parts:
        raise PolicyViolation(f"{path}: '..' is refused; use a path inside the repository")
    if not parts:
        raise PolicyViolation(f"{path!r}: not a file path")
    return "/".join(parts)


_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def _strip_prefix(name: str) -> str | None:
    name = name.split("\t", 1)[0].strip()
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    if name == "/dev/null":
        return None
    if name[:2] in ("a/", "b/"):
        return name[2:]
    return name


def parse_diff(text: str) -> DiffSummary:
    """Read a unified diff (``git diff`` style or plain ``diff -u``) into per-file counts."""
    files: list[dict[str, object]] = []
    cur: dict[str, object] | None = None
    # Split on "\n" only: a form feed or other separator inside a source line is not a break.
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    i = 0

    def start() -> dict[str, object]:
        entry: dict[str, object] = {"path": None, "old_path": None, "status": "modified",
                                    "added": 0, "deleted": 0, "binary": False, "mode": None}  # fmt: skip
        files.append(entry)
        return entry

    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            cur = start()
            m = re.match(r'^diff --git (?:"?a/(.+?)"?) (?:"?b/(.+?)"?)$', line)
            if m:
                cur["old_path"], cur["path"] = m.group(1), m.group(2)
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            if cur is None or cur.get("_hunks"):
                cur = start()
            old, new = _strip_prefix(line[4:]), _strip_prefix(lines[i + 1][4:])
            cur["old_path"], cur["path"] = old, new if new is not None else old
            if old is None:
                cur["status"] = "added"
            if new is None:
                cur["status"] = "deleted"
            i += 1
        elif cur is not None and (m := _HUNK.match(line)):
            cur["_hunks"] = True
            old_left = int(m.group(1) or 1)
            new_left = int(m.group(2) or 1)
            while (old_left > 0 or new_left > 0) and i + 1 < len(lines):
                body = lines[i + 1]
                if body.startswith("diff --git "):
                    break  # a hunk header that promised more lines than it has
                i += 1
                if body.startswith("+"):
                    cur["added"] = int(str(cur["added"])) + 1
                    new_left -= 1
                elif body.startswith("-"):
                    cur["deleted"] = int(str(cur["deleted"])) + 1
                    old_left -= 1
                elif body.startswith("\\"):
                    continue
                else:
                    old_left -= 1
                    new_left -= 1
        elif cur is not None:
            _extended_header(cur, line)
        i += 1
    return DiffSummary(tuple(_finish(f) for f in files if f["path"] or f["old_path"]))


def _extended_header(cur: dict[str, object], line: str) -> None:
    word, _, rest = line.partition(" ")
    if line.startswith("new file mode "):
        cur["status"], cur["mode"] = "added", line.rsplit(" ", 1)[1]
    elif line.startswith("deleted file mode "):
        cur["status"], cur["mode"] = "deleted", line.rsplit(" ", 1)[1]
    elif line.startswith("new mode "):
        cur["mode"] = line.rsplit(" ", 1)[1]
    elif line.startswith(("rename from ", "copy from ")):
        cur["old_path"] = line.split(" ", 2)[2]
        cur["status"] = "renamed" if word == "rename" else "copied"
    elif line.startswith(("rename to ", "copy to ")):
        cur["path"] = line.split(" ", 2)[2]
    elif word == "index" and len(rest.split()) == 2:
        cur["mode"] = cur["mode"] or rest.split()[1]
    elif line.startswith("Binary files ") or line.startswith("GIT binary patch"):
        cur["binary"] = True


def _finish(f: dict[str, object]) -> DiffFile:
    status = str(f["status"])
    path = f["path"] if status != "deleted" else (f["old_path"] or f["path"])
    old = f["old_path"] if status in ("renamed", "copied") else None
    mode = f["mode"]
    return DiffFile(
        path=str(path),
        old_path=str(old) if old else None,
        status=status,
        added=int(str(f["added"])),
        deleted=int(str(f["deleted"])),
        binary=bool(f["binary"]),
        mode=str(mode) if mode else None,
    )
