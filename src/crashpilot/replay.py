"""A loopback model server that replays a scripted conversation in both wire formats.

:class:`ReplayServer` listens on 127.0.0.1 (a free port) and answers Anthropic ``POST
/v1/messages`` and OpenAI ``POST /v1/chat/completions`` (non-streaming JSON) from one script: each
request takes the next step, a :class:`Turn` (the assistant's text and/or tool calls) or a
:class:`Failure` (an HTTP error, a stall longer than the client's timeout, a garbage body). It
keeps every request it received in ``requests`` so a caller can check what was sent, and checks on
its own that after a turn with tool calls the next request carries a result for each of them.

The demo uses it to replay a recorded conversation with no API key; tests use it to run the real
SDKs. Transcripts are provider-neutral JSON: ``{"turns": [{"text": ..., "tool_calls": [{"name":
..., "arguments": {...}}]}, {"fail": {"status": 529}}]}``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from crashpilot.backends.models import anthropic_wire, openai_wire
from crashpilot.backends.models.types import Exchange, Message, ToolCall, ToolSpec
from crashpilot.errors import ConfigError

log = logging.getLogger(__name__)

ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"
GARBAGE = b'{"id": "msg_garbage", "content": [ this is not json'
JSON = "application/json"

# status, body, content type, extra headers
Answer = tuple[int, bytes, str, dict[str, str]]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server saw it, with a neutral reading of its conversation."""

    path: str
    headers: dict[str, str]  # names lower-cased
    raw: str
    body: dict[str, Any] | None
    provider: str | None

    @property
    def api_key(self) -> str | None:
        """The credential the client sent (``x-api-key`` or an ``Authorization: Bearer`` token)."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def conversation(self) -> tuple[str, list[Message], list[ToolSpec]]:
        """System prompt, messages and tools, read back from whichever wire format was used."""
        body = self.body or {}
        if self.provider == "anthropic":
            system = body.get("system") or ""
            if isinstance(system, list):
                system = "\n".join(b.get("text", "") for b in system)
            messages = anthropic_wire.messages_from_wire(body.get("messages") or [])
            return system, messages, anthropic_wire.tools_from_wire(body.get("tools") or [])
        system, messages = openai_wire.messages_from_wire(body.get("messages") or [])
        return system, messages, openai_wire.tools_from_wire(body.get("tools") or [])


Check = Callable[[ReceivedRequest], str | None]


@dataclass(frozen=True)
class Turn:
    """The assistant's answer to one request. ``check`` returns a complaint about the request, or None."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    check: Check | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Failure:
    """One request answered badly: ``status`` with an error body, after ``delay`` seconds; or, with
    ``garbage``, a 200 whose body is not JSON."""

    status: int = 500
    delay: float = 0.0
    garbage: bool = False
    message: str = "injected failure"
    # what a garbage body claims to be (a proxy's error page says text/html)
    content_type: str = "application/json"
    # sent as a Retry-After header (seconds) when set
    retry_after: float | None = None


Step = Turn | Failure


def _turn_from_json(item: dict[str, Any], index: int) -> Step:
    if "fail" in item:
        fail = item["fail"] or {}
        return Failure(
            status=int(fail.get("status", 500)),
            delay=float(fail.get("delay", 0.0)),
            garbage=bool(fail.get("garbage", False)),
            message=str(fail.get("message", "injected failure")),
            content_type=str(fail.get("content_type", "application/json")),
            retry_after=fail.get("retry_after"),
        )
    calls = tuple(
        ToolCall(id=str(c.get("id") or ""), name=str(c["name"]), arguments=dict(c.get("arguments") or {}))
        for c in item.get("tool_calls") or []
    )
    usage = item.get("usage") or {}
    return Turn(
        text=str(item.get("text") or ""),
        tool_calls=calls,
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
    )


