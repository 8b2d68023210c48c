"""Small helpers every parser needs: hex addresses, ``name+offset`` splitting, module names.

Shared by all format modules: add to it with small edits, keep each helper general.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from crashpilot.models import Frame

_HEX = re.compile(r"(?:0[xX])?([0-9A-Fa-f`]+)")
_HEX_NUMBER = re.compile(r"(?:0[xX])?[0-9A-Fa-f]+")


def hex_address(text: str | None) -> str | None:
    """``00007FF7`283B53F6`` / ``0x0040429e`` / ``000000bc`aeaaa440`` -> ``0x7ff7283b53f6``.

    Returns None when ``text`` is not a hexadecimal number.
    """
    if not text:
        return None
    m = _HEX.fullmatch(text.strip())
    if not m:
        return None
    digits = m.group(1).replace("`", "").lstrip("0").lower()
    if not m.group(1).replace("`", ""):
        return None
    return "0x" + (digits or "0")


def split_offset(symbol: str) -> tuple[str, str | None]:
    """``Name+A6`` -> (``Name``, ``A6``); ``f+0x1e`` -> (``f``, ``0x1e``); no offset -> (symbol, None).

    Only a trailing ``+<hex>`` is split off, so ``operator+`` and ``operator++`` stay whole.
    """
    cut = symbol.rfind("+")
    if cut <= 0:
        return symbol.strip(), None
    tail = symbol[cut + 1 :].strip()
    head = symbol[:cut].rstrip()
    if not tail or not _HEX_NUMBER.fullmatch(tail) or not head or head.endswith("operator"):
        return symbol.strip(), None
    return head.strip(), tail


def module_name(path: str | None) -> str | None:
    """The file name part of a module path (``D:\\x\\worldserver.exe`` -> ``worldserver.exe``)."""
    if not path:
        return None
    name = re.split(r"[\\/]", path.strip())[-1]
    return name or None


# --- function names with argument lists (added by the linux-formats parsers) -------------------

_OPEN = "(<[{"
_CLOSE = ")>]}"
_OPERATOR_TAIL = re.compile(r"\s*(?:\(\)|\[\]|<=>|<<=|>>=|->\*|->|<<|>>|<=|>=|[-+*/%^&|~!=<>,]=?|new\b(?:\[\])?|delete\b(?:\[\])?)")


def split_call(text: str) -> tuple[str, str]:
    """Split ``name(args) rest`` at the argument list: (``name``, ``(args) rest``).

    Handles ``(anonymous namespace)::f(int)``, templates (``f<void (int)>(x)``), lambdas
    (``{lambda(int)#1}::operator()``) and ``operator()`` / ``operator<`` names. Returns
    (``text``, ``""``) when there is no argument list. One linear pass.
    """
    depth = 0
    i = 0
    n = len(text)
    seen = False  # a non-blank character before i
    while i < n:
        ch = text[i]
        if ch == "o" and depth == 0 and text.startswith("operator", i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = _OPERATOR_TAIL.match(text, i + 8)
            if m and m.end() > i + 8:
                i = m.end()
                seen = True
                continue
        if ch == "(" and text.startswith("(anonymous namespace)", i):  # part of a name, not args
            i += len("(anonymous namespace)")
            seen = True
            continue
        if ch == "(" and depth == 0 and seen:
            return text[:i].rstrip(), text[i:]
        if ch in _OPEN:
            if ch == "<" and depth == 0 and not seen:
                return text, ""
            depth += 1
        elif ch in _CLOSE and depth:
            depth -= 1
        if not ch.isspace():
            seen = True
        i += 1
    return text.strip(), ""


def strip_return_type(name: str) -> str:
    """``RecordNode *Dup(const X *)`` / ``void Foo::bar(int) const`` -> ``Dup`` / ``Foo::bar``.

    For names printed like ``__PRETTY_FUNCTION__``: drop the argument list, then everything up to
    the last blank outside template brackets (``operator new`` and friends are kept whole).
    """
    head, _ = split_call(name.strip())
    depth = 0
    cut = 0
    for i, ch in enumerate(head):
        if ch in "<([{":
            depth += 1
        elif ch in ">)]}" and depth:
            depth -= 1
        elif ch.isspace() and depth == 0 and not head[:i].endswith("operator"):
            cut = i + 1
    out = head[cut:].lstrip("*& ")
    return out or head


def function_name(text: str | None) -> str | None:
    """A frame's function without argument list / signature: ``Foo::bar(int) const`` -> ``Foo::bar``."""
    if not text:
        return None
    name, _ = split_call(text.strip())
    return name or None


def demangle_names(names: list[str], timeout: float = 10.0) -> dict[str, str]:
    """Demangle every Itanium (``_Z...``) name in one ``c++filt`` call; unknown names map to themselves.

    Without ``c++filt`` (or when it fails) the names are returned unchanged.
    """
    import shutil
    import subprocess

    out = {n: _DEMANGLED.get(n, n) for n in names}
    wanted = sorted({n for n in names if n.startswith("_Z") and "\n" not in n and n not in _DEMANGLED})
    if not wanted:
        return out
    exe = shutil.which("c++filt")
    if not exe:
        return out
    try:
        done = subprocess.run(
            [exe], input="\n".join(wanted) + "\n", capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return out
    lines = done.stdout.splitlines()
    if done.returncode == 0 and len(lines) == len(wanted):
        if len(_DEMANGLED) > _DEMANGLED_MAX:
            _DEMANGLED.clear()
        for name, plain in zip(wanted, lines, strict=True):
            out[name] = _DEMANGLED[name] = plain.strip() or name
    return out


# Names c++filt already demangled (a crash storm repeats them): one subprocess per new name set.
_DEMANGLED: dict[str, str] = {}
_DEMANGLED_MAX = 1 << 16


_FRAME_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Frame)}
_PLAIN_FRAME = not hasattr(Frame, "__post_init__") and not hasattr(Frame, "__slots__") and all(
    f.default is not dataclasses.MISSING for f in dataclasses.fields(Frame)
)
_N_FIELDS = len(_FRAME_DEFAULTS)
_new = object.__new__


def new_frame(**fields: Any) -> Frame:
    """``Frame(**fields)`` for hot loops (thousands of frames in one report): the frozen
    dataclass ``__init__`` sets each field through ``object.__setattr__``; this fills the
    instance dict at once. The same object (equal, same repr); plain ``Frame(...)`` is used
    whenever the class stops being a plain dataclass with defaults. Unknown names raise."""
    if not _PLAIN_FRAME:
        return Frame(**fields)
    frame: Frame = _new(Frame)
    values = frame.__dict__
    values.update(_FRAME_DEFAULTS)
    values.update(fields)
    if len(values) != _N_FIELDS:
        raise TypeError(f"Frame has no field(s) {sorted(fields.keys() - _FRAME_DEFAULTS.keys())}")
    return frame


def replace_frame(frame: Frame, **changes: Any) -> Frame:
    """``frame.with_(**changes)`` for hot loops, under the same terms as ``new_frame``."""
    if not _PLAIN_FRAME or type(frame) is not Frame:
        return frame.with_(**changes)
    copy: Frame = _new(Frame)
    values = copy.__dict__
    values.update(frame.__dict__)
    values.update(changes)
    if len(values) != _N_FIELDS:
        raise TypeError(f"Frame has no field(s) {sorted(changes.keys() - _FRAME_DEFAULTS.keys())}")
    return copy
