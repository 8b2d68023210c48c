"""A provider-neutral conversation for a tool-using agent.

A conversation is a list of :class:`Message`: the user speaks, the assistant answers with text
and/or :class:`ToolCall`, and a ``tool`` message carries the :class:`ToolResult` of those calls.
The system prompt is not a message: it is passed to ``Model.complete`` on its own. A call returns a
:class:`Reply`; every HTTP attempt is described by an :class:`Exchange` handed to the recorder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "tool"]

# Why the model stopped, the same words for every provider.
StopReason = Literal["end", "tool_use", "max_tokens", "other"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    """The model asks to run tool ``name`` with ``arguments``; ``id`` ties the result to it."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolResult:
    """What running the tool of call ``call_id`` produced (``is_error`` when it failed)."""

    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Message:
    """One turn of the conversation. Build it with :meth:`user`, :meth:`assistant`, :meth:`tool`."""

    role: Role
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ("user", "assistant", "tool"):
            raise ValueError(f"unknown message role {self.role!r}")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant message carries tool calls")
        if self.tool_results and self.role != "tool":
            raise ValueError("only a tool message carries tool results")
        if self.role == "tool" and not self.tool_results:
            raise ValueError("a tool message needs at least one tool result")

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", text=text)

    @classmethod
    def assistant(cls, text: str = "", tool_calls: tuple[ToolCall, ...] | list[ToolCall] = ()) -> Message:
        return cls(role="assistant", text=text, tool_calls=tuple(tool_calls))

    @classmethod
    def tool(cls, results: tuple[ToolResult, ...] | list[ToolResult]) -> Message:
        return cls(role="tool", tool_results=tuple(results))


@dataclass(frozen=True)
class Reply:
    """What the model answered to one ``complete`` call."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    stop_reason: StopReason
    input_tokens: int
    output_tokens: int
    model: str
    provider: str
    # The provider's own word for why it stopped ("end_turn", "tool_calls" ...).
    raw_stop_reason: str | None = None

    def as_message(self) -> Message:
        """The reply as the assistant message to append to the conversation."""
        return Message.assistant(self.text, self.tool_calls)


@dataclass(frozen=True)
class Exchange:
    """One HTTP attempt at a model call, as the ``exchanges`` table stores it.

    ``request`` is the body as sent (system, messages, tools, in the provider's wire format) and
    ``response`` the body as received (``None`` when the attempt failed); secrets are redacted
    from both and from ``error`` before an Exchange is built.
    """

    provider: str
    model: str
    request: dict[str, Any]
    response: dict[str, Any] | None
    input_tokens: int
    output_tokens: int
    duration_s: float
    started_at: float  # seconds since the epoch
    attempt: int  # 1 for the first try of a call, 2 for its first retry ...
    error: str | None = None
    # "transient" or "permanent" when ``error`` is set.
    error_kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A plain dict for storage (every value is JSON-serializable)."""
        return asdict(self)