def load_transcript(path: Path) -> list[Step]:
    """The steps of a transcript file (a list of turns, or an object with ``turns``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read transcript {path}: {exc}") from exc
    items = data.get("turns") if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"transcript {path}: expected a list of turns")
    try:
        return [_turn_from_json(item, i) for i, item in enumerate(items)]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"transcript {path}: bad turn: {exc}") from exc


def transcript_from_exchanges(exchanges: Iterable[Exchange]) -> dict[str, Any]:
    """A provider-neutral transcript of the successful replies in recorded exchanges."""
    turns: list[dict[str, Any]] = []
    for exchange in exchanges:
        if exchange.response is None:
            continue
        wire = anthropic_wire if exchange.provider == "anthropic" else openai_wire
        reply = wire.reply_from_wire(exchange.response)
        turn: dict[str, Any] = {"text": reply.text}
        if reply.tool_calls:
            turn["tool_calls"] = [{"name": c.name, "arguments": c.arguments} for c in reply.tool_calls]
        turns.append(turn)
    return {"turns": turns}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    replay: ReplayServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        log.debug("replay: " + format, *args)

    def do_POST(self) -> None:  # noqa: N802 - stdlib's name
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        provider = {ANTHROPIC_PATH: "anthropic", OPENAI_PATH: "openai"}.get(path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = ReceivedRequest(path, headers, raw, body if isinstance(body, dict) else None, provider)
        status, payload, content_type, extra = self.server.replay._answer(request)
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up waiting (an injected stall)
            self.close_connection = True


class ReplayServer:
    """Serves ``script`` on 127.0.0.1; use as a context manager (or ``start`` / ``stop``)."""

    def __init__(
        self,
        script: Sequence[Step],
        *,
        check_tool_results: bool = True,
        require_key: bool = True,
        choose: Callable[[ReceivedRequest], Step | None] | None = None,
    ):
        """``choose``, when given, picks the step for each request (None: no more turns) instead
        of serving ``script`` in arrival order: for many conversations served at once."""
        self._script = list(script)
        self._choose = choose
        self._next = 0
        self._awaiting: tuple[str, ...] = ()
        self._turns_served = 0
        self.check_tool_results = check_tool_results
        self.require_key = require_key
        self.requests: list[ReceivedRequest] = []
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ReplayServer:
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.replay = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="replay-server", daemon=True
        )
        self._thread.start()
        log.info("replay server on %s (%d steps)", self.url, len(self._script))
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the replay server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def remaining(self) -> int:
        """Steps not served yet."""
        with self._lock:
            return len(self._script) - self._next

    # -- answering ---------------------------------------------------------------------------

    def _error(self, provider: str | None, status: int, message: str) -> Answer:
        wire = anthropic_wire if provider == "anthropic" else openai_wire
        return status, json.dumps(wire.error_to_wire(status, message)).encode(), JSON, {}

    def _answer(self, request: ReceivedRequest) -> Answer:
        with self._lock:
            self.requests.append(request)
            if request.provider is None:
                return self._error(None, 404, f"no such endpoint: {request.path}")
            if request.body is None or "model" not in request.body or "messages" not in request.body:
                return self._error(request.provider, 400, "the body must be JSON with model and messages")
            if self.require_key and not request.api_key:
                return self._error(request.provider, 401, "no API key was sent")
            if self._choose is not None:
                chosen = self._choose(request)
                if chosen is None:
                    return self._error(request.provider, 400, "replay: the conversation has no more turns")
                step = chosen
            elif self._next >= len(self._script):
                return self._error(request.provider, 400, "replay: the transcript has no more turns")
            else:
                step = self._script[self._next]
                self._next += 1
            if isinstance(step, Turn):
                complaint = self._complaint(step, request)
                if complaint is not None:
                    self.problems.append(complaint)
                    return self._error(request.provider, 400, f"replay check failed: {complaint}")
                return 200, self._reply(step, request), JSON, {}
        # a failure: sleep outside the lock so other requests are not held up
        if step.delay:
            self._stopping.wait(step.delay)
        if step.garbage:
            return 200, GARBAGE, step.content_type, {}
        status, payload, content_type, headers = self._error(request.provider, step.status, step.message)
        if step.retry_after is not None:
            headers["retry-after"] = f"{step.retry_after:g}"
        return status, payload, content_type, headers

    def _complaint(self, step: Turn, request: ReceivedRequest) -> str | None:
        if self.check_tool_results and self._awaiting:
            _, messages, _ = request.conversation()
            last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=None)
            # A request without any assistant turn starts a new conversation (the agent's FIX after
            # ANALYSE): nothing of the previous one is owed.
            if last is not None:
                answered = {r.call_id for m in messages[last + 1 :] for r in m.tool_results}
                missing = [call_id for call_id in self._awaiting if call_id not in answered]
                if missing:
                    return f"no tool result for call(s) {', '.join(missing)}"
        if step.check is not None:
            return step.check(request)
        return None

    def _reply(self, step: Turn, request: ReceivedRequest) -> bytes:
        assert request.body is not None and request.provider is not None
        self._turns_served += 1
        n = self._turns_served
        prefix = "toolu_replay" if request.provider == "anthropic" else "call_replay"
        calls = tuple(
            ToolCall(c.id or f"{prefix}_{n:03d}_{i}", c.name, c.arguments)
            for i, c in enumerate(step.tool_calls)
        )
        self._awaiting = tuple(c.id for c in calls)
        out_size = len(step.text) + sum(len(json.dumps(c.arguments)) + len(c.name) for c in calls)
        input_tokens = step.input_tokens if step.input_tokens is not None else max(1, len(request.raw) // 4)
        output_tokens = step.output_tokens if step.output_tokens is not None else max(1, out_size // 4)
        model = str(request.body["model"])
        if request.provider == "anthropic":
            body = anthropic_wire.reply_to_wire(
                f"msg_replay_{n:03d}", model, step.text, calls, input_tokens, output_tokens
            )
        else:
            body = openai_wire.reply_to_wire(
                f"chatcmpl-replay-{n:03d}",
                model,
                step.text,
                calls,
                input_tokens,
                output_tokens,
                int(time.time()),
            )
        return json.dumps(body).encode()


def by_conversation(
    analysis: Step, fix: Sequence[Step], *, repeat_last: bool = False
) -> Callable[[ReceivedRequest], Step | None]:
    """A ``choose`` for :class:`ReplayServer` that answers by where a conversation stands.

    A request offering the ``report_analysis`` tool is ANALYSE and gets ``analysis``; any other is
    a FIX conversation with n assistant turns so far and gets ``fix[n]`` (past the end: the last
    step again with ``repeat_last``, else none). So many runs, or a run that restarts, can be
    served at once in any order.
    """

    def choose(request: ReceivedRequest) -> Step | None:
        _, messages, tools = request.conversation()
        if any(t.name == "report_analysis" for t in tools):
            return analysis
        n = sum(1 for m in messages if m.role == "assistant")
        if n < len(fix):
            return fix[n]
        return fix[-1] if repeat_last and fix else None

    return choose
