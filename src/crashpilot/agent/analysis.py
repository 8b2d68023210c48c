"""ANALYSE: one model call that judges a crash, parsed strictly into an :class:`Analysis`.

The model is offered a single tool, ``report_analysis``, and asked to call it once. Its arguments
(or, from a model that answers in text, one JSON object — the whole answer or a single fenced
``json`` block) must have every field with the right type; anything else raises
:class:`AnalysisError` and nothing is guessed. Model failures (TransientError after retries,
PermanentError, BudgetExceeded) propagate unchanged so the caller can tell "try later" from
"the model talked nonsense".
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from crashpilot.agent import prompts
from crashpilot.agent.budgeting import charge_if_separate, check_budget
from crashpilot.backends.models.budget import Budget
from crashpilot.backends.models.types import Message, Reply, ToolSpec
from crashpilot.errors import PermanentError
from crashpilot.protocols import Model

log = logging.getLogger(__name__)

__all__ = ["FIXABILITY", "Analysis", "AnalysisError", "REPORT_ANALYSIS", "analyse", "parse_analysis"]

Fixability = Literal["fix", "mitigate", "abstain"]
FIXABILITY: tuple[str, ...] = ("fix", "mitigate", "abstain")
MAX_FIELD_CHARS = 8_000


class AnalysisError(PermanentError):
    """The model's analysis could not be read (no answer, wrong shape, invalid values)."""


@dataclass(frozen=True)
class Analysis:
    root_cause: str
    fault_location: str
    fault_in_stack: bool
    fixability: Fixability
    plan: str
    confidence: float

    def render(self) -> str:
        where = "" if self.fault_in_stack else " (not on the crashing stack)"
        return (
            f"root cause: {self.root_cause}\nfault location: {self.fault_location}{where}\n"
            f"fixability: {self.fixability} (confidence {self.confidence:.2f})\nplan:\n{self.plan}"
        )


REPORT_ANALYSIS = ToolSpec(
    "report_analysis",
    "Report your analysis of the crash (call exactly once).",
    {
        "type": "object",
        "properties": {
            "root_cause": {"type": "string"},
            "fault_location": {"type": "string", "description": "file:line and function of the defect"},
            "fault_in_stack": {"type": "boolean", "description": "false when the defect is not on the stack"},
            "fixability": {"type": "string", "enum": list(FIXABILITY)},
            "plan": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["root_cause", "fault_location", "fault_in_stack", "fixability", "plan", "confidence"],
        "additionalProperties": False,
    },
)

_FENCED_JSON = re.compile(r"```(?:json)?\s*\n(\{.*?\})\s*\n```", re.DOTALL)


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise AnalysisError(f"the analysis has no usable {key} (a non-empty string is needed)")
    return value.strip()[:MAX_FIELD_CHARS]


def parse_analysis(data: Any) -> Analysis:
    """An :class:`Analysis` from a ``report_analysis`` argument object; AnalysisError otherwise."""
    if not isinstance(data, dict):
        raise AnalysisError(f"the analysis is not an object but {type(data).__name__}")
    fixability = data.get("fixability")
    if fixability not in FIXABILITY:
        raise AnalysisError(f"fixability must be one of {', '.join(FIXABILITY)}, not {fixability!r}")
    confidence = data.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise AnalysisError(f"confidence must be a number, not {confidence!r}")
    if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
        raise AnalysisError(f"confidence must be from 0 to 1, not {confidence!r}")
    in_stack = data.get("fault_in_stack", True)
    if not isinstance(in_stack, bool):
        raise AnalysisError(f"fault_in_stack must be true or false, not {in_stack!r}")
    return Analysis(
        root_cause=_text(data, "root_cause"),
        fault_location=_text(data, "fault_location"),
        fault_in_stack=in_stack,
        fixability=cast(Fixability, fixability),
        plan=_text(data, "plan"),
        confidence=float(confidence),
    )


def _from_reply(reply: Reply) -> Analysis:
    calls = [c for c in reply.tool_calls if c.name == REPORT_ANALYSIS.name]
    if len(calls) > 1:
        raise AnalysisError(f"the model called {REPORT_ANALYSIS.name} {len(calls)} times; once is required")
    if calls:
        return parse_analysis(calls[0].arguments)
    if reply.tool_calls:
        names = ", ".join(sorted({c.name for c in reply.tool_calls}))
        raise AnalysisError(f"the model called unknown tool(s) {names} instead of {REPORT_ANALYSIS.name}")
    text = reply.text.strip()
    blocks = _FENCED_JSON.findall(text)
    candidate = text if text.startswith("{") else (blocks[0] if len(blocks) == 1 else None)
    if candidate is None:
        shown = text[:120] + ("..." if len(text) > 120 else "")
        raise AnalysisError(f"the model answered without {REPORT_ANALYSIS.name}: {shown!r}")
    try:
        data = json.loads(candidate)
    except ValueError as exc:
        raise AnalysisError(f"the model's JSON analysis does not parse: {exc}") from exc
    return parse_analysis(data)


def analyse(
    model: Model,
    brief_context: str,
    budget: Budget | None = None,
    *,
    max_tokens: int = 4096,
    secrets: Sequence[str] = (),
) -> Analysis:
    """Ask ``model`` once for root cause, fault location, fixability, plan and confidence."""
    check_budget(model, budget)
    messages = [Message.user(prompts.analyse_task(brief_context, secrets=secrets))]
    reply = model.complete(prompts.analyse_system(), messages, [REPORT_ANALYSIS], max_tokens)
    charge_if_separate(model, budget, reply)
    analysis = _from_reply(reply)
    log.info(
        "analysis: %s (confidence %.2f), fault %s",
        analysis.fixability,
        analysis.confidence,
        analysis.fault_location[:200],
        extra={"stage": "analyse"},
    )
    return analysis
