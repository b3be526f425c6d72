"""``nexus metrics``: the Prometheus endpoint without the app, or what a scrape would return.

    nexus metrics serve [--port 9464] [--address 127.0.0.1]   # until Ctrl-C
    nexus metrics show                                         # one exposition on stdout
    nexus metrics otlp-header NAME                             # a header for the OTLP spans (value on stdin)
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from nexus_core.errors import NexusError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("metrics", help="Prometheus metrics: LLM calls, GPU/CPU/RAM, module health")
    msub = p.add_subparsers(dest="metrics_command", required=True, metavar="ACTION")
    q = msub.add_parser("serve", help="serve /metrics until Ctrl-C")
    q.add_argument("--port", type=int, default=9464)
    q.add_argument("--address", default="127.0.0.1", help="loopback unless other machines should scrape it")
    q.set_defaults(func=run)
    q = msub.add_parser("show", help="print what a scrape returns now")
    q.set_defaults(func=run)
    q = msub.add_parser("otlp-header", help="send a header with the OTLP spans (value read from stdin, kept in the "
                                            "credential store)")
    q.add_argument("name", help="e.g. Authorization")
    q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nexus_core.cli import open_core_for_providers

    core = open_core_for_providers(args)  # unlocks a passphrase vault from $NEXUS_CREDENTIALS_PASSPHRASE
    try:
        if args.metrics_command == "otlp-header":
            import getpass
            import sys

            value = getpass.getpass(f"{args.name}: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
            if not value:
                raise NexusError("No value was given.", hint=f"echo VALUE | nexus metrics otlp-header {args.name}")
            core.observability.set_otlp_header(args.name, value)
            core.save_settings()
            print(f"the OTLP spans will carry {args.name} (its value is in the credential store)")
            return 0
        core.telemetry.start()
        if args.metrics_command == "show":
            core.telemetry.sample_once()
            from nexus_core.observability.metrics import MetricsServer

            server = MetricsServer(core.calls, core.telemetry.latest, core.modules.statuses)
            try:
                print(server.text(), end="")
            finally:
                server.stop()
            return 0
        address, port = core.observability.start_metrics(args.port, args.address)
        print(f"serving http://{address}:{port}/metrics — Ctrl-C stops", flush=True)
        stop = threading.Event()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        core.close()
