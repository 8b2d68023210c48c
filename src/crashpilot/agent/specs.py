"""The tools the built-in FIX agent offers the model, as :class:`ToolSpec` (name, doc, JSON schema).

There is deliberately no network tool and no "run a command" tool: the only programs that run
are the build, reproducer and tests the operator configured, inside the build slot.
"""

from __future__ import annotations

from typing import Any

from crashpilot.backends.models.types import ToolSpec

__all__ = ["FINISH_KINDS", "TOOL_SPECS", "spec"]

FINISH_KINDS = ("fix", "mitigation")


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_STR = {"type": "string"}
_INT = {"type": "integer"}
_PATH = {"type": "string", "description": "path relative to the repository root, with /"}

TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "read_file",
        "Read lines of a file, numbered ('  42| text'; the prefix is not part of the file). "
        "At most 400 lines per call; default 200 from start_line.",
        _obj({"path": _PATH, "start_line": _INT, "end_line": _INT}, ("path",)),
    ),
    ToolSpec(
        "search",
        "Search the repository's files (git grep). The pattern is a fixed string unless regex is "
        "true (POSIX extended regex). path_glob narrows the files ('src/**/*.cpp', '*.h'). "
        "Answers 'path:line:text', at most 80 matches.",
        _obj(
            {
                "pattern": _STR,
                "path_glob": _STR,
                "regex": {"type": "boolean"},
                "ignore_case": {"type": "boolean"},
            },
            ("pattern",),
        ),
    ),
    ToolSpec(
        "list_dir",
        "List a folder of the repository ('.' is the root); folders end in '/'.",
        _obj({"path": _PATH}),
    ),
    ToolSpec(
        "git_log",
        "Recent commits (of one file when path is given): sha, date, author, subject.",
        _obj({"path": _PATH, "max_count": _INT}),
    ),
    ToolSpec(
        "git_blame",
        "Who last changed lines start_line..end_line of a file (committed state), at most 200 lines.",
        _obj({"path": _PATH, "start_line": _INT, "end_line": _INT}, ("path", "start_line", "end_line")),
    ),
    ToolSpec(
        "git_show",
        "A commit with its patch, or with path the file's content at that revision.",
        _obj({"rev": _STR, "path": _PATH}, ("rev",)),
    ),
    ToolSpec(
        "edit",
        "Change a file by exact search/replace: 'search' is copied exactly from the file (whitespace "
        "included, without the read_file line-number prefix) and must occur exactly once; it is "
        "replaced by 'replace'. An empty search creates a new file. Refused edits say why.",
        _obj({"path": _PATH, "search": _STR, "replace": _STR}, ("path", "search", "replace")),
    ),
    ToolSpec(
        "build", "Build the project with your changes. Answers ok/failed and the compiler errors.", _obj({})
    ),
    ToolSpec(
        "run_reproducer",
        "Run the crash reproducer against your build. ok means it did NOT crash.",
        _obj({}),
    ),
    ToolSpec("run_tests", "Run the project's tests against your build. Answers ok/failed.", _obj({})),
    ToolSpec(
        "finish",
        "Stop: your change is done and built. kind is 'fix' (the root cause is removed) or "
        "'mitigation' (the crash is prevented but the cause stays). confidence is 0..1.",
        _obj(
            {
                "root_cause": _STR,
                "summary": {"type": "string", "description": "what the change does, for the PR"},
                "kind": {"type": "string", "enum": list(FINISH_KINDS)},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "fault_location": {
                    "type": "string",
                    "description": "file:line and function of the fault; say if it is not on the stack",
                },
            },
            ("root_cause", "summary", "kind", "confidence", "fault_location"),
        ),
    ),
    ToolSpec(
        "give_up",
        "Stop without a fix when no safe change is possible; explain why for the human who takes over. "
        "Your edits are discarded.",
        _obj({"reason": _STR}, ("reason",)),
    ),
)

_BY_NAME = {s.name: s for s in TOOL_SPECS}


def spec(name: str) -> ToolSpec:
    """The spec of tool ``name`` (KeyError when there is none)."""
    return _BY_NAME[name]
