"""Auto-layout: columns by longest path from the inputs, rows in a stable order (fewest crossings is not
attempted; the result is tidy and deterministic, which is what an "arrange" button needs)."""

from __future__ import annotations

from nexus_core.pipeline.graph import Graph
from nexus_core.pipeline.validate import topological_order

COLUMN_GAP = 280.0
ROW_GAP = 150.0


def layered_positions(graph: Graph) -> dict[str, tuple[float, float]]:
    order, cyclic = topological_order(graph)
    layer: dict[str, int] = {}
    for node_id in order:
        sources = [link.source for link in graph.incoming(node_id) if link.source in layer]
        layer[node_id] = 1 + max((layer[s] for s in sources), default=-1)
    deepest = max(layer.values(), default=-1)
    for node_id in cyclic:  # nodes on a cycle go in a last column, so they stay visible
        layer[node_id] = deepest + 1
    columns: dict[int, list[str]] = {}
    for node_id in [*order, *cyclic]:
        columns.setdefault(layer[node_id], []).append(node_id)
    positions = {}
    for column, members in columns.items():
        members.sort(key=lambda n: (graph.nodes[n].position[1], n))  # keep the user's vertical order
        top = -(len(members) - 1) * ROW_GAP / 2
        for row, node_id in enumerate(members):
            positions[node_id] = (column * COLUMN_GAP, top + row * ROW_GAP)
    return positions
