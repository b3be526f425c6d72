"""Stand-ins for remote LLM servers: scripted HTTP servers on 127.0.0.1 speaking the real wire protocols.

`ScriptedOpenAIServer` speaks the OpenAI Chat Completions protocol (optionally with Ollama's native
`/api/tags` and `/api/version`), `ScriptedAnthropicServer` the Anthropic Messages protocol, closely enough that
the real `openai` and `anthropic` SDKs accept them. Each runs in a daemon thread and is a context manager:

    with ScriptedOpenAIServer(api_key="sk-test") as srv:
        srv.script(text(["Hel", "lo"]), error(429, retry_after=2))
        client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
        ...
        assert srv.requests[0].body["model"] == "test-model"

Each request to a chat endpoint pops the next scripted `Reply` (built with `text`, `tool_calls`, `error`, `hang`,
`cut` or `malformed`); when the queue is empty the server's `default` reply is used. Besides `requests` (every chat
request, in order, including ones rejected for a wrong key, which use no scripted reply), a server has `pending` (the
scripted replies not used yet) and `errors` (unexpected exceptions raised in its handlers; client hang-ups are not
errors). Only the standard library is used. Non-streamed responses carry a Content-Length; streamed ones use
chunked transfer encoding, one SSE event per HTTP chunk, flushed as it is written.
"""

from __future__ import annotations

import itertools
import json
import select
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

__all__ = [
    "RecordedRequest",
    "Reply",
    "ScriptedAnthropicServer",
    "ScriptedOpenAIServer",
    "cut",
    "error",
    "hang",
    "malformed",
    "text",
    "tool_calls",
]

_CONNECTION_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


# --------------------------------------------------------------------------------------------------------------------
# Scripted replies


@dataclass
class Reply:
    """One scripted behaviour for one request. Build it with the factory functions, not directly.

    kind is one of "text", "tool_calls", "error", "hang", "cut", "malformed".
    """

    kind: str
    chunks: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, dict]] = field(default_factory=list)
    split: int = 3
    text_before: str = ""
    model: str | None = None
    usage: tuple[int, int] | None = (7, 5)
    finish: str = "stop"
    delay: float = 0.0
    status: int = 200
    message: str = ""
    retry_after: float | None = None
    err_type: str | None = None
    seconds: float = 0.0
    after: int = 0

    @property
    def full_text(self) -> str:
        return self.text_before + "".join(self.chunks)


def text(chunks: list[str], *, model: str | None = None, usage: tuple[int, int] | None = (7, 5),
         finish: str = "stop", delay: float = 0.0) -> Reply:
    """A plain answer: one SSE chunk per item of `chunks`, `delay` seconds between them when streamed.

    A non-streamed request gets one JSON body with the concatenated text. `model` None echoes the request's model.
    `usage` is (input/prompt tokens, output/completion tokens); None leaves usage out where the protocol allows.
    """
    return Reply("text", chunks=list(chunks), model=model, usage=usage, finish=finish, delay=delay)


def tool_calls(calls: list[tuple[str, str, dict]], *, split: int = 3, text_before: str = "",
               usage: tuple[int, int] | None = (11, 9), model: str | None = None) -> Reply:
    """Tool calls `[(call_id, tool_name, arguments)]`, each call's arguments JSON split into `split` chunks.

    `text_before` is streamed as text ahead of the calls (omitted when empty).
    """
    return Reply("tool_calls", calls=[(cid, name, dict(args)) for cid, name, args in calls], split=max(1, split),
                 text_before=text_before, usage=usage, model=model, finish="tool_calls")


def error(status: int, message: str = "scripted error", *, retry_after: float | None = None,
          err_type: str | None = None) -> Reply:
    """An HTTP error in the provider's error JSON shape; `retry_after` → a `Retry-After` header (seconds).

    `err_type` overrides the error type the status would choose.
    """
    return Reply("error", status=status, message=message, retry_after=retry_after, err_type=err_type)


def hang(seconds: float = 30.0) -> Reply:
    """Accept the request and send nothing until `seconds` pass or the server stops, then close the connection."""
    return Reply("hang", seconds=seconds)


def cut(chunks: list[str], after: int) -> Reply:
    """Start a streamed answer, send `after` content chunks, then close the socket mid-body.

    No terminating zero-length chunk and no `[DONE]`/`message_stop`, so the client sees an incomplete body. A
    non-streamed request gets a Content-Length larger than what is sent before the close.
    """
    return Reply("cut", chunks=list(chunks), after=after)


