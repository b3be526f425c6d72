"""Shared test helpers: call a tool the way the agent loop does, and a loopback HTTP stand-in server."""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from nexus_core.tools.base import Tool, ToolContext


def call(tool: Tool, arguments: dict[str, Any], ctx: ToolContext | None = None) -> Any:
    """Validate the arguments, pass ``ctx`` when the tool wants it, and run async tools to completion."""
    kwargs = tool.validate(arguments)
    if tool.wants_context:
        assert ctx is not None, f"{tool.name} needs a ToolContext"
        result = tool.fn(ctx, **kwargs)
    else:
        result = tool.fn(**kwargs)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    json.dumps(result)  # the loop JSON-encodes results: they must be encodable
    return result


def param_descriptions(tool: Tool) -> dict[str, str | None]:
    return {name: spec.get("description") for name, spec in tool.parameters["properties"].items()}


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json; charset=utf-8"
        if isinstance(self.body, str):
            return self.body.encode(), "text/html; charset=utf-8"
        return self.body, "application/octet-stream"


Route = Response | Callable[[str, dict[str, list[str]]], Response]


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class LoopbackServer:
    """A stdlib HTTP server on 127.0.0.1 answering scripted responses by path (a stand-in for a remote API)."""

    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                server.requests.append(Seen(parts.path, query, dict(self.headers)))
                route = server.routes.get(parts.path)
                if route is None:
                    reply = Response(404, "<html><body><h1>Not Found</h1></body></html>")
                else:
                    reply = route(parts.path, query) if callable(route) else route
                if reply.delay:
                    time.sleep(reply.delay)
                body, content_type = reply.payload()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # silence the access log
                pass

        class QuietServer(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
                    super().handle_error(request, client_address)  # a client that hung up is no news

        self._httpd = QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
