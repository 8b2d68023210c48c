"""The OpenAI Chat Completions wire format, both ways, without the SDK.

The system prompt is the first message (role ``system``); an assistant turn carries ``tool_calls``
whose ``function.arguments`` is a JSON *string*; each tool result is its own message with role
``tool`` and the ``tool_call_id`` it answers. The same shape is spoken by local servers (Ollama,
vLLM, llama.cpp). Used by the OpenAI backend and by the replay server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from crashpilot.backends.models.types import (
    Message,
    Reply,
    StopReason,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from crashpilot.errors import PermanentError, TransientError

PROVIDER = "openai"

# Chat Completions has no error flag on a tool message: a failed tool's output starts with this.
TOOL_ERROR_PREFIX = "[tool error] "

_STOP: dict[str, StopReason] = {
    "stop": "end",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
}
_STOP_BACK: dict[StopReason, str] = {"end": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def messages_to_wire(system: str, messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The ``messages`` field of a request, system prompt first."""
    wire: list[dict[str, Any]] = []
    if system:
        wire.append({"role": "system", "content": system})
    for message in messages:
        if message.role == "user":
            wire.append({"role": "user", "content": message.text})
        elif message.role == "assistant":
            turn: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                turn["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in message.tool_calls
                ]
            wire.append(turn)
        else:
            for result in message.tool_results:
                content = (TOOL_ERROR_PREFIX if result.is_error else "") + result.content
                wire.append({"role": "tool", "tool_call_id": result.call_id, "content": content})
    return wire


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def parse_arguments(raw: Any, name: str) -> dict[str, Any]:
    """A tool call's arguments; the wire carries them as a JSON string that models sometimes break."""
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        # sampling again usually gives valid JSON, so this is worth a retry
        raise TransientError(
            f"{PROVIDER}: tool call {name!r} has arguments that are not JSON: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise TransientError(f"{PROVIDER}: tool call {name!r} has arguments that are not a JSON object")
    return value


def messages_from_wire(wire: Sequence[dict[str, Any]]) -> tuple[str, list[Message]]:
    """The system prompt and the neutral conversation a ``messages`` field holds."""
    system: list[str] = []
    messages: list[Message] = []
    pending: list[ToolResult] = []

    def flush() -> None:
        if pending:
            messages.append(Message.tool(tuple(pending)))
            pending.clear()

    for turn in wire:
        role = turn.get("role")
        if role == "tool":
            content = _text_of(turn.get("content"))
            is_error = content.startswith(TOOL_ERROR_PREFIX)
            if is_error:
                content = content[len(TOOL_ERROR_PREFIX) :]
            pending.append(ToolResult(str(turn.get("tool_call_id")), content, is_error))
            continue
        flush()
        if role in ("system", "developer"):
            system.append(_text_of(turn.get("content")))
        elif role == "assistant":
            calls = tuple(
                ToolCall(
                    id=c["id"],
                    name=c["function"]["name"],
                    arguments=parse_arguments(c["function"].get("arguments"), c["function"]["name"]),
                )
                for c in turn.get("tool_calls") or []
            )
            messages.append(Message.assistant(_text_of(turn.get("content")), calls))
        else:
            messages.append(Message.user(_text_of(turn.get("content"))))
    flush()
    return "\n\n".join(system), messages


def tools_to_wire(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def tools_from_wire(wire: Sequence[dict[str, Any]]) -> list[ToolSpec]:
    return [
        ToolSpec(f["name"], f.get("description", ""), dict(f.get("parameters") or {}))
        for f in (t.get("function", {}) for t in wire)
    ]


def request_to_wire(
    model: str,
    system: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    max_tokens: int,
    max_tokens_field: str = "max_tokens",
) -> dict[str, Any]:
    """A whole ``POST /v1/chat/completions`` body (non-streaming)."""
    body: dict[str, Any] = {"model": model, "messages": messages_to_wire(system, messages)}
    body[max_tokens_field] = max_tokens
    if tools:
        body["tools"] = tools_to_wire(tools)
    return body


def reply_from_wire(body: dict[str, Any]) -> Reply:
    """The neutral reply a Chat Completions response body holds (its first choice)."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise PermanentError(f"{PROVIDER} response has no choices: {str(body)[:200]}")
    choice = choices[0]
    message = choice.get("message") or {}
    calls = tuple(
        ToolCall(
            id=str(c.get("id") or f"call_{i}"),
            name=c["function"]["name"],
            arguments=parse_arguments(c["function"].get("arguments"), c["function"]["name"]),
        )
        for i, c in enumerate(message.get("tool_calls") or [])
    )
    raw_stop = choice.get("finish_reason")
    stop: StopReason = _STOP.get(raw_stop or "", "other")
    if calls and stop == "end":  # some local servers say "stop" even when they called tools
        stop = "tool_use"
    usage = body.get("usage") or {}
    return Reply(
        text=_text_of(message.get("content")),
        tool_calls=calls,
        stop_reason=stop,
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        model=str(body.get("model") or ""),
        provider=PROVIDER,
        raw_stop_reason=raw_stop,
    )


def reply_to_wire(
    reply_id: str,
    model: str,
    text: str,
    tool_calls: Sequence[ToolCall],
    input_tokens: int,
    output_tokens: int,
    created: int,
    stop: StopReason | None = None,
) -> dict[str, Any]:
    """A Chat Completions response body (what the replay server answers)."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in tool_calls
        ]
    stop = stop or ("tool_use" if tool_calls else "end")
    return {
        "id": reply_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": _STOP_BACK.get(stop, "stop"), "logprobs": None}
        ],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    }


def error_to_wire(status: int, message: str) -> dict[str, Any]:
    """An OpenAI error body for an HTTP status."""
    kinds = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded"}
    return {
        "error": {"message": message, "type": kinds.get(status, "server_error"), "param": None, "code": None}
    }
