"""The real ``anthropic`` and ``openai`` SDKs, through our backends, against the replay server on
127.0.0.1 speaking each documented wire format. No model API is reachable from here."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from crashpilot.backends.models import Budget, Exchange, Message, RetryPolicy, ToolCall, ToolResult, ToolSpec
from crashpilot.backends.models.anthropic import AnthropicModel
from crashpilot.backends.models.base import ChatModel
from crashpilot.backends.models.openai import OpenAIModel
from crashpilot.errors import BudgetExceeded, PermanentError, TransientError
from crashpilot.replay import (
    Failure,
    ReceivedRequest,
    ReplayServer,
    Turn,
    load_transcript,
    transcript_from_exchanges,
)

KEY = "sk-live-DO-NOT-LEAK-5f1c2e9a"
SYSTEM = "You fix C++ crashes."
TOOLS = [
    ToolSpec(
        "read_file",
        "Read a source file",
        {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    )
]


@dataclass
class Setup:
    provider: str
    make: Callable[..., ChatModel]


def _anthropic(server: ReplayServer, **kw: object) -> ChatModel:
    return AnthropicModel("claude-test", api_key=KEY, base_url=server.anthropic_base_url, **kw)  # type: ignore[arg-type]


def _openai(server: ReplayServer, **kw: object) -> ChatModel:
    return OpenAIModel("gpt-test", api_key=KEY, base_url=server.openai_base_url, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["anthropic", "openai"])
def setup(request: pytest.FixtureRequest) -> Setup:
    return Setup(request.param, _anthropic if request.param == "anthropic" else _openai)


def fast(retries: int = 3) -> RetryPolicy:
    return RetryPolicy(max_retries=retries, base_delay=0.001, max_delay=0.01)


def read_call(path: str) -> tuple[ToolCall, ...]:
    return (ToolCall("", "read_file", {"path": path}),)


def test_multi_turn_tool_use(setup: Setup) -> None:
    exchanges: list[Exchange] = []
    script = [
        Turn("Let me read the crashing function.", read_call("src/Unit.cpp")),
        Turn("", read_call("src/Unit.h")),
        Turn("Root cause: GetVictim() can return null after the target despawns."),
    ]
    with ReplayServer(script) as server:
        model = setup.make(server, record=exchanges.append, retry=fast())
        messages = [Message.user("Crash: SIGSEGV in Unit::DealDamage")]
        first = model.complete(SYSTEM, messages, TOOLS, 1024)
        assert first.stop_reason == "tool_use" and first.text == "Let me read the crashing function."
        assert [(c.name, c.arguments) for c in first.tool_calls] == [("read_file", {"path": "src/Unit.cpp"})]
        messages += [
            first.as_message(),
            Message.tool([ToolResult(first.tool_calls[0].id, "void DealDamage()")]),
        ]

        second = model.complete(SYSTEM, messages, TOOLS, 1024)
        assert second.text == "" and second.tool_calls[0].arguments == {"path": "src/Unit.h"}
        assert second.tool_calls[0].id != first.tool_calls[0].id
        messages += [second.as_message(), Message.tool([ToolResult(second.tool_calls[0].id, "class Unit;")])]

        final = model.complete(SYSTEM, messages, TOOLS, 1024)
        assert final.stop_reason == "end" and "GetVictim" in final.text
        assert final.provider == setup.provider and final.model == model.name
        assert final.input_tokens > 0 and final.output_tokens > 0

        assert server.problems == [] and server.remaining == 0
        # what arrived is the conversation we sent, read back from the wire
        system, received, tools = server.requests[-1].conversation()
        assert system == SYSTEM and received == messages and tools == TOOLS
    assert len(exchanges) == 3 and all(e.error is None for e in exchanges)
    assert exchanges[2].input_tokens == final.input_tokens


def test_missing_tool_result_is_caught_by_the_server(setup: Setup) -> None:
    with ReplayServer([Turn("", read_call("a.cpp")), Turn("done")]) as server:
        model = setup.make(server, retry=fast())
        first = model.complete(SYSTEM, [Message.user("go")], TOOLS, 100)
        forgot = [Message.user("go"), first.as_message(), Message.user("what next?")]
        with pytest.raises(PermanentError, match="no tool result for call"):
            model.complete(SYSTEM, forgot, TOOLS, 100)
        assert server.problems == [f"no tool result for call(s) {first.tool_calls[0].id}"], server.requests


def test_a_new_conversation_owes_nothing_to_the_last_one(setup: Setup) -> None:
    """ANALYSE ends on a tool call; FIX then starts a fresh conversation: that is not a missing result."""
    with ReplayServer([Turn("", read_call("a.cpp")), Turn("fresh start")]) as server:
        model = setup.make(server, retry=fast())
        model.complete(SYSTEM, [Message.user("analyse")], TOOLS, 100)
        reply = model.complete(SYSTEM, [Message.user("fix it")], TOOLS, 100)
        assert reply.text == "fresh start"
        assert server.problems == []


@pytest.mark.parametrize("status", [529, 500, 429])
def test_retries_on_transient_status_then_success(setup: Setup, status: int) -> None:
    exchanges: list[Exchange] = []
    sleeps: list[float] = []
    retry = RetryPolicy(max_retries=3, base_delay=0.001, jitter=0.0, sleep=sleeps.append)
    with ReplayServer([Failure(status), Failure(status), Turn("ok")]) as server:
        model = setup.make(server, retry=retry, record=exchanges.append)
        reply = model.complete(SYSTEM, [Message.user("hi")], [], 50)
        assert reply.text == "ok"
        assert len(server.requests) == 3  # the SDK did not retry on its own: all three are ours
    assert sleeps == [0.001, 0.002]
    assert [e.attempt for e in exchanges] == [1, 2, 3]
    assert [e.error_kind for e in exchanges] == ["transient", "transient", None]
    assert str(status) in (exchanges[0].error or "")


def test_retry_after_header_is_honoured_within_our_ceiling(setup: Setup) -> None:
    sleeps: list[float] = []
    retry = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=5.0, jitter=0.0, sleep=sleeps.append)
    script = [Failure(429, retry_after=2), Failure(529, retry_after=600), Turn("ok")]
    with ReplayServer(script) as server:
        model = setup.make(server, retry=retry)
        assert model.complete(SYSTEM, [Message.user("hi")], [], 50).text == "ok"
    assert sleeps == [2.0, 5.0]


def test_timeout_is_transient_after_bounded_retries(setup: Setup) -> None:
    exchanges: list[Exchange] = []
    script = [Failure(delay=2.0, status=500)] * 3
    with ReplayServer(script) as server:
        model = setup.make(server, retry=fast(retries=2), timeout=0.2, record=exchanges.append)
        started = time.monotonic()
        with pytest.raises(TransientError, match="gave up after 3 tries.*timed out"):
            model.complete(SYSTEM, [Message.user("hi")], [], 50)
        assert time.monotonic() - started < 2.0
        assert len(server.requests) == 3
    assert [e.error for e in exchanges] == [f"{setup.provider} API timed out"] * 3


@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
def test_garbage_body_is_a_clear_permanent_error(setup: Setup, content_type: str) -> None:
    exchanges: list[Exchange] = []
    with ReplayServer([Failure(garbage=True, content_type=content_type), Turn("never")]) as server:
        model = setup.make(server, retry=fast(), record=exchanges.append)
        with pytest.raises(PermanentError, match="answered a body that is not (valid )?JSON"):
            model.complete(SYSTEM, [Message.user("hi")], [], 50)
        assert len(server.requests) == 1
    assert exchanges[0].response is None and exchanges[0].error_kind == "permanent"


def test_auth_error_is_permanent_and_not_retried(setup: Setup) -> None:
    with ReplayServer([Failure(401, message="invalid x-api-key"), Turn("never")]) as server:
        model = setup.make(server, retry=fast())
        with pytest.raises(PermanentError, match="401.*invalid x-api-key"):
            model.complete(SYSTEM, [Message.user("hi")], [], 50)
        assert len(server.requests) == 1


def test_budget_exceeded_stops_cleanly(setup: Setup) -> None:
    budget = Budget(max_calls=2)
    with ReplayServer([Turn("one"), Turn("two"), Turn("three")]) as server:
        model = setup.make(server, retry=fast(), budget=budget)
        model.complete(SYSTEM, [Message.user("a")], [], 50)
        model.complete(SYSTEM, [Message.user("b")], [], 50)
        with pytest.raises(BudgetExceeded, match="2 calls made of 2"):
            model.complete(SYSTEM, [Message.user("c")], [], 50)
        assert len(server.requests) == 2 and server.remaining == 1
    usage = budget.usage()
    assert usage.calls == 2 and usage.total_tokens > 0


def test_token_budget_is_shared_by_both_providers() -> None:
    budget = Budget(max_tokens=100)
    script = [Turn("a", input_tokens=40, output_tokens=20), Turn("b", input_tokens=30, output_tokens=15)]
    with ReplayServer(script) as server:
        claude = _anthropic(server, budget=budget, retry=fast())
        gpt = _openai(server, budget=budget, retry=fast())
        claude.complete(SYSTEM, [Message.user("x")], [], 500)
        gpt.complete(SYSTEM, [Message.user("y")], [], 500)
        assert budget.usage().total_tokens == 105
        with pytest.raises(BudgetExceeded, match="105 tokens used of 100"):
            claude.complete(SYSTEM, [Message.user("z")], [], 500)
        sent = [r.body or {} for r in server.requests]
        assert sent[0]["max_tokens"] == 100 and sent[1]["max_tokens"] == 40  # cut to what is left


def test_key_is_sent_to_the_server_but_never_recorded(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    exchanges: list[Exchange] = []
    # a server that echoes the key back in an error must not make it leak either
    script = [Failure(500, message=f"upstream rejected {KEY}"), Turn("fine")]
    with ReplayServer(script) as server:
        model = setup.make(server, retry=fast(), record=exchanges.append)
        model.complete(SYSTEM, [Message.user("hi")], TOOLS, 50)
        for received in server.requests:
            assert received.api_key == KEY
            # openai sends a Bearer token; so does anthropic 2.x (1.x sent x-api-key)
            assert received.headers["authorization"] == f"Bearer {KEY}"
            assert KEY not in received.raw  # the key is in a header, not in the body
    assert len(exchanges) == 2
    dumped = json.dumps([e.__dict__ for e in exchanges], default=str)
    assert KEY not in dumped and "[REDACTED]" in dumped
    assert KEY not in caplog.text


def test_key_echoed_in_an_error_does_not_travel_with_the_exception(setup: Setup) -> None:
    with ReplayServer([Failure(401, message=f"key {KEY} was revoked")]) as server:
        model = setup.make(server, retry=fast())
        with pytest.raises(PermanentError) as info:
            model.complete(SYSTEM, [Message.user("hi")], [], 50)
    shown = "".join(traceback.format_exception(info.value))
    assert "401" in shown and "[REDACTED] was revoked" in shown
    assert KEY not in shown


def test_openai_without_key_for_a_local_server() -> None:
    with ReplayServer([Turn("local model here")]) as server:
        model = OpenAIModel("qwen2.5-coder", api_key=None, base_url=server.openai_base_url, retry=fast())
        assert model.complete(SYSTEM, [Message.user("hi")], [], 50).text == "local model here"
        body = server.requests[0].body or {}
        assert body["max_tokens"] == 50 and "max_completion_tokens" not in body


def test_openai_hosted_api_uses_max_completion_tokens() -> None:
    model = OpenAIModel("gpt-test", api_key=KEY)
    request = model.build_request(SYSTEM, [Message.user("hi")], [], 77)
    assert request["max_completion_tokens"] == 77 and model.base_url == "https://api.openai.com/v1"


def test_a_key_is_required_where_there_is_no_local_server() -> None:
    with pytest.raises(PermanentError, match="ANTHROPIC_API_KEY"):
        AnthropicModel("claude-test", api_key=None)
    with pytest.raises(PermanentError, match="OPENAI_API_KEY"):
        OpenAIModel("gpt-test", api_key="")


def test_recorded_exchanges_replay_from_a_transcript_file(setup: Setup, tmp_path: Path) -> None:
    exchanges: list[Exchange] = []
    with ReplayServer([Turn("", read_call("a.cpp")), Turn("the fix")]) as server:
        model = setup.make(server, retry=fast(), record=exchanges.append)
        first = model.complete(SYSTEM, [Message.user("go")], TOOLS, 100)
        messages = [
            Message.user("go"),
            first.as_message(),
            Message.tool([ToolResult(first.tool_calls[0].id, "x")]),
        ]
        model.complete(SYSTEM, messages, TOOLS, 100)
    path = tmp_path / "conversation.json"
    path.write_text(json.dumps(transcript_from_exchanges(exchanges)))
    # the other provider can replay what this one recorded
    other = _openai if setup.provider == "anthropic" else _anthropic
    with ReplayServer(load_transcript(path)) as server:
        model = other(server, retry=fast())
        again = model.complete(SYSTEM, [Message.user("go")], TOOLS, 100)
        assert again.tool_calls[0].arguments == {"path": "a.cpp"}
        messages = [
            Message.user("go"),
            again.as_message(),
            Message.tool([ToolResult(again.tool_calls[0].id, "x")]),
        ]
        assert model.complete(SYSTEM, messages, TOOLS, 100).text == "the fix"


def test_per_turn_check_sees_the_request(setup: Setup) -> None:
    def wants_tools(request: ReceivedRequest) -> str | None:
        _, _, tools = request.conversation()
        return None if [t.name for t in tools] == ["read_file"] else "read_file tool missing"

    with ReplayServer([Turn("ok", check=wants_tools), Turn("ok", check=wants_tools)]) as server:
        model = setup.make(server, retry=fast())
        assert model.complete(SYSTEM, [Message.user("a")], TOOLS, 50).text == "ok"
        with pytest.raises(PermanentError, match="read_file tool missing"):
            model.complete(SYSTEM, [Message.user("a")], [], 50)
