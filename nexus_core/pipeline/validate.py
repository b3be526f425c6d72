"""Check a graph before running it: every problem names the node (and port) and says what is wrong."""

from __future__ import annotations

from dataclasses import dataclass

from nexus_core.pipeline.graph import Graph
from nexus_core.pipeline.nodes import NodeRegistry, compatible


@dataclass(frozen=True)
class Problem:
    node_id: str | None
    message: str
    port: str | None = None
    severity: str = "error"  # error: the graph cannot run | warning: it runs, but check this

    def __str__(self) -> str:
        where = f"node {self.node_id}" + (f", port {self.port}" if self.port else "") if self.node_id else "graph"
        return f"{where}: {self.message}"


def topological_order(graph: Graph) -> tuple[list[str], list[str]]:
    """(order, nodes on a cycle); Kahn's algorithm, ties broken by id so the order is stable."""
    indegree = {node_id: 0 for node_id in graph.nodes}
    out: dict[str, list[str]] = {}
    for link in graph.links:
        if link.target in indegree and link.source in indegree:
            indegree[link.target] += 1
            out.setdefault(link.source, []).append(link.target)
    ready = sorted(n for n, d in indegree.items() if d == 0)
    order: list[str] = []
    while ready:
        node_id = ready.pop(0)
        order.append(node_id)
        for target in sorted(out.get(node_id, [])):
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
                ready.sort()
    cyclic = sorted(n for n in graph.nodes if n not in order)
    return order, cyclic


def validate_graph(graph: Graph, registry: NodeRegistry) -> list[Problem]:
    problems: list[Problem] = []
    linked_inputs = {(link.target, link.target_port) for link in graph.links}
    for node_id, node in sorted(graph.nodes.items()):
        node_type = registry.get(node.type)
        if node_type is None:
            problems.append(Problem(node_id, f"unknown node type {node.type!r} (was its module removed?); the node "
                                             "is kept but cannot run"))
            continue
        for name, value in sorted(node.params.items()):
            param = node_type.param(name)
            if param is None:
                problems.append(Problem(node_id, f"has no parameter {name!r}", severity="warning"))
            elif (why := param.check(value)) is not None:
                problems.append(Problem(node_id, f"parameter {name!r} {why} (got {value!r})"))
        for port in node_type.inputs:
            if port.required and (node_id, port.name) not in linked_inputs:
                problems.append(Problem(node_id, f"required input {port.name!r} ({port.type}) is not connected",
                                        port.name))
    for link in graph.links:
        source, target = graph.nodes.get(link.source), graph.nodes.get(link.target)
        if source is None or target is None:
            problems.append(Problem(link.target if source else link.source,
                                    f"link {link.source}.{link.source_port} → {link.target}.{link.target_port} "
                                    "points at a node that does not exist"))
            continue
        source_type, target_type = registry.get(source.type), registry.get(target.type)
        if source_type is None or target_type is None:
            continue  # already reported as an unknown type
        out_port, in_port = source_type.output(link.source_port), target_type.input(link.target_port)
        if out_port is None:
            problems.append(Problem(link.source, f"has no output {link.source_port!r}", link.source_port))
        if in_port is None:
            problems.append(Problem(link.target, f"has no input {link.target_port!r}", link.target_port))
        if out_port and in_port and not compatible(out_port.type, in_port.type):
            problems.append(Problem(link.target, f"input {in_port.name!r} takes {in_port.type}, but "
                                                 f"{link.source}.{out_port.name} gives {out_port.type}", in_port.name))
    _order, cyclic = topological_order(graph)
    if cyclic:
        problems.append(Problem(cyclic[0], f"nodes {', '.join(cyclic)} form a cycle; a pipeline must flow one way"))
    return problems


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
