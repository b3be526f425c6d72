"""Chat streaming benchmark: the GUI's worst stall while a 500 tokens/s answer renders in the chat pane.

The real main window runs over a real core (temporary data folder); a scripted OpenAI-compatible
server on loopback streams one token every 2 ms (with Markdown: paragraphs, a list and code blocks,
so the renderer does real work). ``LatencyProbe`` ticks every 10 ms and records how late each tick fires:
first idle (baseline, same run), then while the answer streams into the chat pane. Target: worst
stall < 50 ms while streaming.

    .venv/bin/python benchmarks/chat_stream.py [--tokens 2000] [--rate 500]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication

from app.context import AppContext
from app.diagnostics import LatencyProbe, LatencyStats
from app.errors import ExceptionRouter
from app.gc_policy import GuiGarbageCollector
from app.main import tune_interpreter_for_gui
from app.panels import load_builtin_panels
from app.window import MainWindow
from nexus_core.core import Core
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.table import Assignment, RoutingTable
from tests.support.llm_servers import ScriptedOpenAIServer, text
from tests.support.memory_keyring import MemoryKeyring

PARAGRAPH = ("The router picks a **model** for each query, and the answer streams back token by token; "
             "this sentence is here so that the `Markdown` renderer has *inline* formatting to parse. ")
CODE = "```python\ndef fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```\n"


def answer_tokens(count: int) -> list[str]:
    """Markdown split into word-sized tokens, as an LLM streams it."""
    tokens: list[str] = []
    block = 0
    while len(tokens) < count:
        chunk = CODE if block % 4 == 3 else ("- item " + PARAGRAPH[:60] + "\n") if block % 4 == 2 else PARAGRAPH
        tokens += [w + " " for w in chunk.split(" ") if w] + ["\n\n"]
        block += 1
    return tokens[:count]


def probe_while(app: QApplication, until, timeout_s: float) -> LatencyStats:
    probe = LatencyProbe(interval_ms=10)
    probe.start()
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline and not until():
        app.processEvents()
        time.sleep(0.001)
    return probe.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=500.0, help="tokens per second")
    args = parser.parse_args()
    tune_interpreter_for_gui()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    GuiGarbageCollector(app).install()  # as app.main does: garbage is collected on the GUI thread only
    tokens = answer_tokens(args.tokens)
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAIServer(models=["bench"]) as server:
        core = Core.open(Path(tmp), keyring_backend=MemoryKeyring())
        core.providers.save(ProviderConfig(name="bench", kind="openai", base_url=server.base_url, models=["bench"]))
        core.routing.save(RoutingTable(tiers={t: Assignment(model="bench/bench")
                                              for t in ("standard", "heavy", "ultra")}))
        ctx = AppContext(core)
        ctx.set_theme("light", save=False)
        load_builtin_panels()
        window = MainWindow(ctx, ExceptionRouter(), persist_state=False)
        window.confirm_close = False
        window.resize(1360, 860)
        window.show()
        window.show_panel("chat")
        panel = window.panel("chat")
        # warm-up turn: SDK import and first render happen before measuring
        server.script(text(["warm ", "up"]))
        panel.composer.setPlainText("warm up")
        panel.send_button.click()
        probe_while(app, lambda: core.chat.active_turn(panel.current_conversation_id) is None
                    and len(server.requests) >= 1, 30)
        gc.collect()  # as app.main does once the provider SDKs are preloaded
        gc.freeze()
        probe_while(app, lambda: False, 1.0)
        idle = probe_while(app, lambda: False, args.tokens / args.rate)
        server.script(text(tokens, delay=1.0 / args.rate))
        panel.composer.setPlainText("Explain the router, with code")
        started = time.perf_counter()
        panel.send_button.click()
        streaming = probe_while(app, lambda: len(server.requests) >= 2
                                and core.chat.active_turn(panel.current_conversation_id) is None,
                                args.tokens / args.rate * 4 + 10)
        elapsed = time.perf_counter() - started
        probe_while(app, lambda: False, 0.3)  # let the final render land
        answer = core.chat.conversations.messages(panel.current_conversation_id)[-1]
        shown = panel.message_widgets()[-1].plain_text()
        window.close()
        ctx.close()
        core.close()
    print(f"chat pane streaming {len(tokens)} tokens at {args.rate:.0f} tokens/s (answer took {elapsed:.2f} s, "
          f"stored {len(answer.content)} chars, status {answer.status}; pane shows {len(shown)} chars)")
    print(f"  idle (baseline)     {idle}")
    print(f"  while streaming     {streaming}")
    base = idle.worst_ms or 1.0
    print(f"  worst stall {streaming.worst_ms:.1f} ms = {streaming.worst_ms / base:.1f}x idle; target < 50 ms: "
          f"{'met' if streaming.worst_ms < 50 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