def malformed(chunks: list[str], after: int) -> Reply:
    """Stream `after` good chunks, then a line `data: {this is not json`, then end the stream normally.

    A non-streamed request gets a 200 response whose body is not JSON.
    """
    return Reply("malformed", chunks=list(chunks), after=after)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict  # parsed JSON body ({} when there was none or it was not a JSON object)

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


def _split_text(value: str, parts: int) -> list[str]:
    """`value` cut into at most `parts` consecutive non-empty pieces (one piece, possibly empty, if it is empty)."""
    if not value:
        return [value]
    size = -(-len(value) // max(1, parts))
    return [value[i:i + size] for i in range(0, len(value), size)]


# --------------------------------------------------------------------------------------------------------------------
# HTTP plumbing


class _Abort(Exception):  # noqa: N818 - internal control flow: drop the connection without answering further
    pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait on handler threads at close; stop() unblocks them instead
    allow_reuse_address = True
    request_queue_size = 256  # socketserver's default of 5 refuses connections when dozens of clients start at once

    def __init__(self, owner: _ScriptedServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (*_CONNECTION_ERRORS, _Abort)) or self.owner.stopping.is_set():
            return
        self.owner.errors.append(exc)  # recorded for tests to inspect, never printed


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no 40 ms delayed-ACK stalls between small writes
    server: _HTTPServer

    # Quiet: no access log lines, no tracebacks for clients that hang up.
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (*_CONNECTION_ERRORS, _Abort):
            self.close_connection = True
        except OSError:
            self.close_connection = True
            if not self.server.owner.stopping.is_set():
                raise

    def do_GET(self) -> None:
        self.server.owner._dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._dispatch(self, "POST")

    def do_PUT(self) -> None:
        self.server.owner._dispatch(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.owner._dispatch(self, "DELETE")

    # -- reading ------------------------------------------------------------------------------------------------

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    raise _Abort
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- writing ------------------------------------------------------------------------------------------------

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None,
                   *, declared_length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if declared_length is None else declared_length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def start_stream(self, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()

    def send_chunk(self, data: bytes) -> None:
        if not data:
            return  # a zero-length chunk would end the body
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop_connection(self) -> None:
        """Close the socket at once: the client sees EOF wherever the response had got to."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Abort


# --------------------------------------------------------------------------------------------------------------------
# Servers


class _ScriptedServer:
    """Shared machinery: the thread, the reply queue, the request log, auth and the behaviours of a reply."""

    chat_paths: ClassVar[tuple[str, ...]] = ()
    base_path: ClassVar[str] = ""

    def __init__(self, *, api_key: str | None = None, models: list[str] | tuple[str, ...] = ("test-model",),
                 default: Reply | None = None) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.default = default if default is not None else text(["Hello", " world"])
        # Answers by what was asked (request body → Reply, or None for the queue): for concurrent callers, whose
        # order is not fixed, such as a workflow's parallel agent steps.
        self.responder: Callable[[dict], Reply | None] | None = None
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []  # unexpected exceptions raised in handlers
        self.stopping = threading.Event()
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self.stopping.clear()
        self._httpd = _HTTPServer(self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.stopping.set()  # wakes hang replies and delays
        httpd.shutdown()
        with httpd.connections_lock:
            connections = list(httpd.connections)
        for conn in connections:  # unblock handlers waiting on idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError(f"{type(self).__name__} is not running; use it as a context manager")
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    # -- scripting ----------------------------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies: each chat request pops the next; when none is left the `default` reply is used."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}{uuid.uuid4().hex[:12]}"

    # -- dispatch -----------------------------------------------------------------------------------------------

    def _dispatch(self, handler: _Handler, method: str) -> None:
        path = handler.path.split("?", 1)[0]
        raw = handler.read_body()  # always consumed, so a keep-alive connection stays in step
        if path in self.chat_paths and method == "POST":
            body = self._parse(raw)
            with self._lock:
                self.requests.append(RecordedRequest(path=path, headers={k.lower(): v for k, v in
                                                                         handler.headers.items()}, body=body))
            if not self._authorized(handler):
                self._reject_unauthorized(handler)
                return
            answer = self.responder(body) if self.responder is not None else None
            self._serve_chat(handler, body, answer if answer is not None else self._next_reply())
            return
        self._route(handler, method, path)

    @staticmethod
    def _parse(raw: bytes) -> dict:
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def _serve_chat(self, handler: _Handler, body: dict, reply: Reply) -> None:
        stream = bool(body.get("stream"))
        if reply.kind == "error":
            self._send_error(handler, reply.status, reply.message, reply.err_type, reply.retry_after)
        elif reply.kind == "hang":
            self._hang(handler, reply.seconds)
            handler.drop_connection()
        elif not stream:
            self._serve_plain(handler, body, reply)
        else:
            handler.start_stream(self._response_headers())
            self._serve_stream(handler, body, reply)

    def _serve_plain(self, handler: _Handler, body: dict, reply: Reply) -> None:
        if reply.kind == "malformed":
            handler.send_bytes(200, b"{this is not json", "application/json", self._response_headers())
            return
        payload = json.dumps(self._completion(body, reply)).encode()
        if reply.kind == "cut":
            handler.send_bytes(200, payload[: len(payload) // 2], "application/json", self._response_headers(),
                               declared_length=len(payload))
            handler.drop_connection()
        handler.send_bytes(200, payload, "application/json", self._response_headers())

    def _hang(self, handler: _Handler, seconds: float) -> None:
        """Wait `seconds`, returning early when the server stops or the client hangs up."""
        deadline = time.monotonic() + seconds
        conn = handler.connection
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select([conn], [], [], min(left, 0.05))
            if readable:
                try:
                    if conn.recv(1, socket.MSG_PEEK) == b"":
                        return  # the client gave up (e.g. its read timeout)
                except OSError:
                    return
                self.stopping.wait(min(max(left, 0), 0.05))  # pipelined bytes: keep waiting without spinning

    def _pause(self, seconds: float) -> None:
        if seconds > 0 and self.stopping.wait(seconds):
            raise _Abort

    def _model(self, body: dict, reply: Reply) -> str:
        if reply.model:
            return reply.model
        model = body.get("model")
        return model if isinstance(model, str) and model else (self.models[0] if self.models else "test-model")

    def _tokens(self, reply: Reply) -> tuple[int, int]:
        if reply.usage is not None:
            return reply.usage
        return 0, len(reply.chunks) + len(reply.calls)

    # -- provider specifics -------------------------------------------------------------------------------------

    def _authorized(self, handler: _Handler) -> bool:
        raise NotImplementedError

    def _reject_unauthorized(self, handler: _Handler) -> None:
        raise NotImplementedError

    def _send_error(self, handler: _Handler, status: int, message: str, err_type: str | None,
                    retry_after: float | None) -> None:
        raise NotImplementedError

    def _response_headers(self) -> dict[str, str]:
        return {}

    def _route(self, handler: _Handler, method: str, path: str) -> None:
        raise NotImplementedError

    def _completion(self, body: dict, reply: Reply) -> dict:
        raise NotImplementedError

    def _serve_stream(self, handler: _Handler, body: dict, reply: Reply) -> None:
        raise NotImplementedError

    def _retry_headers(self, retry_after: float | None) -> dict[str, str]:
        headers = self._response_headers()
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        return headers


_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    409: ("conflict_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


class ScriptedOpenAIServer(_ScriptedServer):
    """OpenAI Chat Completions: `POST /v1/chat/completions`, `GET /v1/models` (+ Ollama's `/api/*` if `ollama`)."""

    chat_paths = ("/v1/chat/completions",)
    base_path = "/v1"

    def __init__(self, *, api_key: str | None = None, models: list[str] | tuple[str, ...] = ("test-model",),
                 default: Reply | None = None, ollama: bool = False) -> None:
        super().__init__(api_key=api_key, models=models, default=default)
        self.ollama = ollama

    def _authorized(self, handler: _Handler) -> bool:
        return self.api_key is None or handler.headers.get("Authorization", "") == f"Bearer {self.api_key}"

    def _reject_unauthorized(self, handler: _Handler) -> None:
        self._send_error(handler, 401, "Incorrect API key provided.", None, None)

    def _response_headers(self) -> dict[str, str]:
        return {"x-request-id": self._new_id("req_")}

    def _send_error(self, handler: _Handler, status: int, message: str, err_type: str | None,
                    retry_after: float | None) -> None:
        default_type, code = _OPENAI_ERROR_TYPES.get(status, ("server_error" if status >= 500 else
                                                               "invalid_request_error", None))
        payload = {"error": {"message": message, "type": err_type or default_type, "param": None, "code": code}}
        handler.send_json(status, payload, self._retry_headers(retry_after))

    def _route(self, handler: _Handler, method: str, path: str) -> None:
        if method == "GET" and path == "/v1/models":
            if not self._authorized(handler):
                self._reject_unauthorized(handler)
                return
            data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "scripted"} for m in self.models]
            handler.send_json(200, {"object": "list", "data": data}, self._response_headers())
        elif self.ollama and method == "GET" and path == "/api/tags":
            models = [{"name": m, "model": m, "modified_at": "2025-01-01T00:00:00Z", "size": 123,
                       "digest": f"{abs(hash(m)):064x}"[:64],
                       "details": {"format": "gguf", "family": "llama", "families": ["llama"],
                                   "parameter_size": "8B", "quantization_level": "Q4_K_M"}} for m in self.models]
            handler.send_json(200, {"models": models})
        elif self.ollama and method == "GET" and path == "/api/version":
            handler.send_json(200, {"version": "0.6.0"})
        elif self.ollama and method == "GET" and path == "/":
            handler.send_bytes(200, b"Ollama is running", "text/plain; charset=utf-8")
        else:
            handler.send_json(404, {"error": {"message": f"Unknown request URL: {method} {path}",
                                              "type": "invalid_request_error", "param": None,
                                              "code": "unknown_url"}})

    # -- chat ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _usage(reply: Reply, tokens: tuple[int, int]) -> dict:
        return {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": tokens[0] + tokens[1]}

    def _completion(self, body: dict, reply: Reply) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if reply.kind == "tool_calls":
            message["content"] = reply.text_before or None
            message["tool_calls"] = [{"id": cid, "type": "function",
                                      "function": {"name": name, "arguments": json.dumps(args)}}
                                     for cid, name, args in reply.calls]
        else:
            message["content"] = "".join(reply.chunks)
        return {
            "id": self._new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self._model(body, reply),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish}],
            "usage": None if reply.usage is None else self._usage(reply, reply.usage),
            "system_fingerprint": None,
        }

    def _serve_stream(self, handler: _Handler, body: dict, reply: Reply) -> None:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        base = {"id": self._new_id("chatcmpl-"), "object": "chat.completion.chunk", "created": int(time.time()),
                "model": self._model(body, reply), "system_fingerprint": None}

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            payload = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                payload["usage"] = None
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        send = handler.send_chunk
        if reply.kind == "tool_calls":
            send(chunk({"role": "assistant", "content": "" if reply.text_before else None, "refusal": None}))
            if reply.text_before:
                send(chunk({"content": reply.text_before}))
            for index, (cid, name, args) in enumerate(reply.calls):
                send(chunk({"tool_calls": [{"index": index, "id": cid, "type": "function",
                                            "function": {"name": name, "arguments": ""}}]}))
                for piece in _split_text(json.dumps(args), reply.split):
                    send(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        else:
            send(chunk({"role": "assistant", "content": "", "refusal": None}))
            limit = reply.after if reply.kind in ("cut", "malformed") else len(reply.chunks)
            for i, piece in enumerate(reply.chunks[:limit]):
                if i:
                    self._pause(reply.delay)
                send(chunk({"content": piece}))
            if reply.kind == "cut":
                handler.drop_connection()
            if reply.kind == "malformed":
                send(b"data: {this is not json\n\n")
        send(chunk({}, reply.finish))
        if include_usage:
            tokens = self._tokens(reply)
            send(b"data: " + json.dumps({**base, "choices": [], "usage": self._usage(reply, tokens)}).encode()
                 + b"\n\n")
        send(b"data: [DONE]\n\n")
        handler.end_stream()


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


class ScriptedAnthropicServer(_ScriptedServer):
    """Anthropic Messages: `POST /v1/messages`, `GET /v1/models`. `base_url` has no `/v1` (the SDK adds it)."""

    chat_paths = ("/v1/messages",)
    base_path = ""

    def _authorized(self, handler: _Handler) -> bool:
        # The Messages API takes the key as `x-api-key`; anthropic SDK 2.x sends `Authorization: Bearer KEY` instead.
        if self.api_key is None:
            return True
        return (handler.headers.get("x-api-key", "") == self.api_key
                or handler.headers.get("Authorization", "") == f"Bearer {self.api_key}")

    def _reject_unauthorized(self, handler: _Handler) -> None:
        self._send_error(handler, 401, "invalid x-api-key", None, None)

    def _response_headers(self) -> dict[str, str]:
        return {"request-id": self._new_id("req_")}

    def _error_payload(self, status: int, message: str, err_type: str | None) -> dict:
        default = _ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": err_type or default, "message": message}}

    def _send_error(self, handler: _Handler, status: int, message: str, err_type: str | None,
                    retry_after: float | None) -> None:
        handler.send_json(status, self._error_payload(status, message, err_type), self._retry_headers(retry_after))

    def _route(self, handler: _Handler, method: str, path: str) -> None:
        if method == "GET" and path == "/v1/models":
            if not self._authorized(handler):
                self._reject_unauthorized(handler)
                return
            data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                    for m in self.models]
            handler.send_json(200, {"data": data, "has_more": False,
                                    "first_id": data[0]["id"] if data else None,
                                    "last_id": data[-1]["id"] if data else None}, self._response_headers())
        else:
            handler.send_json(404, self._error_payload(404, f"Not found: {method} {path}", None),
                              self._response_headers())

    # -- chat ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _stop_reason(reply: Reply) -> str:
        return _ANTHROPIC_STOP.get(reply.finish, reply.finish)

    def _completion(self, body: dict, reply: Reply) -> dict:
        content: list[dict] = []
        if reply.kind == "tool_calls":
            if reply.text_before:
                content.append({"type": "text", "text": reply.text_before})
            content += [{"type": "tool_use", "id": cid, "name": name, "input": args} for cid, name, args in reply.calls]
        else:
            content.append({"type": "text", "text": "".join(reply.chunks)})
        tokens = self._tokens(reply)
        return {"id": self._new_id("msg_"), "type": "message", "role": "assistant", "model": self._model(body, reply),
                "content": content, "stop_reason": self._stop_reason(reply), "stop_sequence": None,
                "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]}}

    def _serve_stream(self, handler: _Handler, body: dict, reply: Reply) -> None:
        def event(name: str, payload: dict) -> None:
            handler.send_chunk(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())

        tokens = self._tokens(reply)
        message = {"id": self._new_id("msg_"), "type": "message", "role": "assistant",
                   "model": self._model(body, reply), "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": tokens[0], "output_tokens": 1}}
        event("message_start", {"type": "message_start", "message": message})
        index = 0
        if reply.kind == "tool_calls":
            if reply.text_before:
                event("content_block_start", {"type": "content_block_start", "index": 0,
                                              "content_block": {"type": "text", "text": ""}})
                event("ping", {"type": "ping"})
                event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": reply.text_before}})
                event("content_block_stop", {"type": "content_block_stop", "index": 0})
                index = 1
            for offset, (cid, name, args) in enumerate(reply.calls):
                block = index + offset
                event("content_block_start", {"type": "content_block_start", "index": block,
                                              "content_block": {"type": "tool_use", "id": cid, "name": name,
                                                                "input": {}}})
                if block == 0:
                    event("ping", {"type": "ping"})
                for piece in _split_text(json.dumps(args), reply.split):
                    event("content_block_delta", {"type": "content_block_delta", "index": block,
                                                  "delta": {"type": "input_json_delta", "partial_json": piece}})
                event("content_block_stop", {"type": "content_block_stop", "index": block})
        else:
            event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}})
            event("ping", {"type": "ping"})
            limit = reply.after if reply.kind in ("cut", "malformed") else len(reply.chunks)
            for i, piece in enumerate(reply.chunks[:limit]):
                if i:
                    self._pause(reply.delay)
                event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": piece}})
            if reply.kind == "cut":
                handler.drop_connection()
            if reply.kind == "malformed":
                handler.send_chunk(b"event: content_block_delta\ndata: {this is not json\n\n")
            event("content_block_stop", {"type": "content_block_stop", "index": 0})
        event("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": self._stop_reason(reply), "stop_sequence": None},
                                "usage": {"output_tokens": tokens[1]}})
        event("message_stop", {"type": "message_stop"})
        handler.end_stream()
