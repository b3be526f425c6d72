"""The local server under load on loopback: concurrent streaming clients against
a scripted upstream, first calling the upstream directly (the baseline), then through `nexus serve` (router, call
records, the ASGI server). Prints requests lost (target 0) and the latency the server adds at the 95th percentile
(target < 10 ms), for the whole answer and for the first token. Upstream and server run in processes of their own.

    .venv/bin/python benchmarks/local_server.py [--clients 50] [--rounds 4] [--chunks 20] [--chunk-delay 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = """
import sys
sys.path.insert(0, {root!r})
from tests.support.llm_servers import ScriptedOpenAIServer, text
with ScriptedOpenAIServer(models=["m"]) as server:
    server.default = text(["tok "] * {chunks}, delay={delay}, usage=(20, {chunks}))
    print(server.base_url, flush=True)
    sys.stdin.read()
"""


async def load(base_url: str, key: str, model: str, clients: int, rounds: int, chunks: int, ramp: float = 0.0
               ) -> tuple[list[float], list[float], int]:
    """Every client streams ``rounds`` answers one after another, over plain asyncio sockets (a lean client, so the
    load generator's own CPU does not crowd out what is measured on two cores; the tests use the `openai` SDK).
    Returns the whole-answer and first-token times of the answers that arrived whole, and how many did not."""
    host, port, prefix = _split(base_url)
    totals: list[float] = []
    firsts: list[float] = []
    lost = 0

    async def one(number: int, round_: int) -> None:
        nonlocal lost
        body = json.dumps({"model": model, "stream": True,
                           "messages": [{"role": "user", "content": f"client {number}, {round_}"}]}).encode()
        started = time.perf_counter()
        first, received = None, b""
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"POST {prefix}/chat/completions HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                         f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
            while part := await reader.read(65536):
                received += part
                if first is None and b"tok " in received:
                    first = time.perf_counter()
            writer.close()
        except OSError:
            lost += 1
            return
        if not received.startswith(b"HTTP/1.1 200") or received.count(b"tok ") != chunks \
                or b"[DONE]" not in received or first is None:
            lost += 1
            return
        totals.append(time.perf_counter() - started)
        firsts.append(first - started)

    async def client(number: int) -> None:
        await asyncio.sleep(ramp * number / max(1, clients))  # arrivals spread over the ramp, as real clients'
        for round_ in range(rounds):
            await one(number, round_)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return totals, firsts, lost


def _split(base_url: str) -> tuple[str, int, str]:
    rest = base_url.split("://", 1)[1]
    address, _, path = rest.partition("/")
    host, _, port = address.rpartition(":")
    return host, int(port), "/" + path.rstrip("/")


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-delay", type=float, default=0.02)
    parser.add_argument("--ramp", type=float, default=1.0, help="seconds over which the clients start")
    args = parser.parse_args()
    python = sys.executable
    upstream = subprocess.Popen([python, "-c", UPSTREAM.format(root=str(ROOT), chunks=args.chunks,
                                                               delay=args.chunk_delay)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    with tempfile.TemporaryDirectory() as home:
        server = None
        try:
            upstream_url = upstream.stdout.readline().strip()
            server = subprocess.Popen([python, "-m", "nexus_core.cli", "serve", "--port", "0", "--quiet",
                                       "--base-url", upstream_url, "--model", "m"], cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, env={**os.environ, "NEXUS_HOME": home})
            nexus_url, token = server.stdout.readline().split()
            asyncio.run(load(upstream_url, "none", "m", 4, 1, args.chunks))  # warm both paths
            asyncio.run(load(nexus_url, token, "nexus/auto", 4, 1, args.chunks))
            results = {}
            for name, (url, key, model) in (("direct", (upstream_url, "none", "m")),
                                             ("nexus", (nexus_url, token, "nexus/auto"))):
                results[name] = asyncio.run(load(url, key, model, args.clients, args.rounds, args.chunks, args.ramp))
                results[name + " alone"] = asyncio.run(load(url, key, model, 1, 20, args.chunks))
        finally:
            if server is not None:
                server.send_signal(signal.SIGINT)
                server.wait(20)
            upstream.stdin.close()
            upstream.wait(20)
    (d_total, d_first, d_lost), (n_total, n_first, n_lost) = results["direct"], results["nexus"]
    asked = args.clients * args.rounds
    print(f"{args.clients} concurrent streaming clients (starting over {args.ramp:g} s) × {args.rounds} answers of "
          f"{args.chunks} chunks ({args.chunk_delay * 1000:.0f} ms apart) on loopback")
    print(f"requests lost: direct {d_lost} of {asked}, through nexus {n_lost} of {asked} (target 0)")
    print(f"whole answer: direct p50 {statistics.median(d_total) * 1000:.1f} ms, p95 {p95(d_total) * 1000:.1f} ms; "
          f"through nexus p50 {statistics.median(n_total) * 1000:.1f} ms, p95 {p95(n_total) * 1000:.1f} ms "
          f"→ added at p95 {(p95(n_total) - p95(d_total)) * 1000:.1f} ms (target < 10 ms)")
    alone = [statistics.median(results[f"{n} alone"][0]) for n in ("direct", "nexus")]
    print(f"one client alone, whole answer: direct median {alone[0] * 1000:.1f} ms, through nexus "
          f"{alone[1] * 1000:.1f} ms → added {(alone[1] - alone[0]) * 1000:.1f} ms per request")
    print(f"first token: direct p95 {p95(d_first) * 1000:.1f} ms; through nexus p95 {p95(n_first) * 1000:.1f} ms "
          f"→ added at p95 {(p95(n_first) - p95(d_first)) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
