"""What every model backend shares: the call loop with retries, budget, recording and redaction.

A backend subclasses :class:`ChatModel` and supplies four translations: the neutral conversation
to its wire request, the request through its SDK, the SDK's errors to ours, and its wire response
to a :class:`Reply`.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from crashpilot.backends.models.budget import Budget
from crashpilot.backends.models.retry import RetryPolicy
from crashpilot.backends.models.types import Exchange, Message, Reply, ToolSpec
from crashpilot.errors import BackendError, PermanentError, TransientError

log = logging.getLogger(__name__)

REDACTED = "[REDACTED]"

Recorder = Callable[[Exchange], None]


def redact(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` (JSON-like) with every occurrence of each secret replaced by ``[REDACTED]``."""
    secrets = [s for s in secrets if s]
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    return value


class ChatModel(ABC):
    """A model behind an SDK; satisfies ``crashpilot.protocols.Model``."""

    provider: str = ""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        record: Recorder | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        if not model:
            raise ValueError("a model name is required")
        self.name = model
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self._record = record
        self._secrets = tuple(s for s in (api_key, *secrets) if s)

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(provider={self.provider!r}, model={self.name!r})"

    def close(self) -> None:
        """Close the SDK client and its HTTP connections."""
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()

    def __enter__(self) -> ChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what a backend supplies -------------------------------------------------------------

    @abstractmethod
    def build_request(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec], max_tokens: int
    ) -> dict[str, Any]:
        """The wire request body for this provider."""

    @abstractmethod
    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send ``request`` through the SDK once; the wire response body as a dict."""

    @abstractmethod
    def translate_error(self, exc: Exception) -> BackendError | None:
        """Our error for an SDK error, or None when ``exc`` is not the SDK's."""

    @abstractmethod
    def parse_response(self, response: dict[str, Any]) -> Reply:
        """The neutral reply for a wire response body."""

    # -- the call loop -----------------------------------------------------------------------

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int) -> Reply:
        """Ask the model; retries TransientError with backoff, charges the budget, records each try."""
        if max_tokens <= 0:
            raise ValueError("max_tokens must be positive")
        attempt = 0
        while True:
            attempt += 1
            if self.budget is not None:
                self.budget.start_call()
                allowed = self.budget.output_allowance(max_tokens)
            else:
                allowed = max_tokens
            request = self.build_request(system, messages, tools, allowed)
            try:
                return self._attempt(request, attempt)
            except TransientError as exc:
                if attempt > self.retry.max_retries:
                    raise TransientError(
                        f"{self.provider} {self.name}: gave up after {attempt} tries: {exc}"
                    ) from exc
                delay = self.retry.delay(attempt)
                if isinstance(exc, RateLimited):  # the server knows best, within our ceiling
                    delay = max(delay, min(exc.retry_after, self.retry.max_delay))
                log.warning(
                    "model call failed, retrying in %.2fs (try %d of %d): %s",
                    delay,
                    attempt,
                    self.retry.max_retries + 1,
                    exc,
                    extra={"provider": self.provider, "model": self.name},
                )
                self.retry.sleep(delay)

    def _attempt(self, request: dict[str, Any], attempt: int) -> Reply:
        started_at = time.time()
        t0 = time.monotonic()
        response: dict[str, Any] | None = None
        try:
            try:
                response = self.send(request)
                reply = self.parse_response(response)
            except BackendError:
                raise
            except Exception as exc:
                translated = self.translate_error(exc)
                if translated is None:
                    raise
                raise translated from exc
        except BackendError as exc:
            message = self._clean(str(exc))
            kind = "transient" if isinstance(exc, TransientError) else "permanent"
            self._emit(request, response, 0, 0, time.monotonic() - t0, started_at, attempt, message, kind)
            if message != str(exc) or self._leaks(exc.__cause__):
                # a secret in our message or in the SDK error behind it must not travel on
                raise _scrubbed(exc, message) from None
            raise
        if self.budget is not None:
            self.budget.charge(reply.input_tokens, reply.output_tokens)
        self._emit(
            request,
            response,
            reply.input_tokens,
            reply.output_tokens,
            time.monotonic() - t0,
            started_at,
            attempt,
            None,
            None,
        )
        log.debug(
            "model call done: %d in / %d out tokens, stop=%s",
            reply.input_tokens,
            reply.output_tokens,
            reply.stop_reason,
            extra={"provider": self.provider, "model": self.name},
        )
        return reply

    def _leaks(self, error: BaseException | None) -> bool:
        """Whether an SDK error (its message, its body) shows one of our secrets."""
        if error is None:
            return False
        shown = f"{error!s} {error!r} {getattr(error, 'body', '')!r}"
        return any(secret in shown for secret in self._secrets)

    def _clean(self, text: str) -> str:
        cleaned: str = redact(text, self._secrets)
        return cleaned

    def _emit(
        self,
        request: dict[str, Any],
        response: dict[str, Any] | None,
        input_tokens: int,
        output_tokens: int,
        duration_s: float,
        started_at: float,
        attempt: int,
        error: str | None,
        error_kind: str | None,
    ) -> None:
        if self._record is None:
            return
        exchange = Exchange(
            provider=self.provider,
            model=self.name,
            request=redact(request, self._secrets),
            response=redact(response, self._secrets) if response is not None else None,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            duration_s=duration_s,
            started_at=started_at,
            attempt=attempt,
            error=error,
            error_kind=error_kind,
        )
        try:
            self._record(exchange)
        except Exception:  # a failing recorder must not lose the model's answer
            log.exception("recording a model exchange failed", extra={"provider": self.provider})


