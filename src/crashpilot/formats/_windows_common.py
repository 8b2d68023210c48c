"""What the Windows crash formats (Wheaty, CDB, minidump_stackwalk) share: exception codes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from crashpilot.formats.inapp import is_runtime
from crashpilot.models import Frame
from crashpilot.signature.normalize import strip_arguments

# NTSTATUS exception codes -> the crash kind we report (the EXCEPTION_* name without its prefix).
KIND_BY_CODE: dict[str, str] = {
    "C0000005": "ACCESS_VIOLATION",
    "C0000006": "IN_PAGE_ERROR",
    "C0000008": "INVALID_HANDLE",
    "C0000017": "NO_MEMORY",
    "C000001D": "ILLEGAL_INSTRUCTION",
    "C0000025": "NONCONTINUABLE_EXCEPTION",
    "C0000026": "INVALID_DISPOSITION",
    "C000008C": "ARRAY_BOUNDS_EXCEEDED",
    "C000008D": "FLT_DENORMAL_OPERAND",
    "C000008E": "FLT_DIVIDE_BY_ZERO",
    "C000008F": "FLT_INEXACT_RESULT",
    "C0000090": "FLT_INVALID_OPERATION",
    "C0000091": "FLT_OVERFLOW",
    "C0000092": "FLT_STACK_CHECK",
    "C0000093": "FLT_UNDERFLOW",
    "C0000094": "INTEGER_DIVIDE_BY_ZERO",
    "C0000095": "INTEGER_OVERFLOW",
    "C0000096": "PRIV_INSTRUCTION",
    "C00000FD": "STACK_OVERFLOW",
    "C0000374": "HEAP_CORRUPTION",
    "C0000409": "STACK_BUFFER_OVERRUN",
    "C0000420": "assertion",
    "C0000602": "FAIL_FAST_EXCEPTION",
    "80000001": "GUARD_PAGE",
    "80000002": "DATATYPE_MISALIGNMENT",
    "80000003": "BREAKPOINT",
    "80000004": "SINGLE_STEP",
    "40000015": "FATAL_APP_EXIT",
    "E06D7363": "CPP_EXCEPTION",
}

# Names some tools print that differ from ours (Wheaty prints INT_*, Breakpad EXCEPTION_*).
_NAME_ALIASES = {
    "INT_DIVIDE_BY_ZERO": "INTEGER_DIVIDE_BY_ZERO",
    "INT_OVERFLOW": "INTEGER_OVERFLOW",
    "ASSERTION_FAILURE": "assertion",
}
CODE_BY_KIND = {kind: code for code, kind in KIND_BY_CODE.items()}
for _alias, _kind in _NAME_ALIASES.items():
    CODE_BY_KIND.setdefault(_alias, CODE_BY_KIND[_kind])

_CODE = re.compile(r"(?:0x)?([0-9A-Fa-f]{1,8})")


def normalize_code(text: str | None) -> str | None:
    """``c0000005`` / ``0xc0000005`` -> ``C0000005`` (8 upper-case hex digits); None if not hex."""
    if not text:
        return None
    m = _CODE.fullmatch(text.strip())
    return m.group(1).upper().rjust(8, "0") if m else None


def kind_from_name(name: str) -> str:
    """``EXCEPTION_ACCESS_VIOLATION_WRITE`` -> ``ACCESS_VIOLATION``; ``INT_OVERFLOW`` -> ``INTEGER_OVERFLOW``."""
    n = name.strip().upper()
    if n.startswith("EXCEPTION_"):
        n = n[len("EXCEPTION_") :]
    if n.startswith("STATUS_"):
        n = n[len("STATUS_") :]
    for suffix in ("_READ", "_WRITE", "_EXEC"):
        if n.startswith("ACCESS_VIOLATION") and n.endswith(suffix):
            n = "ACCESS_VIOLATION"
    return _NAME_ALIASES.get(n, n)


def kind_for(code: str | None, name: str | None = None) -> str | None:
    """The crash kind for an exception code, falling back to the name the report prints."""
    if code and code in KIND_BY_CODE:
        return KIND_BY_CODE[code]
    if name and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
        return kind_from_name(name)
    return None


def first_unsymbolized_app_frame(frames: Sequence[Frame]) -> Frame | None:
    """For a stack with no symbols at all: the first frame in a module that is not the OS/runtime.

    ``finish()`` cannot tell whose code a bare ``module + offset`` frame is; in a Windows report
    the program's own module is the one that is not a system DLL, so that frame is the best
    project frame the report offers.
    """
    if any(f.function or f.file for f in frames):
        return None
    for frame in frames:
        if frame.module and not is_runtime(frame):
            return frame.with_(in_app=True)
    return None


def needs_symbols(frames: Sequence[Frame]) -> bool:
    """True when a frame of the program itself (not an OS/runtime module) has no function name."""
    return any(f.function is None and f.module and not is_runtime(f) for f in frames)


_CV_TAIL = re.compile(r"\)(?:\s*(?:const|volatile|&&|&|noexcept))+\s*$")


@lru_cache(maxsize=8192)  # the same names recur in every thread of every report
def strip_args(name: str) -> str:
    """``Unit::GetVictim() const`` -> ``Unit::GetVictim`` (Breakpad symbols carry signatures).

    Names without an argument list (``(anonymous namespace)::f``, ``operator()``) are kept.
    """
    stripped = name.strip()
    bare = _CV_TAIL.sub(")", stripped)
    if not bare.endswith(")"):
        return stripped
    return strip_arguments(bare).strip() or stripped
