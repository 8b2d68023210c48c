"""Frame normalization for signatures: the same function reads the same in every report.

Socorro and Sentry do the same: no argument lists, no return types, no ``const``/``&``
qualifiers, template arguments collapsed to ``<T>``, lambda and clone suffixes without their
numbers, no addresses or line numbers. A "function" that is only an address or a placeholder
(``??``, ``<unknown>``) is no function at all: the frame falls back to module + offset.
"""

from __future__ import annotations

import re

_ADDR_SUFFIX = re.compile(r"\s*\+\s*(?:0x)?[0-9A-Fa-f]+$")
_LINE_SUFFIX = re.compile(r"\s+(?:line\s+\d+|at\s+\S+:\d+)$")
_CLONE = re.compile(r"\s*\[clone [^\]]*\]")
_ABI = re.compile(r"\[abi:[^\]]*\]")
_LAMBDA_NUM = re.compile(r"\{lambda\(([^)]*)\)#\d+\}")
_CLANG_LAMBDA = re.compile(r"'lambda\d*'(?:\([^)]*\))?")
_CLANG_ANON = re.compile(r"\$_\d+")
_MSVC_LAMBDA = re.compile(r"<lambda_[0-9a-f]+>")
_UNNAMED = re.compile(r"\{unnamed type#\d+\}|'unnamed\d*'")
_ANON = re.compile(r"`anonymous namespace'|\(anonymous namespace\)|'anonymous namespace'")
_RETURN_TYPE = re.compile(
    r"^(?:(?:static|virtual|inline|const|unsigned|signed|struct|class|enum)\s+)*[\w:<>,*&\s]+?\s+(?=[\w:~]+(?:<|\(|$))"
)
_CALLCONV = re.compile(r"\b(?:__cdecl|__stdcall|__fastcall|__thiscall|__vectorcall|__clrcall)\s+")
_WS = re.compile(r"\s+")
_MARKER = re.compile(r"^<[a-z][a-z ]+>$")
# Operators whose symbols would read as argument or template lists are masked while stripping.
_OPERATOR = re.compile(r"operator\s*(\(\)|<=>|<<=|>>=|<<|>>|<=|>=|->\*|->|<|>|\[\])")
_OPERATOR_BY_MARK: dict[str, str] = {}
_ANON_MARK = "__anonymous_ns__"


def _protect_operator(m: re.Match[str]) -> str:
    mark = f"operator__op{len(m.group(1))}_{sum(map(ord, m.group(1)))}__"
    _OPERATOR_BY_MARK[mark] = "operator" + m.group(1)
    return mark


_PROTECTED = re.compile(r"operator__op\d+_\d+__")
# Placeholders debuggers print when they know no name, and bare addresses.
_NO_NAME = re.compile(
    r"^(?:\?\?+|<unknown>|<null>|unknown|\(null\)|0x[0-9A-Fa-f]+|\[0x[0-9A-Fa-f]+\]|[0-9A-Fa-f]{8,16})$"
)


def strip_templates(name: str) -> str:
    """Replace every top-level template argument list by ``<T>``."""
    out: list[str] = []
    depth = 0
    for ch in name:
        if ch == "<":
            if depth == 0:
                out.append("<T>")
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def strip_arguments(name: str) -> str:
    """Drop the first argument list and all after it: ``f(int) const &`` -> ``f``.

    A lambda's frame ``Outer::run(int)::{lambda()#1}::operator()`` becomes its enclosing
    function ``Outer::run`` (what ``context`` looks up in the source, too).
    """
    depth = 0
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif ch == "(" and depth == 0:
            head = name[:i].rstrip()
            if head.endswith("operator") or head.endswith("operator()"):
                continue  # the call operator's own parentheses
            if head:
                return head
    return name


def normalize_function(name: str | None) -> str | None:
    """The signature form of a function name, or None when the name says nothing."""
    if not name:
        return None
    n = name.strip()
    if _NO_NAME.match(n):
        return None
    if _MARKER.match(n):
        return n  # a debugger's marker frame, e.g. gdb's <signal handler called>
    n = _CLONE.sub("", n)
    n = _ABI.sub("", n)
    n = _LINE_SUFFIX.sub("", n)
    n = _ADDR_SUFFIX.sub("", n)
    n = _CALLCONV.sub("", n)
    n = _ANON.sub(_ANON_MARK, n)
    n = _LAMBDA_NUM.sub("{lambda}", n)
    n = _CLANG_LAMBDA.sub("{lambda}", n)
    n = _MSVC_LAMBDA.sub("{lambda}", n)
    n = _CLANG_ANON.sub("$_", n)
    n = _UNNAMED.sub("{unnamed}", n)
    n = _OPERATOR.sub(_protect_operator, n)
    n = strip_arguments(n)
    n = strip_templates(n)
    n = _PROTECTED.sub(lambda m: _OPERATOR_BY_MARK[m.group(0)], n)
    n = n.replace(_ANON_MARK, "(anonymous)")
    n = re.sub(r"(?:\s+(?:const|volatile|&|&&))+$", "", n)
    if (
        " " in n
        and "operator" not in n
        and _ANON_MARK not in n
        and "(anonymous)" not in n
        and "{lambda}" not in n
    ):
        n = _RETURN_TYPE.sub("", n, count=1)
    n = _WS.sub(" ", n).strip()
    if not n or _NO_NAME.match(n):
        return None
    return n


def module_basename(module: str | None) -> str | None:
    if not module:
        return None
    return re.split(r"[\\/]", module.strip())[-1] or None


def normalize_offset(offset: str) -> str:
    """``0x0001F00D`` -> ``0x1f00d``; Wheaty's ``0001:0004AC98`` keeps its section, lower-cased."""
    o = offset.strip().lower()
    if ":" in o:
        return o
    digits = o[2:] if o.startswith("0x") else o
    digits = digits.lstrip("0") or "0"
    return "0x" + digits
