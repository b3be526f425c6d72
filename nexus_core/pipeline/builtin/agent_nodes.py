"""Agent steps as node types: a multi-agent workflow is a pipeline graph, edited and validated like any other;
independent steps run at once. They run inside an agent workflow run (``nexus agents run``, the Agents panel),
which gives them the run's workspace, shared context and checkpoints."""

from __future__ import annotations

from typing import Any

from nexus_core.agents.personas import PERSONAS, Persona
from nexus_core.errors import NexusError
from nexus_core.pipeline.nodes import NodeContext, NodeFn, NodeType, Param, Port

WORK = "work"
AFTER_PORTS = ("after", "after_2", "after_3")


def _step(persona: Persona) -> NodeFn:
    async def run(ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        run = ctx.services.get("agent_run")
        if run is None:
            raise NexusError(f"{persona.title} steps run inside an agent workflow run.",
                             hint="Run the workflow from the Agents panel, or with `nexus agents run FILE`.")
        return await run.step(ctx.node_id, persona, inputs, params)

    return run


def _params(persona: Persona) -> tuple[Param, ...]:
    common = (
        Param("instructions", "multiline", "", "Extra instructions", description="added to the agent's own"),
        Param("tier", "choice", persona.tier, "Tier", ("standard", "heavy", "ultra"),
              description="which tier's model the router gives this step"),
        Param("model", "text", "", "Model", description="provider/model to use instead of the router's choice"),
        Param("retries", "integer", 2, "Retries", minimum=0, maximum=6,
              description="attempts after a failed call or an unusable answer, with exponential backoff"),
    )
    if persona.kind == "review":
        return (*common,
                Param("send_back_to", "text", "", "Send back to",
                      description="step id(s), comma-separated, that get the review's feedback when it asks for "
                                  "changes"),
                Param("max_rounds", "integer", 2, "Review rounds", minimum=0, maximum=5,
                      description="how many times the review may send work back"))
    return common


def agent_nodes() -> list[NodeType]:
    return [NodeType(f"agent.{p.kind}", p.title, "Agents", _step(p),
                     inputs=(Port("requirement", "text", description="what the team is asked to build"),
                             *(Port(name, WORK, False, "an earlier step this one follows") for name in AFTER_PORTS)),
                     outputs=(Port(WORK, WORK, description="summary, files written, verdict or test results"),),
                     params=_params(p), description=p.description)
            for p in PERSONAS.values()]