class RateLimited(TransientError):
    """A transient failure whose answer said how long to wait (``Retry-After``, seconds)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _scrubbed(exc: BackendError, message: str) -> BackendError:
    """The same kind of error as ``exc`` with ``message``, and nothing chained to it."""
    if isinstance(exc, RateLimited):
        return RateLimited(message, exc.retry_after)
    if isinstance(exc, TransientError):
        return TransientError(message)
    return PermanentError(message)


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:  # an HTTP date: rare from model APIs, ignored
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def sdk_body(obj: Any, expected: type[Any], provider: str) -> dict[str, Any]:
    """The wire body of an SDK response object; a body that was not JSON is a PermanentError."""
    if not isinstance(obj, expected):  # an HTML error page and the like
        raise PermanentError(f"{provider} API answered a body that is not JSON: {str(obj)[:200]!r}")
    body: dict[str, Any] = obj.to_dict(mode="json")  # both SDKs' response models have it
    return body


def translate_sdk_error(
    sdk: Any, base_error: type[Any], provider: str, exc: Exception, detail: Callable[[Any], str]
) -> BackendError | None:
    """Our error for an exception of the ``anthropic`` or ``openai`` SDK (both name them alike).

    ``detail`` gives the API's own message of a status error."""
    if isinstance(exc, sdk.APITimeoutError):
        return TransientError(f"{provider} API timed out")
    if isinstance(exc, sdk.APIConnectionError):
        return TransientError(f"{provider} API unreachable: {exc.message}")
    if isinstance(exc, sdk.APIStatusError):
        return status_error(provider, exc.status_code, detail(exc), exc.response.headers.get("retry-after"))
    if isinstance(exc, sdk.APIResponseValidationError):
        return PermanentError(f"{provider} API answered a body of the wrong shape: {exc.message}")
    if isinstance(exc, json.JSONDecodeError):
        return PermanentError(f"{provider} API answered a body that is not valid JSON: {exc}")
    if isinstance(exc, base_error):
        return PermanentError(f"{provider} SDK error: {exc}")
    return None


def status_error(provider: str, status: int, detail: str, retry_after: str | None = None) -> BackendError:
    """Our error for an HTTP status from a model API: 408/409/429/5xx transient, the rest permanent."""
    text = f"{provider} API answered {status}: {detail}"
    if status in (408, 409, 429) or status >= 500:
        wait = _seconds(retry_after)
        return RateLimited(text, wait) if wait is not None else TransientError(text)
    return PermanentError(text)
