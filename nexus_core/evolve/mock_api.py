"""A declarative mock web API on loopback: the co-evolution loop's practice services.

The curriculum agent describes a service as data — routes with their answers, answer sequences (a 429 with
Retry-After, then 200), required headers (a bearer token that must have been refreshed), query matches
(page 2 of a listing) — and this trusted server plays it. No model-written code runs outside the sandbox.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: int = Field(200, ge=100, le=599)
    json_body: Any = Field(None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: str = "GET"
    path: str = Field(pattern=r"^/[\w./{}-]*$")
    query: dict[str, str] = Field(default_factory=dict)  # these parameters must be present with these values
    form: dict[str, str] = Field(default_factory=dict)  # the same for an urlencoded or JSON body
    require_header: dict[str, str] = Field(default_factory=dict)  # else 401
    status: int = Field(200, ge=100, le=599)
    json_body: Any = Field(None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    sequence: list[Answer] = Field(default_factory=list)  # answered in turn; the last one repeats

    def matches(self, method: str, path: str, query: dict[str, str], form: dict[str, str]) -> bool:
        return (self.method.upper() == method and self.path == path
                and all(query.get(k) == v for k, v in self.query.items())
                and all(form.get(k) == v for k, v in self.form.items()))


class MockApiSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routes: list[Route] = Field(min_length=1, max_length=40)


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


@dataclass
class MockApi:
    """Serve ``spec`` on 127.0.0.1 (a free port) until stopped; ``seen`` lists what was asked."""

    spec: MockApiSpec
    port: int = 0  # 0: any free port
    seen: list[SeenRequest] = field(default_factory=list)
    _counts: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                form = _form(body, self.headers.get("Content-Type", ""))
                status, payload, headers = api.answer(self.command, parts.path, dict(parse_qsl(parts.query)), form,
                                                      {k.lower(): v for k, v in self.headers.items()})
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815 - http.server's names

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def answer(self, method: str, path: str, query: dict[str, str], form: dict[str, str],
               headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            for index, route in enumerate(self.spec.routes):
                if not route.matches(method, path, query, form):
                    continue
                if any(headers.get(k.lower()) != v for k, v in route.require_header.items()):
                    result: tuple[int, Any, dict[str, str]] = (401, {"error": "unauthorized"}, {})
                elif route.sequence:
                    turn = self._counts.get(index, 0)
                    self._counts[index] = turn + 1
                    step = route.sequence[min(turn, len(route.sequence) - 1)]
                    result = (step.status, step.json_body, step.headers)
                else:
                    result = (route.status, route.json_body, route.headers)
                break
            else:
                result = (404, {"error": f"no route for {method} {path}"}, {})
            self.seen.append(SeenRequest(method, path, query, headers, result[0]))
            return result

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mock-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _form(body: bytes, content_type: str) -> dict[str, str]:
    if not body:
        return {}
    text = body.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
    return dict(parse_qsl(text))
