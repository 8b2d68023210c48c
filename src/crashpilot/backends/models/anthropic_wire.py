"""The Anthropic Messages API wire format, both ways, without the SDK.

Requests: ``system`` is a top-level field; an assistant turn is a list of ``text`` and ``tool_use``
blocks; tool results travel in a ``user`` turn as ``tool_result`` blocks, placed first. Roles must
alternate, so consecutive turns of one role are merged. Used by the Anthropic backend and by the
replay server.
"""

from __future__ import annotations

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
from crashpilot.errors import PermanentError

PROVIDER = "anthropic"

_STOP: dict[str, StopReason] = {
    "end_turn": "end",
    "stop_sequence": "end",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
}
_STOP_BACK: dict[StopReason, str] = {"end": "end_turn", "tool_use": "tool_use", "max_tokens": "max_tokens"}


def _blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for result in message.tool_results:
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": result.call_id,
            "content": result.content,
        }
        if result.is_error:
            block["is_error"] = True
        blocks.append(block)
    if message.text:
        blocks.append({"type": "text", "text": message.text})
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)})
    return blocks


def messages_to_wire(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The ``messages`` field of a request; tool messages become user turns, same roles merge."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if wire and wire[-1]["role"] == role:
            previous = wire[-1]["content"]
            # tool_result blocks must come before anything else in a user turn
            results = [b for b in previous + blocks if b["type"] == "tool_result"]
            others = [b for b in previous + blocks if b["type"] != "tool_result"]
            wire[-1]["content"] = results + others
        else:
            wire.append({"role": role, "content": blocks})
    # a plain user text stays a plain string, as most clients send it
    for turn in wire:
        content = turn["content"]
        if turn["role"] == "user" and len(content) == 1 and content[0]["type"] == "text":
            turn["content"] = content[0]["text"]
    return wire


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def messages_from_wire(wire: Sequence[dict[str, Any]]) -> list[Message]:
    """The neutral conversation a ``messages`` field holds (the inverse of messages_to_wire)."""
    messages: list[Message] = []
    for turn in wire:
        content = turn.get("content")
        blocks: list[dict[str, Any]] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        )
        if turn.get("role") == "assistant":
            calls = tuple(
                ToolCall(id=b["id"], name=b["name"], arguments=dict(b.get("input") or {}))
                for b in blocks
                if b.get("type") == "tool_use"
            )
            messages.append(Message.assistant(_text_of(blocks), calls))
            continue
        results = tuple(
            ToolResult(
                call_id=b["tool_use_id"], content=_text_of(b.get("content")), is_error=bool(b.get("is_error"))
            )
            for b in blocks
            if b.get("type") == "tool_result"
        )
        if results:
            messages.append(Message.tool(results))
        text = _text_of([b for b in blocks if b.get("type") == "text"])
        if text or not results:
            messages.append(Message.user(text))
    return messages


def tools_to_wire(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]


def tools_from_wire(wire: Sequence[dict[str, Any]]) -> list[ToolSpec]:
    return [ToolSpec(t["name"], t.get("description", ""), dict(t.get("input_schema") or {})) for t in wire]


def request_to_wire(
    model: str, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec], max_tokens: int
) -> dict[str, Any]:
    """A whole ``POST /v1/messages`` body."""
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages_to_wire(messages)}
    if system:
        body["system"] = system
    if tools:
        body["tools"] = tools_to_wire(tools)
    return body


def reply_from_wire(body: dict[str, Any]) -> Reply:
    """The neutral reply a Messages API response body holds."""
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise PermanentError(f"{PROVIDER} response has no content list: {str(body)[:200]}")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in body["content"]:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(
                ToolCall(id=block["id"], name=block["name"], arguments=dict(block.get("input") or {}))
            )
    raw_stop = body.get("stop_reason")
    usage = body.get("usage") or {}
    return Reply(
        text="\n".join(t for t in texts if t),
        tool_calls=tuple(calls),
        stop_reason=_STOP.get(raw_stop or "", "other"),
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
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
    stop: StopReason | None = None,
) -> dict[str, Any]:
    """A Messages API response body (what the replay server answers)."""
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "text", "text": text})
    for call in tool_calls:
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)})
    stop = stop or ("tool_use" if tool_calls else "end")
    return {
        "id": reply_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _STOP_BACK.get(stop, "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def error_to_wire(status: int, message: str) -> dict[str, Any]:
    """An Anthropic error body for an HTTP status."""
    kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }
    return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message}}
