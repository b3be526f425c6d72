"""Orchestration overhead of a chat turn: Nexus (route → stream → store → record) vs a direct SDK call.

Both stream the same scripted answer from the same loopback OpenAI-compatible server, on the same
asyncio loop thread, interleaved so machine noise hits both alike. The Nexus time runs from
``ChatService.send`` to the stored answer; the baseline is ``openai.AsyncOpenAI`` streaming the same
reply and joining the text. Target: median overhead < 5 ms.

    .venv/bin/python benchmarks/chat_overhead.py [--runs 60] [--chunks 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nexus_core.core import Core  # noqa: E402
from nexus_core.providers.config import ProviderConfig  # noqa: E402
from nexus_core.routing.table import Assignment, RoutingTable  # noqa: E402
from tests.support.llm_servers import ScriptedOpenAIServer, text  # noqa: E402
from tests.support.memory_keyring import MemoryKeyring  # noqa: E402


async def direct_call(client, chunks: int) -> str:
    stream = await client.chat.completions.create(
        model="bench", messages=[{"role": "system", "content": "You are Nexus."},
                                 {"role": "user", "content": "benchmark prompt"}],
        stream=True, stream_options={"include_usage": True})
    parts = []
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta and choice.delta.content:
                parts.append(choice.delta.content)
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--chunks", type=int, default=40, help="streamed chunks per answer")
    args = parser.parse_args()
    import openai

    reply = text([f"tok{i} " for i in range(args.chunks)])
    with tempfile.TemporaryDirectory() as home, ScriptedOpenAIServer(models=["bench"], default=reply) as server:
        core = Core.open(Path(home), keyring_backend=MemoryKeyring())
        try:
            core.providers.save(ProviderConfig(name="bench", kind="openai", base_url=server.base_url))
            core.routing.save(RoutingTable(tiers={t: Assignment(model="bench/bench")
                                                  for t in ("standard", "heavy", "ultra")}))
            core.chat.system_prompt = "You are Nexus."
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
            conv = core.chat.conversations.create()
            # warm both paths (SDK import, connection pools, SQLite pages)
            core.aio.run(direct_call(client, args.chunks))
            core.chat.send(conv.id, "benchmark prompt").wait(30)
            direct, nexus = [], []
            for _ in range(args.runs):
                conv = core.chat.conversations.create()  # one-turn conversations: same prompt size each run
                started = time.perf_counter()
                core.aio.run(direct_call(client, args.chunks))
                direct.append(time.perf_counter() - started)
                started = time.perf_counter()
                answer = core.chat.send(conv.id, "benchmark prompt").wait(30)
                nexus.append(time.perf_counter() - started)
                assert answer.status == "complete", answer.error
            core.aio.run(client.close())
        finally:
            core.close()
    d_ms, n_ms = statistics.median(direct) * 1000, statistics.median(nexus) * 1000
    result = {"runs": args.runs, "chunks": args.chunks, "direct_median_ms": round(d_ms, 2),
              "nexus_median_ms": round(n_ms, 2), "overhead_median_ms": round(n_ms - d_ms, 2),
              "ratio": round(n_ms / d_ms, 3), "direct_p90_ms": round(_p90(direct) * 1000, 2),
              "nexus_p90_ms": round(_p90(nexus) * 1000, 2), "target_overhead_ms": 5.0}
    print(json.dumps(result, indent=2))
    return 0


def _p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


if __name__ == "__main__":
    sys.exit(main())
