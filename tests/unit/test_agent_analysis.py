"""ANALYSE: one call, parsed strictly; garbage is an AnalysisError, model failures propagate."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crashpilot.agent.analysis import REPORT_ANALYSIS, AnalysisError, analyse, parse_analysis
from crashpilot.backends.models.budget import Budget
from crashpilot.backends.models.types import Message, Reply, ToolCall, ToolSpec
from crashpilot.errors import BudgetExceeded, PermanentError, TransientError

GOOD: dict[str, Any] = {
    "root_cause": "Find() returns null for an unknown name and TotalLevel dereferences it",
    "fault_location": "roster.cpp:41 Roster::TotalLevel",
    "fault_in_stack": True,
    "fixability": "fix",
    "plan": "1. check the result of Find",
    "confidence": 0.9,
}


class OneShot:
    name = "one-shot"
    provider = "fake"

    def __init__(self, answer: Reply | BaseException) -> None:
        self.answer = answer
        self.calls: list[tuple[str, list[Message], list[ToolSpec]]] = []

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int) -> Reply:
        self.calls.append((system, messages, tools))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def answer(text: str = "", *calls: ToolCall) -> Reply:
    return Reply(text, calls, "tool_use" if calls else "end", 50, 30, "one-shot", "fake")


def report(args: Any) -> ToolCall:
    return ToolCall("t1", "report_analysis", args)


def test_a_tool_call_answer() -> None:
    model = OneShot(answer("", report(GOOD)))
    result = analyse(model, "SIGSEGV in Roster::TotalLevel")
    assert result.fixability == "fix" and result.confidence == 0.9 and result.fault_in_stack
    system, messages, tools = model.calls[0]
    assert tools == [REPORT_ANALYSIS] and "report_analysis" in system
    assert "<crash_report>\nSIGSEGV in Roster::TotalLevel\n</crash_report>" in messages[0].text


def test_a_json_text_answer_whole_or_fenced() -> None:
    assert analyse(OneShot(answer(json.dumps(GOOD))), "b").plan == "1. check the result of Find"
    fenced = "Here it is:\n```json\n" + json.dumps({**GOOD, "fixability": "abstain"}) + "\n```\n"
    assert analyse(OneShot(answer(fenced)), "b").fixability == "abstain"


def test_fault_outside_the_stack_is_kept() -> None:
    result = parse_analysis({**GOOD, "fault_in_stack": False, "fault_location": "Map.cpp:90 RemoveFromWorld"})
    assert not result.fault_in_stack and "not on the crashing stack" in result.render()


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (answer("I think it's a null pointer, probably."), "without report_analysis"),
        (answer("{not json"), "does not parse"),
        (answer("", ToolCall("x", "read_file", {"path": "a"})), "unknown tool(s) read_file"),
        (answer("", report(GOOD), report(GOOD)), "2 times"),
        (answer("", report([1, 2])), "not an object"),
        (answer("", report({**GOOD, "fixability": "maybe"})), "fixability must be one of"),
        (answer("", report({**GOOD, "confidence": 1.7})), "from 0 to 1"),
        (answer("", report({**GOOD, "confidence": "high"})), "must be a number"),
        (answer("", report({**GOOD, "confidence": True})), "must be a number"),
        (answer("", report({**GOOD, "root_cause": "  "})), "root_cause"),
        (answer("", report({k: v for k, v in GOOD.items() if k != "plan"})), "plan"),
        (answer("", report({**GOOD, "fault_in_stack": "no"})), "fault_in_stack"),
        (answer("two blocks\n```json\n{}\n```\n```json\n{}\n```"), "without report_analysis"),
    ],
)
def test_garbage_is_an_analysis_error(reply: Reply, words: str) -> None:
    with pytest.raises(AnalysisError, match=words.replace("(", r"\(").replace(")", r"\)")):
        analyse(OneShot(reply), "brief")


@pytest.mark.parametrize("error", [TransientError("timed out"), PermanentError("401")])
def test_model_failures_propagate(error: Exception) -> None:
    with pytest.raises(type(error)):
        analyse(OneShot(error), "brief")


def test_budget_is_checked_and_charged() -> None:
    budget = Budget(max_calls=1)
    analyse(OneShot(answer("", report(GOOD))), "brief", budget)
    assert budget.usage().calls == 1 and budget.usage().total_tokens == 80
    with pytest.raises(BudgetExceeded):
        analyse(OneShot(answer("", report(GOOD))), "brief", budget)
