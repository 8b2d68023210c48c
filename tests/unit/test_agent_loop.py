"""The bounded tool loop with an in-memory model: every way a run can end, and what it leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crashpilot.agent.loop import NUDGE, run_agent
from crashpilot.agent.tools import Toolbox
from crashpilot.agent.workspace import ActionResult, Workspace
from crashpilot.backends.models.budget import Budget
from crashpilot.backends.models.types import Message, Reply, ToolCall, ToolSpec
from crashpilot.errors import BudgetExceeded, PermanentError, TransientError
from crashpilot.git import Git, Identity
from crashpilot.protocols import Model

SRC = "int Get(int* p)\n{\n    return *p;\n}\n"
FIX = {"path": "src/get.cpp", "search": "    return *p;", "replace": "    return p ? *p : 0;"}
FINISH = {
    "root_cause": "p may be null",
    "summary": "return 0 for a null p",
    "kind": "mitigation",
    "confidence": 0.6,
    "fault_location": "src/get.cpp:3 Get",
}


class FakeModel:
    """Answers from a list of Reply / exception; keeps what each call was sent."""

    name = "fake-1"
    provider = "fake"

    def __init__(self, steps: list[Reply | BaseException]) -> None:
        self.steps = steps
        self.seen: list[list[Message]] = []

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int) -> Reply:
        self.seen.append(list(messages))
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


def reply(text: str = "", *calls: tuple[str, dict[str, Any]], tokens: tuple[int, int] = (100, 20)) -> Reply:
    tool_calls = tuple(ToolCall(f"c{i}-{name}", name, args) for i, (name, args) in enumerate(calls))
    stop = "tool_use" if tool_calls else "end"
    return Reply(text, tool_calls, stop, tokens[0], tokens[1], "fake-1", "fake")  # type: ignore[arg-type]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    git = Git.init(root)
    (root / "src").mkdir()
    (root / "src" / "get.cpp").write_text(SRC)
    git.commit("add Get", Identity("T", "t@example.invalid"))
    return root


def toolbox(root: Path) -> Toolbox:
    return Toolbox(Workspace(root, build=lambda: ActionResult(True, "built")))


def test_model_satisfies_the_protocol() -> None:
    assert isinstance(FakeModel([]), Model)


def test_a_run_that_finishes(repo: Path) -> None:
    model = FakeModel(
        [
            reply("Reading.", ("read_file", {"path": "src/get.cpp"})),
            reply("", ("edit", FIX)),
            reply("", ("build", {})),
            reply("Done.", ("finish", FINISH)),
        ]
    )
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=10)
    assert result.stop_reason == "finished" and result.finished
    assert result.finish is not None and result.finish.kind == "mitigation"
    assert (result.turns, result.input_tokens, result.output_tokens, result.tool_calls) == (4, 400, 80, 4)
    assert [e.path for e in result.edits] == ["src/get.cpp"]
    assert "+    return p ? *p : 0;" in result.diff and not result.reverted
    assert "return p ? *p : 0;" in (repo / "src/get.cpp").read_text()
    # task, then (assistant, tool) per turn
    assert [m.role for m in result.transcript] == ["user"] + ["assistant", "tool"] * 4
    read_result = result.transcript[2].tool_results[0]
    assert read_result.call_id == "c0-read_file" and "     3|     return *p;" in read_result.content
    assert model.seen[1][-1].role == "tool"


def test_max_turns_stops_and_reverts(repo: Path) -> None:
    model = FakeModel([reply("", ("edit", FIX))] + [reply("", ("list_dir", {}))] * 5)
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=3)
    assert result.stop_reason == "max_turns" and result.turns == 3 and not result.finished
    assert result.reverted and result.diff == "" and len(result.edits) == 1
    assert (repo / "src/get.cpp").read_text() == SRC and Git(repo).is_clean()
    assert len(model.steps) == 3  # no call past the limit


def test_keep_edits_when_asked(repo: Path) -> None:
    model = FakeModel([reply("", ("edit", FIX))])
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=1, revert_unfinished=False)
    assert result.stop_reason == "max_turns" and not result.reverted
    assert "return p ? *p : 0;" in (repo / "src/get.cpp").read_text()


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (TransientError("openai API timed out"), "TransientError: openai API timed out"),
        (PermanentError("anthropic API answered a body that is not JSON"), "not JSON"),
        (ValueError("backend bug"), "ValueError: backend bug"),
    ],
)
def test_a_model_error_ends_the_run_cleanly(repo: Path, error: Exception, words: str) -> None:
    model = FakeModel([reply("", ("edit", FIX)), error])
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=10)
    assert result.stop_reason == "model_error" and words in result.detail
    assert result.turns == 1 and result.reverted
    assert Git(repo).is_clean()


def test_text_only_twice_gets_one_nudge_then_stops(repo: Path) -> None:
    model = FakeModel(
        [reply("I think it is a null pointer."), reply("Yes, definitely."), reply("Still thinking.")]
    )
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=10)
    assert result.stop_reason == "no_tool_call" and result.turns == 3
    user_texts = [m.text for m in result.transcript if m.role == "user"]
    assert user_texts.count(NUDGE) == 1
    assert model.seen[2][-1].text == NUDGE  # the third call was sent the nudge


def test_a_tool_call_after_the_nudge_resets_but_there_is_no_second_nudge(repo: Path) -> None:
    model = FakeModel(
        [reply("a"), reply("b"), reply("", ("list_dir", {})), reply("c"), reply("d"), reply("never sent")]
    )
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=10)
    assert result.stop_reason == "no_tool_call" and result.turns == 5
    assert [m.text for m in result.transcript if m.role == "user"].count(NUDGE) == 1


def test_budget_shared_by_a_separate_model_is_charged_here(repo: Path) -> None:
    budget = Budget(max_calls=2)
    model = FakeModel([reply("", ("list_dir", {}))] * 5)
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=10, budget=budget)
    assert result.stop_reason == "budget" and "2 calls made of 2" in result.detail
    assert result.turns == 2 and budget.usage().input_tokens == 200


def test_budget_in_tokens(repo: Path) -> None:
    budget = Budget(max_tokens=250)
    model = FakeModel([reply("", ("list_dir", {}))] * 5)
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=10, budget=budget)
    assert result.stop_reason == "budget" and "tokens" in result.detail and result.turns == 3


def test_budget_exceeded_raised_by_the_model(repo: Path) -> None:
    model = FakeModel([BudgetExceeded("model budget exceeded: 3.0 minutes spent of 3")])
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=10)
    assert result.stop_reason == "budget" and "minutes" in result.detail and result.turns == 0


def test_give_up(repo: Path) -> None:
    model = FakeModel([reply("", ("edit", FIX)), reply("", ("give_up", {"reason": "ownership unclear"}))])
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=10)
    assert result.stop_reason == "gave_up" and result.give_up_reason == "ownership unclear"
    assert result.reverted and Git(repo).is_clean()


def test_refused_tool_calls_do_not_stop_the_run(repo: Path) -> None:
    model = FakeModel(
        [
            reply("", ("edit", {"path": "../../etc/passwd", "search": "", "replace": "x"}), ("nope", {})),
            reply("", ("finish", FINISH)),
            reply("", ("edit", FIX), ("build", {})),
            reply("", ("finish", FINISH)),
        ]
    )
    result = run_agent(model, "sys", "task", toolbox(repo), max_turns=10)
    assert result.stop_reason == "finished" and result.turns == 4
    errors = [r for m in result.transcript for r in m.tool_results if r.is_error]
    assert len(errors) == 3 and "changed nothing" in errors[2].content


def test_max_turns_must_be_positive(repo: Path) -> None:
    with pytest.raises(ValueError):
        run_agent(FakeModel([]), "sys", "task", toolbox(repo), max_turns=0)
