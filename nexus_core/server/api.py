"""The HTTP face of the local server, as an ASGI application (uvicorn runs it on the core's asyncio loop).

``GET /v1/models``, ``GET /v1/models/{id}`` and ``POST /v1/chat/completions`` (streamed as server-sent events or
whole), behind a bearer token, with OpenAI's error bodies and status codes. Each request is a task of its own: a
slow client only slows its own stream, and a client that hangs up cancels its answer (and the upstream call).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.events import Emitter
from nexus_core.logs import redact
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.types import Finish, TextDelta, ToolCall, ToolCallDelta
from nexus_core.routing.router import Notice
from nexus_core.server import wire
from nexus_core.server.completions import CompletionBackend, ModelChosen, Tokens
from nexus_core.server.wire import CompletionRequest, WireError

log = logging.getLogger(__name__)
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_IN_FLIGHT = 128

# How a failed model call is told to the client: HTTP status, OpenAI error type, code.
_FAILURES: dict[FailureKind, tuple[int, str, str]] = {
    FailureKind.NOT_CONFIGURED: (503, "server_error", "model_not_configured"),
    FailureKind.MODEL_FOLDER: (503, "server_error", "model_unavailable"),
    FailureKind.RATE_LIMIT: (429, "rate_limit_error", "rate_limit_exceeded"),
    FailureKind.NOT_FOUND: (404, "invalid_request_error", "model_not_found"),
    FailureKind.BAD_REQUEST: (400, "invalid_request_error", "upstream_rejected_request"),
    FailureKind.TIMEOUT: (504, "server_error", "upstream_timeout"),
    FailureKind.INTERNAL: (500, "server_error", "internal_error"),
}


@dataclass(frozen=True)
class RequestLogEntry:
    """One served request, for the GUI's request list."""

    at: float
    client: str
    method: str
    path: str
    status: int
    model: str | None
    stream: bool
    duration_ms: float
    note: str = ""  # the error, or "client disconnected"


