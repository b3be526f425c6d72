"""Workflow files: pipeline graphs whose steps are agents. Checked like any pipeline, plus what only workflows
have: review loops must send work back to an earlier agent step (a link cycle is never allowed)."""

from __future__ import annotations

from pathlib import Path

from nexus_core.errors import NexusError
from nexus_core.pipeline import serialize
from nexus_core.pipeline.graph import Graph
from nexus_core.pipeline.nodes import NodeRegistry
from nexus_core.pipeline.validate import Problem, errors, validate_graph

DEFAULTS_DIR = Path(__file__).resolve().parents[2] / "resources" / "workflows"


class WorkflowError(NexusError):
    """A workflow that cannot run; the message lists every problem by step."""


def default_workflows() -> list[Path]:
    return sorted(DEFAULTS_DIR.glob("*.json"))


def resolve(name_or_path: str, user_dir: Path | None = None) -> Path:
    """A workflow file: a path, or the name of a default (simple, standard, full) or of one in ``user_dir``."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    for folder in (user_dir, DEFAULTS_DIR):
        if folder is not None and (folder / f"{name_or_path}.json").is_file():
            return folder / f"{name_or_path}.json"
    names = ", ".join(p.stem for p in default_workflows())
    raise WorkflowError(f"There is no workflow file {name_or_path!r}.", path=path,
                        hint=f"Give a workflow file, or one of the defaults: {names}.")


def check(graph: Graph, registry: NodeRegistry) -> list[Problem]:
    problems = [p if "form a cycle" not in p.message else
                Problem(p.node_id, p.message + "; to send work back to an earlier step, set a review step's "
                                               "'send back to' instead of linking backwards", p.port)
                for p in validate_graph(graph, registry)]
    agents = {n for n, node in graph.nodes.items() if node.type.startswith("agent.")}
    if not agents:
        problems.append(Problem(None, "the workflow has no agent steps (Agents in the node palette)"))
    for node_id, node in sorted(graph.nodes.items()):
        if node.type != "agent.review":
            continue
        targets = [t.strip() for t in str(node.params.get("send_back_to", "")).split(",") if t.strip()]
        upstream = graph.upstream(node_id)
        for target in targets:
            if target not in graph.nodes:
                problems.append(Problem(node_id, f"'send back to' names {target!r}, which is not a step of this "
                                                 "workflow"))
            elif target not in agents:
                problems.append(Problem(node_id, f"'send back to' names {target!r}, which is not an agent step"))
            elif target not in upstream:
                problems.append(Problem(node_id, f"'send back to' names {target!r}, which does not come before "
                                                 "this review: a review can only send work back to an earlier step"))
    return problems


def load(path: Path, registry: NodeRegistry) -> Graph:
    """Read and check a workflow file; WorkflowError lists what keeps it from running."""
    graph = serialize.load(path, registry)
    found = errors(check(graph, registry))
    if found:
        raise WorkflowError(f"The workflow {path.name} cannot run:\n" + "\n".join(f"• {p}" for p in found),
                            path=path, hint="Fix it in the pipeline editor (or the file), then run it again.")
    return graph
