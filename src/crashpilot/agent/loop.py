"""The built-in FIX agent: a bounded tool loop over a model.

:func:`run_agent` sends the task, runs the tools the model calls (through a
:class:`~crashpilot.agent.tools.Toolbox`), sends the results back, and repeats until one of:

- ``finished``   the model called ``finish`` and it was accepted (a change exists and built);
- ``gave_up``    the model called ``give_up`` with a reason for a human;
- ``max_turns``  ``max_turns`` model calls were made;
- ``budget``     the run's :class:`Budget` (tokens / calls / minutes) is spent;
- ``model_error`` the model failed: TransientError after retries, PermanentError, a garbage
  body, any exception from the backend;
- ``no_tool_call`` the model answered with text only twice in a row, was nudged once, and did
  it again.

The loop never raises for any of these. Unless ``revert_unfinished=False``, a run that did not
finish has every edit undone before it returns, so the worktree is as it was (nothing
half-done); the caller still owns the slot and may reset it harder (``git reset --hard``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from crashpilot.agent.analysis import Analysis, AnalysisError, analyse
from crashpilot.agent.budgeting import charge_if_separate, check_budget
from crashpilot.agent.tools import FinishArgs, Toolbox
from crashpilot.backends.models.budget import Budget
from crashpilot.backends.models.types import Message
from crashpilot.edits import EditResult
from crashpilot.errors import BudgetExceeded
from crashpilot.protocols import Model

log = logging.getLogger(__name__)

__all__ = ["AgentResult", "Analysis", "AnalysisError", "StopReason", "analyse", "run_agent"]

StopReason = Literal["finished", "gave_up", "max_turns", "budget", "model_error", "no_tool_call"]

CONTINUE = (
    "Continue with the tools. When your change is built and checked call finish; if no safe change "
    "is possible call give_up."
)
NUDGE = (
    "You answered twice without calling a tool. Only tool calls do anything here: call a tool now "
    "(finish or give_up if you are done). This is the only reminder; another answer without a tool "
    "call ends the run."
)


@dataclass(frozen=True)
class AgentResult:
    """How a run ended and what it did. ``detail`` says why in words (the error, the limit)."""

    stop_reason: StopReason
    finish: FinishArgs | None
    turns: int
    input_tokens: int
    output_tokens: int
    edits: tuple[EditResult, ...]
    transcript: tuple[Message, ...]
    detail: str = ""
    give_up_reason: str | None = None
    diff: str = ""  # the change left in the worktree ("" when reverted or none)
    tool_calls: int = 0
    refusals: int = 0
    reverted: bool = False
    changed_files: tuple[str, ...] = field(default=())

    @property
    def finished(self) -> bool:
        return self.stop_reason == "finished"


def run_agent(
    model: Model,
    system: str,
    task: str,
    tools: Toolbox,
    *,
    max_turns: int,
    budget: Budget | None = None,
    max_tokens: int = 4096,
    revert_unfinished: bool = True,
) -> AgentResult:
    """Run the tool loop (see the module doc); never raises for a model or tool failure."""
    if max_turns < 1:
        raise ValueError("max_turns must be at least 1")
    messages: list[Message] = [Message.user(task)]
    specs = tools.specs()
    turns = input_tokens = output_tokens = calls = 0
    text_only = 0
    nudged = False
    stop: StopReason = "max_turns"
    detail = f"stopped after {max_turns} turns without finishing"
    while turns < max_turns:
        try:
            check_budget(model, budget)
            reply = model.complete(system, messages, specs, max_tokens)
            charge_if_separate(model, budget, reply)
        except BudgetExceeded as exc:
            stop, detail = "budget", str(exc)
            break
        except Exception as exc:  # TransientError, PermanentError, or a backend's own bug
            stop, detail = "model_error", f"{type(exc).__name__}: {exc}"
            log.warning("agent: the model failed on turn %d: %s", turns + 1, detail)
            break
        turns += 1
        input_tokens += reply.input_tokens
        output_tokens += reply.output_tokens
        messages.append(reply.as_message())
        if reply.tool_calls:
            text_only = 0
            results = [tools.call(c) for c in reply.tool_calls]
            calls += len(results)
            messages.append(Message.tool(results))
            if tools.finish_args is not None:
                stop, detail = "finished", "the model finished"
                break
            if tools.give_up_reason is not None:
                stop, detail = "gave_up", tools.give_up_reason
                break
            continue
        text_only += 1
        if text_only >= 2 and nudged:
            stop, detail = "no_tool_call", "the model kept answering without calling a tool"
            break
        if text_only >= 2:
            nudged = True
            messages.append(Message.user(NUDGE))
        else:
            messages.append(Message.user(CONTINUE))
    reverted = False
    if stop != "finished" and revert_unfinished and tools.changed_files():
        tools.revert()
        reverted = True
    log.info(
        "agent stopped: %s after %d turns, %d tool calls, %d edits (%s)",
        stop,
        turns,
        calls,
        len(tools.edits),
        detail[:200],
    )
    return AgentResult(
        stop_reason=stop,
        finish=tools.finish_args,
        turns=turns,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        edits=tuple(tools.edits),
        transcript=tuple(messages),
        detail=detail,
        give_up_reason=tools.give_up_reason,
        diff=tools.diff(),
        tool_calls=calls,
        refusals=tools.refusals,
        reverted=reverted,
        changed_files=tuple(tools.changed_files()),
    )