class Api:
    def __init__(self, backend: CompletionBackend, *, token: Callable[[], str | None],
                 cors_origins: Callable[[], list[str]] = list, max_body_bytes: int = MAX_BODY_BYTES,
                 max_in_flight: int = MAX_IN_FLIGHT, attachments_dir: Path | None = None) -> None:
        self.backend = backend
        self.attachments_dir = attachments_dir  # pictures and sound sent inline are written here
        self.token = token
        self.cors_origins = cors_origins
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.served = 0
        self.recent: deque[RequestLogEntry] = deque(maxlen=200)
        self.requests: Emitter[RequestLogEntry] = Emitter("server.requests")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        exchange = _Exchange(scope, receive, send, self._cors_headers(scope))
        started = time.perf_counter()
        self.in_flight += 1
        try:
            await self._handle(exchange)
        except ClientGoneError:
            exchange.note = "client disconnected"
        except asyncio.CancelledError:  # the server is stopping and its grace period is over
            exchange.note = "stopped with the server"
        except WireError as exc:
            await exchange.fail(exc)
        except Exception as exc:  # a bug must cost one request, not the server
            log.exception("local server: %s %s failed", exchange.method, exchange.path)
            await exchange.fail(WireError(500, f"Internal error: {type(exc).__name__}. Details are in Nexus "
                                               "Studio's log file.", kind="server_error", code="internal_error"))
        finally:
            self.in_flight -= 1
            self.served += 1
            entry = RequestLogEntry(time.time(), exchange.client, exchange.method, exchange.path, exchange.status,
                                    exchange.model, exchange.stream, (time.perf_counter() - started) * 1000,
                                    exchange.note)
            self.recent.append(entry)
            self.requests.emit(entry)

    async def _handle(self, ex: _Exchange) -> None:
        if ex.method == "OPTIONS":
            if not ex.cors:
                raise WireError(403, "Cross-origin requests are off. Allow this origin in the local server's "
                                     "settings (CORS origins) first.", code="cors_disabled")
            await ex.respond(204, b"", extra=[(b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                                              (b"access-control-allow-headers",
                                               b"authorization, content-type, x-nexus-client"),
                                              (b"access-control-max-age", b"600")])
            return
        token = self.token()
        given = ex.headers.get("authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            what = "No API key was given" if not given else "The API key is not this server's token"
            raise WireError(401, f"{what}. Send 'Authorization: Bearer <token>' with the token Nexus Studio shows "
                                 "for its local server (nexus serve prints it too).", code="invalid_api_key")
        if ex.path in ("/v1/models", "/models") and ex.method == "GET":
            await ex.respond_json(200, {"object": "list", "data": self.backend.models()})
        elif ex.path.startswith(("/v1/models/", "/models/")) and ex.method == "GET":
            wanted = ex.path.split("/models/", 1)[1]
            found = next((m for m in self.backend.models() if m["id"] == wanted), None)
            if found is None:
                raise WireError(404, f"The model {wanted!r} does not exist here. GET /v1/models lists the models "
                                     "this server offers.", param="model", code="model_not_found")
            await ex.respond_json(200, found)
        elif ex.path in ("/v1/chat/completions", "/chat/completions"):
            if ex.method != "POST":
                raise WireError(405, f"{ex.path} takes POST, not {ex.method}.", code="method_not_allowed",
                                headers={"allow": "POST"})
            if self.in_flight > self.max_in_flight:
                raise WireError(429, f"The server is answering {self.max_in_flight} requests already; retry in a "
                                     "moment.", kind="rate_limit_error", code="rate_limit_exceeded",
                                headers={"retry-after": "1"})
            await self._chat(ex)
        else:
            raise WireError(404, f"Unknown request URL: {ex.method} {ex.path}. This server offers GET /v1/models "
                                 "and POST /v1/chat/completions.", code="unknown_url")

    async def _chat(self, ex: _Exchange) -> None:
        request = wire.parse_completion(wire.parse_json(await ex.body(self.max_body_bytes)), self.attachments_dir)
        ex.model, ex.stream = request.model, request.stream
        self.backend.check_model(request.model)
        ex.client = ex.headers.get("x-nexus-client") or request.user or ex.client
        answer = asyncio.ensure_future(self._answer(ex, request))
        gone = asyncio.ensure_future(ex.disconnected())
        try:
            await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not answer.done():  # the client hung up: stop the answer and its upstream call
                ex.note = "client disconnected"
                answer.cancel()
                await asyncio.gather(answer, return_exceptions=True)
        if answer.done() and not answer.cancelled():
            answer.result()  # its WireError, if any, becomes the response

    async def _answer(self, ex: _Exchange, request: CompletionRequest) -> None:
        completion_id, created = wire.new_completion_id(), int(time.time())
        model, text, finish = request.model, "", None
        calls: dict[int, ToolCall] = {}
        usage = wire.usage_body(None, None)
        started = False  # the stream's headers are sent with the first part of the answer, so a failure before it
        # gets a real status code
        try:
            async for event in self.backend.answer(request, ex.client):
                if isinstance(event, ModelChosen):
                    model = event.model_ref
                elif isinstance(event, Notice):
                    log.info("local server, %s: %s", ex.client, event.text)
                    if started:
                        await ex.write(f": {event.text}\n\n".encode())
                elif isinstance(event, Tokens):
                    usage = wire.usage_body(event.input_tokens, event.output_tokens)
                elif isinstance(event, Finish):
                    finish = event.reason
                elif not request.stream:
                    if isinstance(event, TextDelta):
                        text += event.text
                    elif isinstance(event, ToolCallDelta):
                        _add_call(calls, event)
                else:
                    if not started:
                        started = True
                        await ex.start_stream(model)
                        await ex.write(wire.chunk(completion_id, created, model, {"role": "assistant", "content": ""}))
                    if isinstance(event, TextDelta):
                        await ex.write(wire.chunk(completion_id, created, model, {"content": event.text}))
                    elif isinstance(event, ToolCallDelta):
                        await ex.write(wire.chunk(completion_id, created, model, {"tool_calls": [_call_delta(event)]}))
        except ProviderError as exc:
            failure = _failure(exc)
            if not started:
                raise failure from None
            ex.note = failure.message
            await ex.write(wire.sse(failure.body()))  # the OpenAI SDK raises it as an APIError
            await ex.end()
            return
        ex.model = model
        if not request.stream:
            await ex.respond_json(200, wire.completion_body(completion_id, created, model, text, list(calls.values()),
                                                            finish, usage), extra=[(b"x-nexus-model", model.encode())])
            return
        if not started:
            await ex.start_stream(model)
            await ex.write(wire.chunk(completion_id, created, model, {"role": "assistant", "content": ""}))
        await ex.write(wire.chunk(completion_id, created, model, {}, finish or "stop"))
        if request.include_usage:
            await ex.write(wire.chunk(completion_id, created, model, None, usage=usage))
        await ex.write(wire.DONE)
        await ex.end()

    def _cors_headers(self, scope: dict[str, Any]) -> list[tuple[bytes, bytes]]:
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        allowed = self.cors_origins()
        if origin is None or not (origin in allowed or "*" in allowed):
            return []
        return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]


class ClientGoneError(Exception):
    """The client hung up before its request was read."""


class _Exchange:
    """One request and its response, with what the request log records."""

    def __init__(self, scope: dict[str, Any], receive: Receive, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        self.receive, self.send, self.cors = receive, send, cors
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = (scope.get("client") or ("?", 0))[0]
        agent = self.headers.get("user-agent", "").split(" ")[0][:60]
        self.client = f"{agent} ({host})" if agent else str(host)
        self.status, self.model, self.stream, self.note = 0, None, False, ""
        self._body_done = False

    async def body(self, limit: int) -> bytes:
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        parts, size = [], 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGoneError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            parts.append(chunk)
            if not message.get("more_body"):
                self._body_done = True
                return b"".join(parts)

    async def disconnected(self) -> None:
        """Returns when the client hangs up (the request body must have been read)."""
        while (await self.receive())["type"] != "http.disconnect":
            pass

    async def respond(self, status: int, body: bytes, *, content_type: bytes = b"application/json",
                      extra: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *self.cors,
                   *(extra or [])]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def respond_json(self, status: int, payload: Any, *, extra: list[tuple[bytes, bytes]] | None = None
                           ) -> None:
        await self.respond(status, json.dumps(payload).encode(), extra=extra)

    async def fail(self, error: WireError) -> None:
        if self.status:  # the response had started: nothing more can be said
            return
        self.note = self.note or error.message
        extra = [(k.encode(), v.encode()) for k, v in error.headers.items()]
        try:
            await self.respond_json(error.status, error.body(), extra=extra)
        except OSError:
            pass

    async def start_stream(self, model: str) -> None:
        self.status = 200
        await self.send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"), (b"x-nexus-model", model.encode()), *self.cors]})

    async def write(self, data: bytes) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self) -> None:
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})


def _too_large(limit: int) -> WireError:
    return WireError(413, f"The request body is larger than {limit // (1024 * 1024)} MiB, this server's limit. "
                          "Send a shorter conversation.", code="request_too_large")


def _failure(exc: ProviderError) -> WireError:
    status, kind, code = _FAILURES.get(exc.kind, (502, "server_error", "upstream_error"))
    headers = {"retry-after": f"{max(1, round(exc.retry_after))}"} if exc.retry_after else {}
    return WireError(status, redact(exc.user_message()), kind=kind, code=code, headers=headers)


def _add_call(calls: dict[int, ToolCall], delta: ToolCallDelta) -> None:
    call = calls.setdefault(delta.index, ToolCall(delta.id or f"call_{delta.index}", delta.name or ""))
    if delta.id:
        call.id = delta.id
    if delta.name:
        call.name = delta.name
    call.arguments += delta.arguments


def _call_delta(delta: ToolCallDelta) -> dict[str, Any]:
    out: dict[str, Any] = {"index": delta.index}
    if delta.id:
        out["id"] = delta.id
        out["type"] = "function"
    function: dict[str, str] = {"arguments": delta.arguments}
    if delta.name:
        function["name"] = delta.name
    out["function"] = function
    return out
