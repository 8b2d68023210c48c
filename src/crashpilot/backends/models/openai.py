"""GPT models and OpenAI-compatible local servers through the official ``openai`` SDK.

Chat Completions with ``tools`` / ``tool_calls`` / role ``tool``. ``base_url`` points it at a local
server that speaks the same API: Ollama (``http://localhost:11434/v1``), vLLM
(``http://localhost:8000/v1``), llama.cpp's ``llama-server`` (``http://localhost:8080/v1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai

from crashpilot.backends.models import openai_wire as wire
from crashpilot.backends.models.base import ChatModel, Recorder, sdk_body, translate_sdk_error
from crashpilot.backends.models.budget import Budget
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.backends.models.types import Message, Reply, ToolSpec
from crashpilot.errors import BackendError, PermanentError

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# Local servers want no key, but the SDK insists on one; this is what they receive then.
NO_KEY = "no-key"


class OpenAIModel(ChatModel):
    """A chat model. ``api_key`` is given by the caller (settings read OPENAI_API_KEY); it may be
    omitted for a local ``base_url``. ``max_tokens_field`` is ``max_completion_tokens`` for the
    OpenAI API and ``max_tokens`` for local servers unless set."""

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
        max_tokens_field: str | None = None,
    ) -> None:
        super().__init__(model, api_key=api_key, retry=retry, budget=budget, record=record)
        if not api_key and base_url is None:
            raise PermanentError("the openai backend needs an API key (OPENAI_API_KEY) or a local base_url")
        self.base_url = base_url or DEFAULT_BASE_URL
        if max_tokens_field is None:
            max_tokens_field = "max_completion_tokens" if base_url is None else "max_tokens"
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ValueError(f"unknown max_tokens_field {max_tokens_field!r}")
        self.max_tokens_field = max_tokens_field
        # The key and base URL are explicit so the SDK does not take them from the environment;
        # max_retries=0: every retry is ours, counted and recorded.
        self._client = openai.OpenAI(
            api_key=api_key or NO_KEY,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=0,
        )

    def build_request(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec], max_tokens: int
    ) -> dict[str, Any]:
        return wire.request_to_wire(self.name, system, messages, tools, max_tokens, self.max_tokens_field)

    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        completion = self._client.chat.completions.create(**request)
        return sdk_body(completion, openai.types.chat.ChatCompletion, self.provider)

    def parse_response(self, response: dict[str, Any]) -> Reply:
        return wire.reply_from_wire(response)

    def translate_error(self, exc: Exception) -> BackendError | None:
        return translate_sdk_error(openai, openai.OpenAIError, self.provider, exc, _status_detail)


def _status_detail(exc: Any) -> str:
    body = exc.body
    detail = body.get("message") if isinstance(body, dict) else None
    return str(detail or exc.message)
