"""Reading what each agent CLI prints: Claude Code's JSON result, Codex's JSONL events, Aider's text."""

from __future__ import annotations

import json

from crashpilot.backends.agents.aider import parse_text
from crashpilot.backends.agents.claude_code import parse_result
from crashpilot.backends.agents.codex import parse_events

CLAUDE_OK = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "duration_ms": 9000,
    "num_turns": 4,
    "result": "Guarded the pointer.",
    "session_id": "abc-123",
    "total_cost_usd": 0.25,
    "usage": {
        "input_tokens": 10,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 30,
        "output_tokens": 7,
    },
}


def test_claude_result_object_is_read() -> None:
    r = parse_result(json.dumps(CLAUDE_OK))
    assert (r.summary, r.is_error, r.error) == ("Guarded the pointer.", False, None)
    assert (r.cost_usd, r.input_tokens, r.output_tokens, r.session_id) == (0.25, 60, 7, "abc-123")
    assert r.parsed == CLAUDE_OK


def test_claude_result_found_after_log_lines_and_in_a_message_array() -> None:
    noisy = "some warning on stdout\n" + json.dumps(CLAUDE_OK) + "\n"
    assert parse_result(noisy).summary == "Guarded the pointer."
    array = json.dumps([{"type": "system", "subtype": "init"}, {"type": "assistant"}, CLAUDE_OK])
    assert parse_result(array).cost_usd == 0.25


def test_claude_legacy_cost_field_and_missing_usage() -> None:
    legacy = {"type": "result", "subtype": "success", "is_error": False, "result": "ok", "cost_usd": 0.5}
    r = parse_result(json.dumps(legacy))
    assert (r.cost_usd, r.input_tokens, r.output_tokens) == (0.5, None, None)


def test_claude_error_subtypes_are_errors_with_the_reason() -> None:
    max_turns = {**CLAUDE_OK, "subtype": "error_max_turns", "is_error": False, "result": None}
    r = parse_result(json.dumps(max_turns))
    assert r.is_error and r.error is not None and "error_max_turns" in r.error
    auth = {**CLAUDE_OK, "is_error": True, "result": "Invalid API key · Please run /login"}
    r = parse_result(json.dumps(auth))
    assert r.is_error and r.error == "Invalid API key · Please run /login"


def test_claude_garbage_is_an_error_not_a_crash() -> None:
    for text in ("", "not json", '{"truncated": ', "[1, 2]", json.dumps({"type": "system"})):
        r = parse_result(text)
        assert r.is_error and r.error == "Claude Code printed no JSON result object"


def _jsonl(*events: dict[str, object]) -> str:
    return "\n".join(json.dumps(e) for e in events) + "\n"


def test_codex_events_give_message_tokens_and_thread() -> None:
    out = _jsonl(
        {"type": "thread.started", "thread_id": "t-1"},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "i0", "type": "agent_message", "text": "first"}},
        {"type": "item.completed", "item": {"id": "i1", "type": "file_change", "changes": []}},
        {
            "type": "turn.completed",
            "usage": {"input_tokens": 100, "cached_input_tokens": 90, "output_tokens": 5},
        },
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "i2", "item_type": "agent_message", "text": "final words"}},
        {
            "type": "turn.completed",
            "usage": {"input_tokens": 50, "cached_input_tokens": 0, "output_tokens": 3},
        },
    )
    r = parse_events("Reading prompt from stdin...\n" + out)
    assert (r.summary, r.is_error, r.session_id) == ("final words", False, "t-1")
    assert (r.input_tokens, r.output_tokens, r.cost_usd) == (150, 8, None)
    assert isinstance(r.parsed, list) and len(r.parsed) == 8


def test_codex_failures_are_errors() -> None:
    failed = parse_events(
        _jsonl(
            {"type": "thread.started", "thread_id": "t"},
            {"type": "error", "message": "unexpected status 401 Unauthorized"},
            {"type": "turn.failed", "error": {"message": "stream ended"}},
        )
    )
    assert failed.is_error and failed.error == "unexpected status 401 Unauthorized; stream ended"
    unfinished = parse_events(_jsonl({"type": "thread.started", "thread_id": "t"}, {"type": "turn.started"}))
    assert unfinished.is_error and "without completing" in (unfinished.error or "")
    assert parse_events("no events at all").error == "Codex printed no JSON events"


AIDER_OUT = """Aider v0.86.1
Main model: anthropic/claude-sonnet-4-20250514 with diff edit format
The pointer can be null when the player logs out mid-update.
Applied edit to src/player.cpp
Tokens: 2.1k sent, 310 received. Cost: $0.01 message, $0.01 session.
Tokens: 1,500 sent, 1.2k cache write, 90 received. Cost: $0.02 message, $0.03 session.
"""


def test_aider_text_gives_tokens_cost_and_summary() -> None:
    r = parse_text(AIDER_OUT)
    assert (r.input_tokens, r.output_tokens, r.cost_usd) == (3600, 400, 0.03)
    assert not r.is_error
    assert r.summary is not None and r.summary.endswith("Applied edit to src/player.cpp")
    assert "Tokens:" not in r.summary


def test_aider_errors_are_found_in_its_text() -> None:
    auth = parse_text("Aider v0.86.1\nlitellm.AuthenticationError: AnthropicException - invalid x-api-key\n")
    assert auth.is_error and (auth.error or "").startswith("litellm.AuthenticationError")
    crash = parse_text("Aider v0.86.1\n", "Traceback (most recent call last):\n  File x\nValueError: no\n")
    assert crash.is_error
    quiet = parse_text("Aider v0.86.1\nNo changes made.\n")
    assert not quiet.is_error and quiet.input_tokens is None and quiet.cost_usd is None
