"""The function enclosing a source line, found with tree-sitter (C and C++ grammars).

The span is the innermost ``function_definition`` holding the line, widened to its ``template
<...>`` header; a line inside a lambda belongs to the function that holds the lambda (that is
what a debugger's ``f()::{lambda()#1}::operator()`` frame normalizes to, too). The name is
qualified with the enclosing namespaces and classes as written in the source. tree-sitter is
error-tolerant: macros it cannot expand still leave the function's braces where they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import PurePosixPath
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["FunctionSpan", "find_function", "language_for"]

_C_EXT = frozenset({".c"})
_CPP_EXT = frozenset(
    {
        ".cpp",
        ".cc",
        ".cxx",
        ".c++",
        ".cp",
        ".h",
        ".hh",
        ".hpp",
        ".hxx",
        ".h++",
        ".inl",
        ".ipp",
        ".tpp",
        ".txx",
    }
)
_DECLARATOR_WRAPPERS = frozenset(
    {"pointer_declarator", "reference_declarator", "attributed_declarator", "parenthesized_declarator"}
)
_SCOPES = {
    "namespace_definition": "namespace",
    "class_specifier": "class",
    "struct_specifier": "class",
    "union_specifier": "class",
}


@dataclass(frozen=True)
class FunctionSpan:
    """A function's lines (1-based, inclusive) and its name qualified as the source writes it."""

    name: str
    start: int
    end: int
    in_lambda: bool = False  # the line is inside a lambda within this function
    parse_errors: bool = False  # tree-sitter met text it could not parse inside the function


def language_for(path: str) -> str | None:
    """``"c"``, ``"cpp"`` (headers too) or None for a file that is not C/C++."""
    suffix = PurePosixPath(path.replace("\\", "/")).suffix.lower()
    if suffix in _C_EXT:
        return "c"
    if suffix in _CPP_EXT:
        return "cpp"
    return None


@cache
def _parser(language: str) -> Any | None:
    try:
        import tree_sitter_c
        import tree_sitter_cpp
        from tree_sitter import Language, Parser

        grammar = tree_sitter_c if language == "c" else tree_sitter_cpp
        return Parser(Language(grammar.language()))
    except Exception:  # a missing or broken grammar package: callers fall back to line windows
        log.warning(
            "tree-sitter grammar for %s is not available; using line windows", language, exc_info=True
        )
        return None


@lru_cache(maxsize=8)
def _tree(language: str, source: str) -> Any | None:
    """The syntax tree of ``source`` (cached: several frames often sit in one file)."""
    parser = _parser(language)
    return None if parser is None else parser.parse(source.encode("utf-8", "replace"))


def _text(node: Any) -> str:
    return " ".join(bytes(node.text).decode("utf-8", "replace").split())


def _declared_name(func: Any) -> str | None:
    node = func.child_by_field_name("declarator")
    while node is not None:
        if node.type == "function_declarator":
            inner = node.child_by_field_name("declarator")
            return _text(inner) if inner is not None else None
        if node.type in _DECLARATOR_WRAPPERS:
            node = node.child_by_field_name("declarator") or (
                node.named_children[-1] if node.named_children else None
            )
            continue
        return _text(node)
    return None


def _qualified(func: Any, name: str) -> str:
    scopes: list[str] = []
    node = func.parent
    while node is not None:
        kind = _SCOPES.get(node.type)
        if kind is not None:
            label = node.child_by_field_name("name")
            if label is not None:
                scopes.append(_text(label).replace(" ", ""))
            elif kind == "namespace":
                scopes.append("(anonymous namespace)")
        node = node.parent
    return "::".join([*reversed(scopes), name])


def find_function(source: str, line: int, language: str | None = "cpp") -> FunctionSpan | None:
    """The function enclosing 1-based ``line`` of ``source``, or None (no function there, or no parser)."""
    if language is None or line < 1:
        return None
    lines = source.splitlines()
    if line > len(lines):
        return None
    tree = _tree("c" if language == "c" else "cpp", source)
    if tree is None:
        return None
    text = lines[line - 1]
    column = len(text[: len(text) - len(text.lstrip())].encode("utf-8"))
    node = tree.root_node.descendant_for_point_range((line - 1, column), (line - 1, column))
    in_lambda = False
    while node is not None and node.type != "function_definition":
        in_lambda = in_lambda or node.type == "lambda_expression"
        node = node.parent
    if node is None:
        return None
    top = node
    while top.parent is not None and top.parent.type == "template_declaration":
        top = top.parent
    name = _declared_name(node) or lines[node.start_point.row].strip()[:120]
    return FunctionSpan(
        name=_qualified(node, name),
        start=top.start_point.row + 1,
        end=node.end_point.row + 1,
        in_lambda=in_lambda,
        parse_errors=bool(node.has_error),
    )
