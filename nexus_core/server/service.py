"""The local server as one core object: its token (kept in the credential store), and uvicorn started and stopped
on the core's asyncio loop, where the providers' streams already run."""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.aio import AsyncLoopThread
from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.logs import register_secret
from nexus_core.server.api import Api
from nexus_core.server.completions import CompletionBackend

log = logging.getLogger(__name__)
TOKEN_KEY = "local-server-token"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServerState:
    running: bool
    host: str | None = None
    port: int | None = None
    error: str | None = None

    @property
    def base_url(self) -> str | None:
        if not self.running or self.host is None:
            return None
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host and host != "::" else ("[::1]" if host == "::" else host)
        return f"http://{host}:{self.port}/v1"


class LocalServer:
    def __init__(self, backend: CompletionBackend, aio: AsyncLoopThread, credentials: Any, settings: Any,
                 attachments_dir: Path | None = None) -> None:
        self.backend, self.aio, self.credentials, self.settings = backend, aio, credentials, settings
        self.api = Api(backend, token=lambda: self._token, cors_origins=lambda: list(settings.server_cors_origins),
                       attachments_dir=attachments_dir)
        self.changed: Emitter[ServerState] = Emitter("server.changed")
        self.state = ServerState(False)
        self._token: str | None = None
        self._server: Any = None
        self._serving: concurrent.futures.Future[None] | None = None
        self._lock = threading.Lock()

    # ---- the token ---------------------------------------------------------------------------------------------

    def token(self) -> str:
        """The bearer token clients send (made on first use); raises NexusError when the credential store is
        locked."""
        if self._token is None:
            token = self._credential_store().get(TOKEN_KEY)
            if not token:
                token = _new_token()
                self.credentials.set(TOKEN_KEY, token)
            register_secret(token)
            self._token = token
        return self._token

    @property
    def current_token(self) -> str | None:
        """The token in use, if it has been read already (never touches the credential store)."""
        return self._token

    def use_session_token(self) -> str:
        """A token kept in memory only, until the server stops: for a headless run whose credential store is
        locked."""
        self._token = _new_token()
        register_secret(self._token)
        return self._token

    def rotate_token(self) -> str:
        """A new token; clients holding the old one get 401 from now on."""
        token = _new_token()
        self._credential_store().set(TOKEN_KEY, token)
        register_secret(token)
        self._token = token
        log.info("local server token rotated")
        return token

    def _credential_store(self) -> Any:
        if getattr(self.credentials, "locked", False):
            raise NexusError("The local server's token is kept in the credential store, which is locked.",
                             hint="Unlock it (Providers → Unlock, or enter the passphrase when asked) and start the "
                                  "server again.")
        return self.credentials

    # ---- running -----------------------------------------------------------------------------------------------

    def start(self, host: str | None = None, port: int | None = None) -> ServerState:
        """Listen on ``host``:``port`` (the settings' by default); a running server is restarted there."""
        import uvicorn

        host = host if host is not None else self.settings.server_host
        port = port if port is not None else self.settings.server_port
        self.token()
        self.stop()
        sock = _bind(host, port)
        config = uvicorn.Config(self.api, log_level="warning", access_log=False, lifespan="off",
                                timeout_keep_alive=5, timeout_graceful_shutdown=3, ws="none")
        server = uvicorn.Server(config)
        with self._lock:
            self._server = server
            self._serving = self.aio.submit(server.serve(sockets=[sock]))
        deadline = time.monotonic() + 10
        while not server.started and not self._serving.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            sock.close()
            self.stop()
            raise NexusError(f"The local server did not start on {host}:{port}.", hint="See the log file.")
        bound = sock.getsockname()
        self._set(ServerState(True, host, int(bound[1])))
        if host not in LOOPBACK:
            log.warning("local server listening on %s:%s: reachable from other machines (with the token)", host,
                        bound[1])
        log.info("local server on %s", self.state.base_url)
        return self.state

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            server, serving, self._server, self._serving = self._server, self._serving, None, None
        if server is None or serving is None:
            return
        server.should_exit = True
        try:
            serving.result(timeout)
        except (concurrent.futures.TimeoutError, asyncio.CancelledError, concurrent.futures.CancelledError):
            serving.cancel()
        except Exception:  # stopping must not fail the caller
            log.exception("the local server stopped with an error")
        self._set(ServerState(False))
        log.info("local server stopped")

    def apply_settings(self) -> list[str]:
        """Start the server when the settings say so (at start-up); the problems, for the start-up notice."""
        if not self.settings.server_enabled or self.state.running:
            return []
        try:
            self.start()
        except NexusError as exc:
            self._set(ServerState(False, error=exc.user_message()))
            return [f"The local server did not start: {exc.user_message()}"]
        return []

    def _set(self, state: ServerState) -> None:
        self.state = state
        self.changed.emit(state)


def _new_token() -> str:
    return "nxs-" + secrets.token_urlsafe(32)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is a clear error before anything starts."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise NexusError(f"The local server cannot listen on {host!r}: {exc.strerror}.",
                         hint="Use an address of this machine, e.g. 127.0.0.1.") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(512)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise NexusError(f"Port {port} on {host} is already in use (another server, or Nexus Studio running "
                             "twice).", hint="Choose another port, or stop the program using it.") from None
        raise NexusError(f"The local server cannot listen on {host}:{port}: {exc.strerror or exc}.",
                         hint="Ports below 1024 need administrator rights; choose a higher one.") from None
    sock.setblocking(False)
    return sock
