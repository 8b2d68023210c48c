"""The shared call loop (retries, budget, recording, redaction) with a scripted in-memory backend."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from typing import Any

import pytest

from crashpilot.backends.models import Budget, Exchange, Message, Reply, RetryPolicy, ToolSpec
from crashpilot.backends.models import anthropic_wire as aw
from crashpilot.backends.models.base import REDACTED, ChatModel, redact
from crashpilot.errors import BackendError, BudgetExceeded, PermanentError, TransientError
from crashpilot.protocols import Model

KEY = "sk-test-0123456789abcdef"


class SdkBoom(Exception):
    """Stands for an SDK's own exception type."""


class SdkDenied(Exception):
    """An SDK error whose body (not our message) shows the key."""

    def __init__(self) -> None:
        super().__init__("denied")
        self.body = {"error": {"message": "denied", "key": KEY}}


class Scripted(ChatModel):
    """Answers from a list: a dict is a response body, an exception is raised."""

    provider = "scripted"

    def __init__(self, outcomes: list[Any], **kwargs: Any) -> None:
        super().__init__("scripted-1", api_key=KEY, **kwargs)
        self.outcomes = outcomes
        self.sent: list[dict[str, Any]] = []

    def build_request(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec], max_tokens: int
    ) -> dict[str, Any]:
        return aw.request_to_wire(self.name, system, messages, tools, max_tokens)

    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, dict)
        return outcome

    def translate_error(self, exc: Exception) -> BackendError | None:
        if isinstance(exc, SdkBoom):
            return TransientError(f"boom: {exc}")
        if isinstance(exc, SdkDenied):
            return PermanentError("denied")
        return None

    def parse_response(self, response: dict[str, Any]) -> Reply:
        return aw.reply_from_wire(response)


def ok(text: str = "fine", tokens: tuple[int, int] = (10, 5)) -> dict[str, Any]:
    return aw.reply_to_wire("msg", "scripted-1", text, [], *tokens)


def policy(sleeps: list[float], retries: int = 3) -> RetryPolicy:
    return RetryPolicy(max_retries=retries, base_delay=0.1, jitter=0.0, sleep=sleeps.append)


USER = [Message.user("why did it crash?")]


def test_satisfies_the_model_protocol() -> None:
    model = Scripted([])
    assert isinstance(model, Model)
    assert KEY not in repr(model)


def test_transient_errors_are_retried_with_backoff_and_each_try_recorded() -> None:
    sleeps: list[float] = []
    exchanges: list[Exchange] = []
    model = Scripted(
        [SdkBoom("a"), TransientError("b"), ok("done")], retry=policy(sleeps), record=exchanges.append
    )
    reply = model.complete("sys", USER, [], 100)
    assert reply.text == "done"
    assert sleeps == [0.1, 0.2]
    assert [e.attempt for e in exchanges] == [1, 2, 3]
    assert [e.error_kind for e in exchanges] == ["transient", "transient", None]
    assert exchanges[0].error == "boom: a" and exchanges[2].response is not None
    assert exchanges[2].input_tokens == 10 and exchanges[2].output_tokens == 5


def test_gives_up_after_max_retries() -> None:
    sleeps: list[float] = []
    model = Scripted([SdkBoom(str(i)) for i in range(10)], retry=policy(sleeps, retries=2))
    with pytest.raises(TransientError, match="gave up after 3 tries"):
        model.complete("sys", USER, [], 100)
    assert len(model.sent) == 3 and len(sleeps) == 2


def test_permanent_errors_are_not_retried() -> None:
    sleeps: list[float] = []
    model = Scripted([PermanentError("bad request"), ok()], retry=policy(sleeps))
    with pytest.raises(PermanentError, match="bad request"):
        model.complete("sys", USER, [], 100)
    assert sleeps == [] and len(model.sent) == 1


def test_foreign_errors_pass_through_untouched() -> None:
    model = Scripted([KeyError("bug")])
    with pytest.raises(KeyError):
        model.complete("sys", USER, [], 100)


def test_budget_is_charged_and_stops_the_next_call() -> None:
    budget = Budget(max_tokens=40)
    model = Scripted([ok(tokens=(20, 10)), ok(tokens=(20, 10)), ok()], budget=budget)
    model.complete("sys", USER, [], 1000)
    assert model.sent[0]["max_tokens"] == 40  # cut to the budget
    model.complete("sys", USER, [], 1000)
    assert model.sent[1]["max_tokens"] == 10
    with pytest.raises(BudgetExceeded, match="60 tokens used of 40"):
        model.complete("sys", USER, [], 1000)
    assert len(model.sent) == 2
    assert budget.usage().total_tokens == 60


def test_retries_count_against_the_call_budget() -> None:
    sleeps: list[float] = []
    budget = Budget(max_calls=2)
    model = Scripted([SdkBoom("1"), SdkBoom("2"), ok()], retry=policy(sleeps), budget=budget)
    with pytest.raises(BudgetExceeded, match="2 calls made of 2"):
        model.complete("sys", USER, [], 100)
    assert len(model.sent) == 2


def test_key_is_redacted_from_exchanges_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    exchanges: list[Exchange] = []
    leaky = [SdkBoom(f"invalid key {KEY}"), PermanentError(f"denied for {KEY}")]
    model = Scripted(leaky, retry=policy([]), record=exchanges.append)
    with pytest.raises(PermanentError) as info:
        model.complete("sys", [Message.user(f"pasted {KEY} by mistake")], [], 100)
    assert KEY not in str(info.value) and REDACTED in str(info.value)
    assert len(exchanges) == 2
    for exchange in exchanges:
        assert KEY not in repr(exchange)
    assert REDACTED in exchanges[0].request["messages"][0]["content"]
    assert KEY not in caplog.text


def test_an_sdk_error_showing_the_key_is_not_chained() -> None:
    model = Scripted([SdkDenied()])
    with pytest.raises(PermanentError, match="denied") as info:
        model.complete("sys", USER, [], 100)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert KEY not in "".join(traceback.format_exception(info.value))


def test_an_sdk_error_without_secrets_stays_chained() -> None:
    model = Scripted([SdkBoom("plain")], retry=policy([], retries=0))
    with pytest.raises(TransientError) as info:
        model.complete("sys", USER, [], 100)
    assert isinstance(info.value.__cause__, TransientError)
    assert isinstance(info.value.__cause__.__cause__, SdkBoom)


def test_a_failing_recorder_does_not_lose_the_reply(caplog: pytest.LogCaptureFixture) -> None:
    def broken(exchange: Exchange) -> None:
        raise RuntimeError("disk full")

    model = Scripted([ok("kept")], record=broken)
    assert model.complete("sys", USER, [], 100).text == "kept"
    assert "recording a model exchange failed" in caplog.text


def test_redact_walks_nested_values() -> None:
    value = {"a": [KEY, {"b": f"x{KEY}y"}], KEY: 3, "n": 1}
    assert redact(value, [KEY]) == {"a": [REDACTED, {"b": f"x{REDACTED}y"}], REDACTED: 3, "n": 1}
    assert redact(value, [""]) is value


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        Scripted([]).complete("sys", USER, [], 0)
