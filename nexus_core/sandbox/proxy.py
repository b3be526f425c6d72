"""The integration mode's way out: an allowlisting HTTP proxy in the parent, listening on a Unix socket.

The sandboxed code sees HTTP(S)_PROXY pointing at a loopback relay inside the sandbox, which forwards to
this socket; here each request's host is checked against the module's declared hosts, and every request
is recorded (host, method, status, bytes, duration; never headers, paths or bodies, which may carry
credentials). HTTPS goes through CONNECT, so its status is the tunnel's (200), not the inner response's.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MAX_HEAD = 64 * 1024
MAX_LOG = 1000
CONNECT_TIMEOUT_S = 10.0


def parse_host(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port`` or ``[v6]:port`` → (lower-case host, port or None)."""
    text = text.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, None


class HostAllowlist:
    """The hosts a module declared; an entry without a port allows 80 and 443, ``*.example.com`` subdomains."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = [parse_host(e) for e in entries if e.strip()]

    def allows(self, host: str, port: int) -> bool:
        host = host.lower()
        for pattern, allowed_port in self.entries:
            if allowed_port is None and port not in (80, 443):
                continue
            if allowed_port is not None and port != allowed_port:
                continue
            if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
                return True
        return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def resolve_checked(host: str, port: int) -> tuple[Any, ...]:
    """Address to connect to; a declared *name* resolving to loopback or link-local is refused (DNS rebinding)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not _is_ip(host):
        for info in infos:
            addr = ipaddress.ip_address(info[4][0])
            if addr.is_loopback or addr.is_link_local or addr.is_unspecified:
                raise PermissionError(f"{host} resolves to {addr}, a local address")
    return infos[0][4]


class AllowlistProxy:
    """CONNECT and absolute-URI forward proxy over a Unix socket; one request per connection."""

    def __init__(self, socket_path: Path, allowed_hosts: Iterable[str]) -> None:
        self.socket_path = socket_path
        self.allowlist = HostAllowlist(allowed_hosts)
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.socket_path))
        server.listen(32)
        self._server = server
        threading.Thread(target=self._serve, name="nexus-sandbox-proxy", daemon=True).start()

    def stop(self) -> list[dict[str, Any]]:
        self._stopping.set()
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
        with self._lock:
            return list(self.log)

    def _serve(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            if len(self.log) < MAX_LOG:
                self.log.append(entry)

    def _handle(self, client: socket.socket) -> None:
        started = time.monotonic()
        entry: dict[str, Any] = {"host": None, "method": None, "status": None, "allowed": False,
                                 "bytes_sent": 0, "bytes_received": 0, "duration_s": 0.0, "error": None}
        try:
            with client:
                self._exchange(client, entry)
        except (OSError, ValueError) as exc:
            entry["error"] = entry["error"] or str(exc)[:200]
        finally:
            if entry["method"] is not None:
                entry["duration_s"] = round(time.monotonic() - started, 4)
                self._record(entry)

    def _exchange(self, client: socket.socket, entry: dict[str, Any]) -> None:
        head, rest = _read_head(client)
        request_line, _, header_block = head.partition(b"\r\n")
        method, target, version = request_line.decode("latin-1").split(" ", 2)
        entry["method"] = method.upper()
        if entry["method"] == "CONNECT":
            host, port = parse_host(target)
            path = b""
        else:
            host, port, path = _split_absolute(target)
        port = port or (443 if entry["method"] == "CONNECT" else 80)
        entry["host"] = f"{host}:{port}"
        if not self.allowlist.allows(host, port):
            entry["status"] = 403
            entry["error"] = "host not in the module's allowed hosts"
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        entry["allowed"] = True
        try:
            address = resolve_checked(host, port)
            upstream = socket.create_connection(address[:2], timeout=CONNECT_TIMEOUT_S)
        except (OSError, PermissionError) as exc:
            entry["status"] = 502
            entry["error"] = str(exc)[:200]
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        with upstream:
            upstream.settimeout(None)
            if entry["method"] == "CONNECT":
                entry["status"] = 200
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                first = rest
            else:
                first = _rewrite_head(method, path, version, header_block) + rest
            _relay(client, upstream, first, entry, parse_status=entry["method"] != "CONNECT")


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(8192)
        if not chunk:
            raise ValueError("connection closed before the request head")
        data += chunk
        if len(data) > MAX_HEAD:
            raise ValueError("request head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _split_absolute(target: str) -> tuple[str, int | None, bytes]:
    if not target.lower().startswith("http://"):
        raise ValueError("a forward request needs an absolute http:// URL")
    authority, slash, path = target[7:].partition("/")
    host, port = parse_host(authority.rpartition("@")[2])
    return host, port, ("/" + path if slash else "/").encode("latin-1")


def _rewrite_head(method: str, path: bytes, version: str, header_block: bytes) -> bytes:
    """Origin-form request line, proxy headers dropped, ``Connection: close`` so one request = one log entry."""
    keep = [line for line in header_block.split(b"\r\n") if line and line.split(b":", 1)[0].strip().lower()
            not in (b"connection", b"proxy-connection", b"proxy-authorization", b"keep-alive")]
    lines = [f"{method} ".encode("latin-1") + path + f" {version}".encode("latin-1"), *keep, b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _relay(client: socket.socket, upstream: socket.socket, first: bytes, entry: dict[str, Any], *,
           parse_status: bool) -> None:
    """Copy both ways until both sides are done, counting bytes; the first response line gives the status."""
    if first:
        upstream.sendall(first)
        entry["bytes_sent"] += len(first)

    def upward() -> None:
        try:
            while data := client.recv(65536):
                upstream.sendall(data)
                entry["bytes_sent"] += len(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=upward, daemon=True)
    sender.start()
    try:
        while data := upstream.recv(65536):
            if parse_status and entry["status"] is None:
                entry["status"] = _status_of(data)
            client.sendall(data)
            entry["bytes_received"] += len(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)
    sender.join(timeout=5)


def _status_of(data: bytes) -> int | None:
    parts = data.split(b"\r\n", 1)[0].split(b" ")
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None
