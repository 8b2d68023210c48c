"""The built-in agent: ANALYSE (one strictly parsed model call) and FIX (a bounded tool loop).

    ws = Workspace(slot.worktree, policy, build=build_action(...), run_reproducer=..., run_tests=...)
    result = run_agent(model, fix_system(policy, build=...), fix_task(brief, analysis), Toolbox(ws),
                       max_turns=40, budget=budget)

See docs/agent.md for the tools, the bounds and how untrusted crash text is fenced.
"""

from __future__ import annotations

from crashpilot.agent.actions import build_action, reproducer_action, suite_action
from crashpilot.agent.analysis import Analysis, AnalysisError, analyse, parse_analysis
from crashpilot.agent.loop import AgentResult, StopReason, run_agent
from crashpilot.agent.prompts import analyse_system, analyse_task, fence, fix_system, fix_task
from crashpilot.agent.tools import FinishArgs, Toolbox
from crashpilot.agent.workspace import ActionResult, PathRefused, ToolFailed, Workspace

__all__ = [
    "ActionResult",
    "AgentResult",
    "Analysis",
    "AnalysisError",
    "FinishArgs",
    "PathRefused",
    "StopReason",
    "ToolFailed",
    "Toolbox",
    "Workspace",
    "analyse",
    "analyse_system",
    "analyse_task",
    "build_action",
    "fence",
    "fix_system",
    "fix_task",
    "parse_analysis",
    "reproducer_action",
    "run_agent",
    "suite_action",
]
