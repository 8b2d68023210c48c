"""Message translation both ways, for both wire formats, without any HTTP."""

from __future__ import annotations

import json

import pytest

from crashpilot.backends.models import Message, ToolCall, ToolResult, ToolSpec
from crashpilot.backends.models import anthropic_wire as aw
from crashpilot.backends.models import openai_wire as ow
from crashpilot.errors import PermanentError, TransientError

CALL_A = ToolCall("id_a", "read_file", {"path": "src/game/Unit.cpp", "start": 10})
CALL_B = ToolCall("id_b", "grep", {"pattern": "GetVictim"})

CONVERSATION = [
    Message.user("The server crashed in Unit::DealDamage."),
    Message.assistant("Let me look.", [CALL_A, CALL_B]),
    Message.tool([ToolResult("id_a", "int x = 1;"), ToolResult("id_b", "no match", is_error=True)]),
    Message.assistant("", [ToolCall("id_c", "read_file", {"path": "a.h"})]),
    Message.tool([ToolResult("id_c", "#pragma once")]),
    Message.user("Also check the caller."),
    Message.assistant("The victim pointer is null."),
]


def test_anthropic_request_shape() -> None:
    body = aw.request_to_wire(
        "claude-x", "You fix crashes.", CONVERSATION[:3], [ToolSpec("grep", "search")], 512
    )
    assert body["system"] == "You fix crashes."
    assert body["max_tokens"] == 512
    assert body["tools"] == [
        {"name": "grep", "description": "search", "input_schema": {"type": "object", "properties": {}}}
    ]
    user, assistant, results = body["messages"]
    assert user == {"role": "user", "content": "The server crashed in Unit::DealDamage."}
    assert assistant["content"][0] == {"type": "text", "text": "Let me look."}
    assert assistant["content"][1] == {
        "type": "tool_use",
        "id": "id_a",
        "name": "read_file",
        "input": {"path": "src/game/Unit.cpp", "start": 10},
    }
    assert results["role"] == "user"
    assert [b["tool_use_id"] for b in results["content"]] == ["id_a", "id_b"]
    assert "is_error" not in results["content"][0] and results["content"][1]["is_error"] is True


def test_anthropic_merges_tool_results_and_user_text_into_one_turn_results_first() -> None:
    wire = aw.messages_to_wire(CONVERSATION)
    roles = [t["role"] for t in wire]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), roles  # roles alternate
    merged = wire[4]
    assert [b["type"] for b in merged["content"]] == ["tool_result", "text"]
    assert merged["content"][1]["text"] == "Also check the caller."
    # an assistant turn with no text sends no empty text block
    assert [b["type"] for b in wire[3]["content"]] == ["tool_use"]


def test_anthropic_round_trip() -> None:
    assert aw.messages_from_wire(aw.messages_to_wire(CONVERSATION)) == CONVERSATION


def test_openai_request_shape() -> None:
    body = ow.request_to_wire(
        "gpt-x", "You fix crashes.", CONVERSATION[:3], [ToolSpec("grep", "search")], 256
    )
    assert body["max_tokens"] == 256
    system, user, assistant, res_a, res_b = body["messages"]
    assert system == {"role": "system", "content": "You fix crashes."}
    assert user["role"] == "user"
    call = assistant["tool_calls"][0]
    assert call["type"] == "function" and call["id"] == "id_a"
    assert isinstance(call["function"]["arguments"], str)
    assert json.loads(call["function"]["arguments"]) == {"path": "src/game/Unit.cpp", "start": 10}
    assert res_a == {"role": "tool", "tool_call_id": "id_a", "content": "int x = 1;"}
    assert res_b["content"].startswith(ow.TOOL_ERROR_PREFIX)
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "grep",
            "description": "search",
            "parameters": {"type": "object", "properties": {}},
        },
    }


def test_openai_assistant_without_text_sends_null_content() -> None:
    wire = ow.messages_to_wire("", [CONVERSATION[3]])
    assert wire[0]["content"] is None and len(wire[0]["tool_calls"]) == 1


def test_openai_max_completion_tokens_field() -> None:
    body = ow.request_to_wire("gpt-x", "", CONVERSATION[:1], [], 99, "max_completion_tokens")
    assert body["max_completion_tokens"] == 99 and "max_tokens" not in body and "tools" not in body


