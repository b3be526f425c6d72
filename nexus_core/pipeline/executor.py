"""Run a graph: topological order, independent branches concurrently, unchanged nodes served from cache.

Each node's input signature is a hash of its type, parameters, enabled flag and the signatures of what
feeds it (graph inputs included), as ComfyUI does: a node whose signature matches its last run is not
run again, so changing one parameter re-runs only that node and what depends on it. Nodes whose type is
not cacheable (model calls) always run. Every node reports started/finished/cached/failed/skipped events
with its time and the process's memory change.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.pipeline.graph import Graph, Link
from nexus_core.pipeline.nodes import NodeContext, NodeRegistry, NodeType
from nexus_core.pipeline.validate import errors, topological_order, validate_graph


class PipelineError(NexusError):
    """The graph cannot run (validation errors), or a node failed; ``node_id`` names it when there is one."""

    def __init__(self, what: str, *, node_id: str | None = None, hint: str = "") -> None:
        self.node_id = node_id
        super().__init__(what, hint=hint)


@dataclass(frozen=True)
class NodeEvent:
    """kind: started | finished | cached | failed | skipped."""

    run_id: int
    node_id: str
    kind: str
    duration_ms: float = 0.0
    memory_delta: int = 0
    error: str | None = None


@dataclass
class NodeRun:
    status: str  # ran | cached | skipped | failed | disabled
    outputs: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)


@dataclass
class RunResult:
    nodes: dict[str, NodeRun] = field(default_factory=dict)
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(r.status == "failed" for r in self.nodes.values())

    def output(self, node_id: str, port: str) -> Any:
        return self.nodes[node_id].outputs.get(port)

    def ran(self) -> list[str]:
        return [n for n, r in self.nodes.items() if r.status == "ran"]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "duration_ms": round(self.duration_ms, 3), "nodes": {
            n: {"status": r.status, "duration_ms": round(r.duration_ms, 3), "error": r.error,
                "outputs": {k: _jsonable(v) for k, v in r.outputs.items()}} for n, r in self.nodes.items()}}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _fingerprint(value: Any) -> str:
    """A stable text for hashing a value; objects without a JSON form hash by their repr (and type)."""
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return f"{type(value).__qualname__}:{value!r}"


_STATM: list[int] = []  # one descriptor on /proc/self/statm, opened on first use and read with pread


def _rss() -> int:
    """Resident memory in bytes, cheaply enough to take before and after every node (Linux; 0 elsewhere)."""
    try:
        if not _STATM:
            _STATM.append(os.open("/proc/self/statm", os.O_RDONLY))
        return int(os.pread(_STATM[0], 64, 0).split()[1]) * 4096
    except (OSError, ValueError, IndexError):
        return 0


class Executor:
    """Keeps the cache between runs of the same graph (one executor per open graph)."""

    def __init__(self, registry: NodeRegistry, *, services: dict[str, Any] | None = None,
                 max_parallel: int = 8, cache: MutableMapping[str, tuple[str, dict[str, Any]]] | None = None) -> None:
        """``cache`` (node id → (signature, outputs)) may be persistent: agent workflows keep theirs in the store,
        which is what lets a stopped or crashed run resume with its finished steps."""
        self.registry = registry
        self.services = services or {}
        self.max_parallel = max_parallel
        self.events: Emitter[NodeEvent] = Emitter("pipeline.events")
        self._cache: MutableMapping[str, tuple[str, dict[str, Any]]] = {} if cache is None else cache
        self._runs = 0

    def clear_cache(self) -> None:
        self._cache.clear()

    async def run(self, graph: Graph, inputs: dict[str, Any] | None = None, *, mode: str = "run",
                  targets: list[str] | None = None, salt: dict[str, str] | None = None) -> RunResult:
        """Run every node (or only what ``targets`` need); raises PipelineError when the graph is invalid.

        ``salt`` adds a text to a node's signature: something that node reads besides its inputs changed (a
        review's feedback sent back to it), so it and everything after it run again."""
        problems = errors(validate_graph(graph, self.registry))
        needed = set(graph.nodes)
        if targets:
            needed = set(targets)
            for target in targets:
                needed |= graph.upstream(target)
            problems = [p for p in problems if p.node_id is None or p.node_id in needed]
        if problems:
            raise PipelineError("The pipeline cannot run: " + "; ".join(str(p) for p in problems),
                                node_id=problems[0].node_id, hint="Fix the marked nodes in the pipeline editor.")
        self._runs += 1
        run_id = self._runs
        order, _cyclic = topological_order(graph)
        order = [n for n in order if n in needed]
        graph_inputs = dict(inputs or {})
        result = RunResult()
        signatures: dict[str, str] = {}
        done: dict[str, asyncio.Future[None]] = {n: asyncio.get_running_loop().create_future() for n in order}
        limit = asyncio.Semaphore(self.max_parallel)
        started = time.perf_counter()

        into: dict[str, list[Link]] = {}
        for link in graph.links:
            into.setdefault(link.target, []).append(link)

        async def run_one(node_id: str) -> None:
            try:
                for link in into.get(node_id, ()):
                    if link.source in done:
                        # shielded: a cancelled run must not cancel the future other waiters share
                        await asyncio.shield(done[link.source])
                async with limit:
                    await self._run_node(graph, node_id, into.get(node_id, []), graph_inputs, mode, run_id, result,
                                         signatures, (salt or {}).get(node_id, ""))
            finally:
                if not done[node_id].done():
                    done[node_id].set_result(None)

        await asyncio.gather(*(run_one(n) for n in order))
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    def _signature(self, graph: Graph, node_id: str, node_type: NodeType, incoming: list[Link],
                   graph_inputs: dict[str, Any], signatures: dict[str, str], salt: str = "") -> str:
        node = graph.nodes[node_id]
        parts = [node.type, _fingerprint({**node_type.default_params(), **node.params}), str(node.enabled)]
        if salt:
            parts.append(f"salt:{salt}")
        for link in sorted(incoming, key=lambda link: link.target_port):
            parts.append(f"{link.target_port}<-{signatures.get(link.source, '?')}.{link.source_port}")
        if node_type.category == "Input":
            parts.append(_fingerprint(graph_inputs))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    async def _run_node(self, graph: Graph, node_id: str, incoming: list[Link], graph_inputs: dict[str, Any],
                        mode: str, run_id: int, result: RunResult, signatures: dict[str, str], salt: str = "") -> None:
        node = graph.nodes[node_id]
        node_type = self.registry.get(node.type)
        assert node_type is not None  # validated
        params = {**node_type.default_params(), **node.params}
        inputs: dict[str, Any] = {}
        upstream_missing = False
        by_port = {link.target_port: link for link in incoming}
        for port in node_type.inputs:
            link = by_port.get(port.name)
            if link is None:
                continue
            source = result.nodes.get(link.source)
            if source is None or source.status in ("failed", "skipped"):
                upstream_missing = True
                continue
            if link.source_port in source.outputs:
                inputs[port.name] = source.outputs[link.source_port]
            elif port.required:
                upstream_missing = True
        if node_type.category == "Input":
            inputs["__graph_inputs__"] = graph_inputs
        signature = self._signature(graph, node_id, node_type, incoming, graph_inputs, signatures, salt)
        signatures[node_id] = signature
        if upstream_missing:
            result.nodes[node_id] = NodeRun("skipped", error="an upstream node failed or was skipped")
            self.events.emit(NodeEvent(run_id, node_id, "skipped"))
            return
        if not node.enabled:
            if node_type.when_disabled is None:
                result.nodes[node_id] = NodeRun("skipped", error="disabled")
                self.events.emit(NodeEvent(run_id, node_id, "skipped", error="disabled"))
            else:
                result.nodes[node_id] = NodeRun("disabled", dict(node_type.when_disabled(inputs, params)))
                self.events.emit(NodeEvent(run_id, node_id, "finished"))
            return
        cached = self._cache.get(node_id)
        if node_type.cacheable and mode == "run" and cached is not None and cached[0] == signature:
            result.nodes[node_id] = NodeRun("cached", cached[1])
            self.events.emit(NodeEvent(run_id, node_id, "cached"))
            return
        self.events.emit(NodeEvent(run_id, node_id, "started"))
        before, started = _rss(), time.perf_counter()
        ctx = NodeContext(self.services, mode, node_id, signature)
        try:
            outputs = await _call(node_type.run, ctx, inputs, params, blocking=node_type.blocking)
            if not isinstance(outputs, dict):
                raise TypeError(f"node type {node.type} returned {type(outputs).__name__}, not a dict of outputs")
        except Exception as exc:  # a failing node is reported, never takes the run down
            elapsed = (time.perf_counter() - started) * 1000
            message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, NexusError) else exc.what
            result.nodes[node_id] = NodeRun("failed", duration_ms=elapsed, error=message, exception=exc)
            self._cache.pop(node_id, None)
            self.events.emit(NodeEvent(run_id, node_id, "failed", elapsed, _rss() - before, message))
            return
        elapsed = (time.perf_counter() - started) * 1000
        result.nodes[node_id] = NodeRun("ran", outputs, elapsed)
        if node_type.cacheable and mode == "run":
            self._cache[node_id] = (signature, outputs)
        self.events.emit(NodeEvent(run_id, node_id, "finished", elapsed, _rss() - before))


async def _call(fn: Callable[..., Any], ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any], *,
                blocking: bool) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(ctx, inputs, params)
    value = await asyncio.to_thread(fn, ctx, inputs, params) if blocking else fn(ctx, inputs, params)
    if isinstance(value, Awaitable):
        return await value
    return value
