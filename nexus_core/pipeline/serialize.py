"""The pipeline file format (JSON, versioned) and loading it without trusting it.

    {"format": "nexus-pipeline", "version": 1, "name": ..., "description": ...,
     "nodes": [{"id", "type", "params", "enabled", "title"}],
     "links": [{"from": [node, port], "to": [node, port]}],
     "ui": {"positions": {node: [x, y]}, "viewport": {...}}}

The executable part and the UI part are separate keys, so moving a node never changes what runs.
Unknown node types are kept (marked missing) so a graph whose module was removed still loads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nexus_core.atomic import atomic_write_text
from nexus_core.errors import NexusError
from nexus_core.pipeline.graph import Graph, Link, Node
from nexus_core.pipeline.nodes import NodeRegistry

FORMAT = "nexus-pipeline"
VERSION = 1


class PipelineFileError(NexusError):
    """A pipeline file cannot be read; the message names the file and the place."""


def to_dict(graph: Graph) -> dict[str, Any]:
    return {
        "format": FORMAT, "version": VERSION, "name": graph.name, "description": graph.description,
        "nodes": [{"id": n.id, "type": n.type, "params": n.params, "enabled": n.enabled,
                   **({"title": n.title} if n.title else {})} for n in graph.nodes.values()],
        "links": [{"from": [link.source, link.source_port], "to": [link.target, link.target_port]}
                  for link in graph.links],
        "ui": {**graph.ui, "positions": {n.id: [round(n.position[0], 1), round(n.position[1], 1)]
                                         for n in graph.nodes.values()}},
    }


def dumps(graph: Graph) -> str:
    return json.dumps(to_dict(graph), indent=2, ensure_ascii=False) + "\n"


def save(graph: Graph, path: Path) -> None:
    """Atomic: an interrupted save leaves the previous file as it was."""
    atomic_write_text(path, dumps(graph))


def _fail(where: str, what: str, path: Path | None) -> PipelineFileError:
    return PipelineFileError(f"{where}: {what}", path=path, hint="Fix the file, or open another pipeline.")


def from_dict(data: Any, registry: NodeRegistry | None = None, *, path: Path | None = None) -> Graph:
    """Build a graph from parsed JSON; every structural problem names its place (``nodes[3].params``)."""
    if not isinstance(data, dict):
        raise _fail("top level", "a pipeline file holds a JSON object", path)
    if data.get("format") != FORMAT:
        raise _fail("format", f"expected {FORMAT!r}, found {data.get('format')!r}", path)
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail("version", "must be a whole number", path)
    if version > VERSION:
        raise PipelineFileError(f"version: the file was written by a newer Nexus Studio (format {version}; this "
                                f"one reads up to {VERSION}).", path=path,
                                hint="Update Nexus Studio to open it; your file was not changed.")
    graph = Graph(str(data.get("name") or "Untitled pipeline"), str(data.get("description") or ""))
    nodes = data.get("nodes", [])
    if not isinstance(nodes, list):
        raise _fail("nodes", "must be a list", path)
    ui = data.get("ui") or {}
    if not isinstance(ui, dict):
        raise _fail("ui", "must be an object", path)
    positions = ui.get("positions") or {}
    if not isinstance(positions, dict):
        raise _fail("ui.positions", "must be an object", path)
    for i, raw in enumerate(nodes):
        where = f"nodes[{i}]"
        if not isinstance(raw, dict):
            raise _fail(where, "must be an object", path)
        node_id, node_type = raw.get("id"), raw.get("type")
        if not isinstance(node_id, str) or not node_id:
            raise _fail(f"{where}.id", "must be a non-empty text", path)
        if node_id in graph.nodes:
            raise _fail(f"{where}.id", f"{node_id!r} is used twice", path)
        if not isinstance(node_type, str) or not node_type:
            raise _fail(f"{where}.type", "must be a non-empty text", path)
        params = raw.get("params", {})
        if not isinstance(params, dict):
            raise _fail(f"{where}.params", "must be an object", path)
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise _fail(f"{where}.enabled", "must be true or false", path)
        position = positions.get(node_id, [0, 0])
        if (not isinstance(position, list) or len(position) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in position)):
            raise _fail(f"ui.positions.{node_id}", "must be [x, y]", path)
        title = raw.get("title", "")
        missing = registry is not None and registry.get(node_type) is None
        graph.nodes[node_id] = Node(node_id, node_type, dict(params), enabled, (float(position[0]), float(position[1])),
                                    str(title) if isinstance(title, str) else "", missing)
    links = data.get("links", [])
    if not isinstance(links, list):
        raise _fail("links", "must be a list", path)
    for i, raw in enumerate(links):
        where = f"links[{i}]"
        if not isinstance(raw, dict):
            raise _fail(where, "must be an object", path)
        ends = []
        for key in ("from", "to"):
            end = raw.get(key)
            if not (isinstance(end, list) and len(end) == 2 and all(isinstance(v, str) and v for v in end)):
                raise _fail(f"{where}.{key}", "must be [node id, port name]", path)
            if end[0] not in graph.nodes:
                raise _fail(f"{where}.{key}", f"names node {end[0]!r}, which is not in the file", path)
            ends.append(end)
        link = Link(ends[0][0], ends[0][1], ends[1][0], ends[1][1])
        if any(existing.target == link.target and existing.target_port == link.target_port
               for existing in graph.links):
            raise _fail(where, f"input {link.target}.{link.target_port} is linked twice", path)
        graph.links.append(link)
    graph.ui = {k: v for k, v in ui.items() if k != "positions"}
    return graph


def loads(text: str, registry: NodeRegistry | None = None, *, path: Path | None = None) -> Graph:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PipelineFileError(f"The pipeline is not valid JSON: {exc.msg} at line {exc.lineno}, column "
                                f"{exc.colno}.", path=path, hint="Fix the file, or open another pipeline.") from None
    return from_dict(data, registry, path=path)


def load(path: Path, registry: NodeRegistry | None = None) -> Graph:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineFileError("The pipeline file does not exist.", path=path, hint="Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineFileError(f"The pipeline file cannot be read: {exc}", path=path) from None
    return loads(text, registry, path=path)
