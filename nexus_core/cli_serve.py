"""``nexus serve``: the local OpenAI-compatible server, headless. The first line of stdout is the base URL and the
bearer token (for scripts); the request log goes to stderr. Ctrl-C or SIGTERM stops it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from nexus_core.cli_chat import add_provider_options, resolve_model_override


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve an OpenAI-compatible API (routing, fallbacks, modules) on this machine",
                       description="Serve GET /v1/models and POST /v1/chat/completions. Clients use model nexus/auto "
                                   "(the router picks), nexus/agent (the agent, with the installed modules' tools) "
                                   "or provider/model. Prints 'BASE_URL TOKEN' as its first line; Ctrl-C stops it.")
    p.add_argument("--host", help="address to listen on (default: the settings', 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: the settings', 6398; 0 picks a free one)")
    p.add_argument("--cors", metavar="ORIGIN", action="append", default=None,
                   help="let web pages from ORIGIN call the server (repeatable; '*' for any)")
    p.add_argument("--rotate-token", action="store_true", help="make a new token first (old clients get 401)")
    p.add_argument("--allow-risky-tools", action="store_true",
                   help="let nexus/agent run installed modules' risky tools without asking")
    p.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    add_provider_options(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from nexus_core.cli import open_core_for_providers

    core = open_core_for_providers(args)
    try:
        return _serve(core, args)
    finally:
        core.close()


def _serve(core: Any, args: argparse.Namespace) -> int:
    server = core.server
    server.backend.default_model = resolve_model_override(core, args)
    if args.cors is not None:
        core.settings.server_cors_origins = list(args.cors)
    if args.allow_risky_tools:
        core.settings.server_agent_risky_tools = True
    if core.credentials.locked:
        server.use_session_token()
        print("nexus: the credential store is locked, so this token lasts until the server stops (set "
              "NEXUS_CREDENTIALS_PASSPHRASE to keep one token across runs)", file=sys.stderr, flush=True)
    elif args.rotate_token:
        server.rotate_token()
    core.modules.start_enabled()  # their tools are what nexus/agent offers
    state = server.start(args.host, args.port)
    print(f"{state.base_url} {server.token()}", flush=True)
    ids = ", ".join(m["id"] for m in server.backend.models())
    print(f"nexus: serving {ids} on {state.base_url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    if state.host not in ("127.0.0.1", "::1", "localhost"):
        print(f"nexus: listening on {state.host}: other machines can reach this server (with its token)",
              file=sys.stderr, flush=True)
    disconnect = None if args.quiet else server.api.requests.connect(_log_request)
    stopped = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_a: stopped.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopped.wait(0.5):
            pass
        print("nexus: stopping", file=sys.stderr, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if disconnect is not None:
            disconnect()
        server.stop()
    return 0


def _log_request(entry: Any) -> None:
    note = f" · {entry.note}" if entry.note else ""
    model = f" {entry.model}" if entry.model else ""
    print(f"nexus: {entry.status} {entry.method} {entry.path}{model} ({entry.client}) {entry.duration_ms:.0f} ms"
          f"{note}", file=sys.stderr, flush=True)
