"""Frame normalization for signatures: the same function reads the same in every report."""

from __future__ import annotations

import re

_ADDR_SUFFIX = re.compile(r"\s*\+\s*(?:0x)?[0-9A-Fa-f]+$")
_CLONE = re.compile(r"\s*\[clone [^\]]*\]")
_ABI = re.compile(r"\[abi:[^\]]*\]")
_LAMBDA_NUM = re.compile(r"\{lambda\(([^)]*)\)#\d+\}")
_MSVC_LAMBDA = re.compile(r"<lambda_[0-9a-f]+>")
_ANON = re.compile(r"`anonymous namespace'|\(anonymous namespace\)")
_RETURN_TYPE = re.compile(r"^(?:(?:static|virtual|inline|const|unsigned|signed|struct|class|enum)\s+)*[\w:<>,*&\s]+?\s+(?=[\w:~]+(?:<|\(|$))")
_WS = re.compile(r"\s+")


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
    """Drop a trailing argument list and cv/ref qualifiers: ``f(int) const &`` -> ``f``."""
    depth = 0
    for i, ch in enumerate(name):
        if ch in "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif ch == "(" and depth == 0:
            head = name[:i]
            if head.endswith("operator") or head.endswith("operator()"):
                continue
            if head:
                return head
    return name


def normalize_function(name: str | None) -> str | None:
    if not name:
        return None
    n = name.strip()
    n = _CLONE.sub("", n)
    n = _ABI.sub("", n)
    n = _ADDR_SUFFIX.sub("", n)
    n = _ANON.sub("(anonymous)", n)
    n = _LAMBDA_NUM.sub("{lambda}", n)
    n = _MSVC_LAMBDA.sub("{lambda}", n)
    n = n.replace("operator()", "operator__call__")
    n = strip_arguments(n)
    n = strip_templates(n)
    n = n.replace("operator__call__", "operator()")
    n = re.sub(r"\s+(const|volatile|&|&&)$", "", n)
    if " " in n and "operator" not in n and "(anonymous)" not in n and "{lambda}" not in n:
        n = _RETURN_TYPE.sub("", n, count=1)
    n = _WS.sub(" ", n).strip()
    return n or None


def module_basename(module: str | None) -> str | None:
    if not module:
        return None
    return re.split(r"[\\/]", module.strip())[-1] or None
