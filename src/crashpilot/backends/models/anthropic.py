"""Claude through the official ``anthropic`` SDK (Messages API, tool use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anthropic

from crashpilot.backends.models import anthropic_wire as wire
from crashpilot.backends.models.base import ChatModel, Recorder, sdk_body, translate_sdk_error
from crashpilot.backends.models.budget import Budget
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.backends.models.types import Message, Reply, ToolSpec
from crashpilot.errors import BackendError, PermanentError

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
        return sdk_body(self._client.messages.create(**request), anthropic.types.Message, self.provider)

    def parse_response(self, response: dict[str, Any]) -> Reply:
        return wire.reply_from_wire(response)

    def translate_error(self, exc: Exception) -> BackendError | None:
        return translate_sdk_error(
            anthropic, anthropic.AnthropicError, self.provider, exc, lambda e: e.api_message or e.message
        )
