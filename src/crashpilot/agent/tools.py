"""The FIX agent's tool set bound to one :class:`~crashpilot.agent.workspace.Workspace`.

:class:`Toolbox` turns a model's :class:`ToolCall` into a :class:`ToolResult`. Nothing raises out
of :meth:`Toolbox.call`: a bad argument, a refused path, an edit that does not match or breaks the
patch policy, a failing build — every one comes back as an ``is_error`` result whose text tells
the model what to do instead.

Edits go through :func:`crashpilot.edits.apply_edit` (exact search/replace, the policy on the
path and on that edit's diff) and then the *whole* change since the agent began is checked
against the policy too (max changed lines and files add up across edits); an edit that tips the
total over is undone and refused. The toolbox remembers each touched file's original content, so
:meth:`Toolbox.revert` puts the worktree back exactly as it was.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashpilot.agent import reading
from crashpilot.agent.specs import FINISH_KINDS, TOOL_SPECS
from crashpilot.agent.workspace import Action, ActionResult, ToolFailed, Workspace, resolve_inside
from crashpilot.backends.models.base import redact
from crashpilot.backends.models.types import ToolCall, ToolResult, ToolSpec
from crashpilot.edits import EditRefused, EditResult, apply_edit
from crashpilot.errors import CrashpilotError, PolicyViolation

log = logging.getLogger(__name__)

__all__ = ["FinishArgs", "Toolbox"]

MAX_RESULT_CHARS = 30_000
ACTION_OUTPUT_TAIL = 3_000


@dataclass(frozen=True)
class FinishArgs:
    """What the model said when it finished."""

    root_cause: str
    summary: str
    kind: str  # "fix" | "mitigation"
    confidence: float
    fault_location: str


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _check_args(spec: ToolSpec, args: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = spec.parameters.get("properties", {})
    unknown = sorted(set(args) - set(props))
    if unknown:
        takes = ", ".join(props) or "no arguments"
        raise ToolFailed(f"{spec.name}: unknown argument(s) {', '.join(unknown)}; it takes: {takes}")
    missing = [k for k in spec.parameters.get("required", []) if k not in args]
    if missing:
        raise ToolFailed(f"{spec.name}: missing required argument(s) {', '.join(missing)}")
    clean: dict[str, Any] = {}
    for key, value in args.items():
        schema = props[key]
        if isinstance(value, float) and schema.get("type") == "integer" and value.is_integer():
            value = int(value)
        if value is None and key not in spec.parameters.get("required", []):
            continue
        if not _type_ok(value, schema):
            raise ToolFailed(f"{spec.name}: argument {key} must be a {schema.get('type')}")
        clean[key] = value
    return clean


def _unified(rel: str, old: bytes | None, new: bytes | None) -> str:
    def lines(data: bytes | None) -> list[str]:
        text = (data or b"").decode("utf-8", errors="surrogateescape")
        return [
            ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n"
            for ln in text.splitlines(True)
        ]

    a = "/dev/null" if old is None else f"a/{rel}"
    b = "/dev/null" if new is None else f"b/{rel}"
    return "".join(difflib.unified_diff(lines(old), lines(new), fromfile=a, tofile=b))


class Toolbox:
    """The tools of one FIX run; see the module doc."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.edits: list[EditResult] = []
        self.finish_args: FinishArgs | None = None
        self.give_up_reason: str | None = None
        self.refusals = 0
        self._originals: dict[str, bytes | None] = {}
        self._built_since_edit = False
        self._handlers: dict[str, Callable[..., str]] = {
            "read_file": lambda **a: reading.read_file(self.ws, **a),
            "search": lambda **a: reading.search(self.ws, **a),
            "list_dir": lambda **a: reading.list_dir(self.ws, **a),
            "git_log": lambda **a: reading.git_log(self.ws, **a),
            "git_blame": lambda **a: reading.git_blame(self.ws, **a),
            "git_show": lambda **a: reading.git_show(self.ws, **a),
            "edit": self._edit,
            "build": lambda: self._action("build", self.ws.build),
            "run_reproducer": lambda: self._action("reproducer", self.ws.run_reproducer),
            "run_tests": lambda: self._action("tests", self.ws.run_tests),
            "finish": self._finish,
            "give_up": self._give_up,
        }
        self._specs = {s.name: s for s in TOOL_SPECS}

    @property
    def stopped(self) -> bool:
        """True once finish or give_up was accepted."""
        return self.finish_args is not None or self.give_up_reason is not None

    def specs(self) -> list[ToolSpec]:
        return list(TOOL_SPECS)

    def call(self, call: ToolCall) -> ToolResult:
        """Run one tool call; every failure is an ``is_error`` result, never an exception."""
        try:
            if self.stopped:
                raise ToolFailed("the run is already over (finish/give_up was called); nothing more runs")
            spec = self._specs.get(call.name)
            if spec is None:
                raise ToolFailed(f"there is no tool {call.name!r}; the tools are: {', '.join(self._specs)}")
            args = _check_args(spec, dict(call.arguments or {}))
            text = self._handlers[call.name](**args)
            return ToolResult(call.id, self._clean(text))
        except (ToolFailed, PolicyViolation, EditRefused) as exc:
            if isinstance(exc, PolicyViolation | EditRefused) or call.name == "edit":
                self.refusals += 1
            message = self._clean(str(exc))
            log.info("tool %s refused: %s", call.name, message[:300])
            return ToolResult(call.id, message, is_error=True)
        except CrashpilotError as exc:
            return ToolResult(call.id, self._clean(f"{call.name} failed: {exc}"), is_error=True)
        except Exception as exc:  # a tool bug must not end the run with half an edit
            log.exception("tool %s crashed", call.name)
            text = f"{call.name} failed with an internal error: {type(exc).__name__}"
            return ToolResult(call.id, text, is_error=True)

    def _clean(self, text: str) -> str:
        cleaned: str = redact(text, self.ws.secrets)
        return _cap(cleaned)

    # -- editing ---------------------------------------------------------------------------

    def _edit(self, path: str, search: str, replace: str) -> str:
        rel, target = resolve_inside(self.ws.root, path)
        try:
            rel = self.ws.policy.check_path(rel, root=self.ws.root)
        except PolicyViolation as exc:
            raise PolicyViolation(f"edit refused by the patch policy: {exc}") from exc
        real = target.relative_to(self.ws.root).as_posix()  # a symlink's edit is its target's
        before = target.read_bytes() if target.is_file() else None
        self._originals.setdefault(real, before)
        try:
            result = apply_edit(self.ws.root, rel, search, replace, self.ws.policy)
        except PolicyViolation as exc:
            raise PolicyViolation(f"edit refused by the patch policy: {exc}") from exc
        except EditRefused as exc:
            raise EditRefused(f"edit refused: {exc}") from exc
        finally:
            if self._originals.get(real, b"") is None and not target.exists():
                del self._originals[real]  # a create that did not happen
        total = self.diff()
        try:
            if total:  # empty when this edit undid the earlier ones: nothing to limit
                self.ws.policy.check_diff(total)
        except PolicyViolation as exc:
            _restore(target, before)
            raise PolicyViolation(
                f"edit undone: with it, your whole change breaks the patch policy: {exc}"
            ) from exc
        self.edits.append(result)
        self._built_since_edit = False
        verb = "created" if result.created else f"changed at line {result.line}"
        return f"{result.path}: {verb} (+{result.added} -{result.deleted} lines)\n{result.diff}"

    def diff(self) -> str:
        """The unified diff of everything the agent changed (from each file's original content)."""
        parts = []
        for rel, old in sorted(self._originals.items()):
            path = self.ws.root / rel
            new = path.read_bytes() if path.is_file() else None
            if new != old:
                parts.append(_unified(rel, old, new))
        return "".join(parts)

    def changed_files(self) -> list[str]:
        return [rel for rel, old in sorted(self._originals.items()) if _current(self.ws.root / rel) != old]

    def revert(self) -> None:
        """Put every file the agent touched back as it was (created files are removed)."""
        for rel, old in self._originals.items():
            _restore(self.ws.root / rel, old)
        self._originals.clear()

    # -- running ---------------------------------------------------------------------------

    def _action(self, what: str, action: Action | None) -> str:
        if action is None:
            raise ToolFailed(f"no {what} command is configured for this project; do without it")
        result = action()
        if not isinstance(result, ActionResult):
            raise ToolFailed(f"the {what} action returned nothing usable")
        if what == "build":
            self._built_since_edit = result.ok
        verdict = "ok" if result.ok else "FAILED"
        if what == "reproducer":
            verdict = "ok: no crash" if result.ok else "FAILED: it still crashes"
        text = f"{what}: {verdict}\n{result.summary.strip()}"
        if result.output.strip():
            text += f"\n--- output (tail) ---\n{result.output.strip()[-ACTION_OUTPUT_TAIL:]}"
        if not result.ok:
            raise ToolFailed(text)
        return text

    # -- stopping --------------------------------------------------------------------------

    def _finish(
        self, root_cause: str, summary: str, kind: str, confidence: float, fault_location: str
    ) -> str:
        named = (("root_cause", root_cause), ("summary", summary), ("fault_location", fault_location))
        problems = [f"{k} is empty" for k, v in named if not v.strip()]
        if kind not in FINISH_KINDS:
            problems.append(f"kind must be one of {', '.join(FINISH_KINDS)}, not {kind!r}")
        if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
            problems.append("confidence must be a number from 0 to 1")
        if not self.changed_files():
            problems.append("you have changed nothing; edit the source first, or call give_up")
        elif self.ws.build is not None and not self._built_since_edit:
            problems.append("build has not succeeded since your last edit; call build first")
        if problems:
            raise ToolFailed("finish refused: " + "; ".join(problems))
        self.finish_args = FinishArgs(
            root_cause.strip(), summary.strip(), kind, float(confidence), fault_location.strip()
        )
        return "finished; crashpilot now verifies your change independently"

    def _give_up(self, reason: str) -> str:
        if not reason.strip():
            raise ToolFailed("give_up needs a reason for the human who takes over")
        self.give_up_reason = reason.strip()
        return "stopped; your reason goes to a human"


def _current(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _restore(path: Path, content: bytes | None) -> None:
    if content is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(content)


def _cap(text: str) -> str:
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[:MAX_RESULT_CHARS] + f"\n[... cut at {MAX_RESULT_CHARS} characters]"