def test_openai_round_trip() -> None:
    system, messages = ow.messages_from_wire(ow.messages_to_wire("sys prompt", CONVERSATION))
    assert system == "sys prompt"
    assert messages == CONVERSATION


def test_tools_round_trip() -> None:
    tools = [ToolSpec("edit", "replace text", {"type": "object", "properties": {"old": {"type": "string"}}})]
    assert aw.tools_from_wire(aw.tools_to_wire(tools)) == tools
    assert ow.tools_from_wire(ow.tools_to_wire(tools)) == tools


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("end_turn", "end"), ("tool_use", "tool_use"), ("max_tokens", "max_tokens"), ("refusal", "other")],
)
def test_anthropic_reply_from_wire(raw: str, expected: str) -> None:
    body = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [
            {"type": "text", "text": "Reading."},
            {"type": "tool_use", "id": "toolu_9", "name": "read_file", "input": {"path": "x.cpp"}},
        ],
        "stop_reason": raw,
        "usage": {"input_tokens": 120, "output_tokens": 30},
    }
    reply = aw.reply_from_wire(body)
    assert reply.stop_reason == expected and reply.raw_stop_reason == raw
    assert reply.text == "Reading."
    assert reply.tool_calls == (ToolCall("toolu_9", "read_file", {"path": "x.cpp"}),)
    assert (reply.input_tokens, reply.output_tokens, reply.model, reply.provider) == (
        120,
        30,
        "claude-x",
        "anthropic",
    )
    assert reply.as_message() == Message.assistant("Reading.", reply.tool_calls)


def test_anthropic_reply_to_wire_reads_back() -> None:
    body = aw.reply_to_wire("msg_2", "m", "hi", [CALL_A], 5, 6)
    assert body["stop_reason"] == "tool_use" and body["usage"] == {"input_tokens": 5, "output_tokens": 6}
    reply = aw.reply_from_wire(body)
    assert reply.text == "hi" and reply.tool_calls == (CALL_A,)


def test_openai_reply_from_wire() -> None:
    body = ow.reply_to_wire("chatcmpl-1", "gpt-x", "", [CALL_A, CALL_B], 40, 8, created=1)
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    reply = ow.reply_from_wire(body)
    assert reply.tool_calls == (CALL_A, CALL_B) and reply.text == "" and reply.stop_reason == "tool_use"
    assert (reply.input_tokens, reply.output_tokens) == (40, 8)


def test_openai_reply_with_tool_calls_but_finish_stop_is_tool_use() -> None:
    body = ow.reply_to_wire("c", "llama", "", [CALL_A], 1, 1, created=1)
    body["choices"][0]["finish_reason"] = "stop"  # what some local servers say
    assert ow.reply_from_wire(body).stop_reason == "tool_use"


def test_openai_reply_without_usage_counts_zero() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "length"}]}
    reply = ow.reply_from_wire(body)
    assert (reply.text, reply.stop_reason, reply.input_tokens, reply.output_tokens) == (
        "ok",
        "max_tokens",
        0,
        0,
    )


def test_openai_broken_tool_arguments_are_transient() -> None:
    body = ow.reply_to_wire("c", "m", "", [CALL_A], 1, 1, created=1)
    body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = '{"path": "a.c"'
    with pytest.raises(TransientError, match="read_file.*not JSON"):
        ow.reply_from_wire(body)
    body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "[1, 2]"
    with pytest.raises(TransientError, match="not a JSON object"):
        ow.reply_from_wire(body)


@pytest.mark.parametrize("body", [{}, {"choices": []}, {"choices": "x"}])
def test_openai_reply_without_choices_is_permanent(body: dict[str, object]) -> None:
    with pytest.raises(PermanentError, match="no choices"):
        ow.reply_from_wire(body)


def test_anthropic_reply_without_content_is_permanent() -> None:
    with pytest.raises(PermanentError, match="no content"):
        aw.reply_from_wire({"type": "message"})


def test_message_constructors_refuse_wrong_shapes() -> None:
    with pytest.raises(ValueError):
        Message(role="user", tool_calls=(CALL_A,))
    with pytest.raises(ValueError):
        Message(role="tool")
    with pytest.raises(ValueError):
        Message(role="system", text="x")  # type: ignore[arg-type]
