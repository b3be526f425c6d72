"""The pipelines the app runs: the node registry, and the chat routing graph the chat pane follows.

The user's chat graph lives in ``<data>/pipelines/chat.json`` (the default in ``resources/pipelines`` until
they save their own); it is re-read whenever the file changes, so an edit saved in the editor decides how
the very next message is answered.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from nexus_core.chat.plan import ChatPlan
from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.pipeline import serialize
from nexus_core.pipeline.builtin.agent_nodes import agent_nodes
from nexus_core.pipeline.builtin.chat_nodes import chat_nodes
from nexus_core.pipeline.builtin.core_nodes import core_nodes
from nexus_core.pipeline.builtin.distill_nodes import distill_nodes
from nexus_core.pipeline.executor import Executor, PipelineError
from nexus_core.pipeline.graph import Graph
from nexus_core.pipeline.nodes import NodeRegistry

DEFAULTS_DIR = Path(__file__).resolve().parents[2] / "resources" / "pipelines"


def default_registry() -> NodeRegistry:
    return NodeRegistry(loaders=[core_nodes, chat_nodes, distill_nodes, agent_nodes])


class PipelineService:
    def __init__(self, pipelines_dir: Path, services: dict[str, Any], registry: NodeRegistry | None = None) -> None:
        self.dir = pipelines_dir
        self.registry = registry or default_registry()
        self.services = services
        self._lock = threading.Lock()
        self._chat: tuple[float, Graph] | None = None  # (file mtime, graph)
        self._chat_source: Path | None = None
        self._chat_executor = Executor(self.registry, services=services)
        self.chat_changed: Emitter[None] = Emitter("pipeline.chat_changed")

    @property
    def chat_path(self) -> Path:
        return self.dir / "chat.json"

    def default_path(self, name: str) -> Path:
        return DEFAULTS_DIR / f"{name}.json"

    def chat_graph(self) -> Graph:
        """A copy of the user's chat graph (or the default) to edit; saving it is what changes the chat."""
        return serialize.from_dict(serialize.to_dict(self._chat_graph()), self.registry)

    def _chat_graph(self) -> Graph:
        """The live chat graph, re-read when its file changed; never handed out (edits go through saving)."""
        path = self.chat_path if self.chat_path.is_file() else self.default_path("chat")
        mtime = path.stat().st_mtime if path.is_file() else 0.0
        with self._lock:
            if self._chat is not None and self._chat[0] == mtime and path == self._chat_source:
                return self._chat[1]
        graph = serialize.load(path, self.registry)
        with self._lock:
            self._chat, self._chat_source = (mtime, graph), path
        return graph

    def save_chat_graph(self, graph: Graph) -> None:
        """Make ``graph`` the chat pipeline; refused (file untouched) when it would not run."""
        from nexus_core.pipeline.validate import errors, validate_graph

        problems = errors(validate_graph(graph, self.registry))
        if problems:
            raise PipelineError("The chat pipeline was not saved because it cannot run: "
                                + "; ".join(str(p) for p in problems[:5]), node_id=problems[0].node_id,
                                hint="Fix the marked nodes first.")
        if not any(n.type == "chat.executor" for n in graph.nodes.values()):
            raise PipelineError("The chat pipeline needs an Executor node.", hint="Add one and connect it.")
        self.dir.mkdir(parents=True, exist_ok=True)
        serialize.save(graph, self.chat_path)
        with self._lock:
            self._chat = None
        self.chat_changed.emit(None)

    def reset_chat_graph(self) -> None:
        """Back to the default chat pipeline (the user's file is kept beside it as chat.json.bak)."""
        if self.chat_path.is_file():
            self.chat_path.replace(self.chat_path.with_suffix(".json.bak"))
        with self._lock:
            self._chat = None
        self.chat_changed.emit(None)

    async def plan(self, query: str, *, history_chars: int = 0, override: str | None = None,
                   conversation_id: str | None = None) -> ChatPlan:
        """Run the chat graph up to (not through) the model call and return the plan the chat service streams."""
        graph = self._chat_graph()
        sinks = [n for n in graph.nodes.values() if n.type == "chat.synthesis" and n.enabled]
        executors = [n for n in graph.nodes.values() if n.type == "chat.executor"]
        if not executors:
            raise PipelineError("The chat pipeline has no Executor node.",
                                hint="Open the pipeline editor and add one, or reset the chat pipeline.")
        target = sinks[0] if sinks else executors[0]
        result = await self._chat_executor.run(
            graph, {"query": query, "history_chars": history_chars, "override": override or "",
                    "conversation_id": conversation_id or ""}, mode="plan", targets=[target.id])
        failed = next(((n, r) for n, r in result.nodes.items() if r.status == "failed"), None)
        if failed is not None:
            node_id, run = failed
            if isinstance(run.exception, NexusError):
                raise run.exception  # e.g. "no model is assigned": its own message says where to fix it
            raise PipelineError(f"The chat pipeline's node {node_id} failed: {run.error}", node_id=node_id,
                                hint="Open the pipeline editor to see it, or reset the chat pipeline.")
        plan = result.output(target.id, "plan")
        if not isinstance(plan, ChatPlan):
            raise PipelineError("The chat pipeline produced no plan (is the Executor connected to the model "
                                "selector?).", node_id=target.id, hint="Reset the chat pipeline to the default.")
        return plan
