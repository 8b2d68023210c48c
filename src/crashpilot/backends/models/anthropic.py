"""Claude through the official ``anthropic`` SDK (Messages API, tool use)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anthropic

from crashpilot.backends.models import anthropic_wire as wire
from crashpilot.backends.models.base import ChatModel, Recorder, status_error
from crashpilot.backends.models.budget import Budget
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.backends.models.types import Message, Reply, ToolSpec
from crashpilot.errors import BackendError, PermanentError, TransientError

DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicModel(ChatModel):
    """A Claude model. ``api_key`` is given by the caller (settings read ANTHROPIC_API_KEY)."""

    provider = wire.PROVIDER

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        record: Recorder | None = None,
    ) -> None:
        super().__init__(model, api_key=api_key, retry=retry, budget=budget, record=record)
        if not api_key:
            raise PermanentError("the anthropic backend needs an API key (ANTHROPIC_API_KEY)")
        self.base_url = base_url or DEFAULT_BASE_URL
        # base_url is always explicit so the SDK does not look it up in the environment;
        # max_retries=0: every retry is ours, counted and recorded.
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=self.base_url, timeout=timeout, max_retries=0
        )

    def build_request(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec], max_tokens: int
    ) -> dict[str, Any]:
        return wire.request_to_wire(self.name, system, messages, tools, max_tokens)

    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        message = self._client.messages.create(**request)
        if not isinstance(
            message, anthropic.types.Message
        ):  # a body that was not JSON (an HTML error page ...)
            raise PermanentError(
                f"{self.provider} API answered a body that is not JSON: {str(message)[:200]!r}"
            )
        body: dict[str, Any] = message.to_dict(mode="json")
        return body

    def parse_response(self, response: dict[str, Any]) -> Reply:
        return wire.reply_from_wire(response)

    def translate_error(self, exc: Exception) -> BackendError | None:
        name = self.provider
        if isinstance(exc, anthropic.APITimeoutError):
            return TransientError(f"{name} API timed out")
        if isinstance(exc, anthropic.APIConnectionError):
            return TransientError(f"{name} API unreachable: {exc.message}")
        if isinstance(exc, anthropic.APIStatusError):
            detail = exc.api_message or exc.message
            return status_error(name, exc.status_code, detail, exc.response.headers.get("retry-after"))
        if isinstance(exc, anthropic.APIResponseValidationError):
            return PermanentError(f"{name} API answered a body of the wrong shape: {exc.message}")
        if isinstance(exc, json.JSONDecodeError):
            return PermanentError(f"{name} API answered a body that is not valid JSON: {exc}")
        if isinstance(exc, anthropic.AnthropicError):
            return PermanentError(f"{name} SDK error: {exc}")
        return None
