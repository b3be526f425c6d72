"""The chat routing nodes: Query Input → Classifier → Tier Router → Model Selector → Tool Picker →
Executor → Response Synthesis.

Run in "plan" mode (the chat pane), the graph stops short of calling a model: the Executor and
Synthesis nodes hand the chat service a ChatPlan, which it streams. Run in "run" mode (``nexus
pipeline run``), the Executor calls the model itself and Synthesis returns the final text.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nexus_core.chat.plan import ChatPlan
from nexus_core.pipeline.nodes import NodeContext, NodeType, Param, Port
from nexus_core.routing.classify import Classification, TaskType, Tier, tier_for
from nexus_core.routing.router import RouteDecision

TASKS = ("auto", *(t.value for t in TaskType))
TIERS = ("auto", *(t.value for t in Tier))


def _query(_ctx: NodeContext, inputs: dict[str, Any], _params: dict[str, Any]) -> dict[str, Any]:
    given = inputs.get("__graph_inputs__") or {}
    query = given.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("the run needs a non-empty 'query' input")
    return {"query": query, "history_chars": int(given.get("history_chars") or 0),
            "override": str(given.get("override") or ""), "conversation": str(given.get("conversation_id") or "")}


async def _classify(ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    router = ctx.service("router")
    query, history = inputs["query"], int(inputs.get("history_chars") or 0)
    if params["task_type"] != "auto":
        task = TaskType(params["task_type"])
        found = Classification(task, tier_for(task, query, history_chars=history), "set in the pipeline", "pipeline")
    else:
        found = await router.classify(query, history_chars=history, use_model=params["use_classifier_model"],
                                      conversation_id=inputs.get("conversation") or None)
    return {"classification": found}


def _tier_router(_ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    found: Classification = inputs["classification"]
    tier = found.tier
    if params["tier"] != "auto":
        tier = Tier(params["tier"])
    elif params["minimum_tier"] != "auto":
        order = list(Tier)
        tier = max(tier, Tier(params["minimum_tier"]), key=order.index)
    reason = found.reason if tier == found.tier else f"{found.reason}; tier set to {tier.value} in the pipeline"
    return {"route": Classification(found.task_type, tier, reason, found.source)}


def _model_selector(ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    route: Classification = inputs["route"]
    extra = [r.strip() for r in str(params["fallbacks"]).split(",") if r.strip()]
    override = str(inputs.get("override") or "").strip()
    if override:  # a model chosen for the conversation wins, as it does without a pipeline
        return {"decision": RouteDecision(route.task_type, route.tier.value, [override, *extra],
                                          f"model chosen for this conversation ({route.reason})", "override")}
    pinned = str(params["model"]).strip()
    if pinned:
        return {"decision": RouteDecision(route.task_type, route.tier.value, [pinned, *extra],
                                          f"{route.reason}; model set in the pipeline", "pipeline")}
    candidates = ctx.service("router").candidates(route.task_type, route.tier)
    return {"decision": RouteDecision(route.task_type, route.tier.value, [*candidates, *extra], route.reason,
                                      route.source)}


def _tool_picker(_ctx: NodeContext, _inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    names = [n.strip() for n in str(params["tools"]).split(",") if n.strip()]
    return {"tools": {"mode": params["mode"], "names": names}}


def _plan(inputs: dict[str, Any], params: dict[str, Any]) -> ChatPlan:
    tools = inputs.get("tools") or {"mode": "all", "names": []}
    temperature = float(params["temperature"])
    return ChatPlan(inputs["decision"], tools["mode"], list(tools["names"]),
                    None if temperature < 0 else temperature, int(params["max_tokens"]) or None,
                    str(params["system_prompt"]))


async def _executor(ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(inputs, params)
    if ctx.mode == "plan":
        return {"plan": plan, "answer": "", "model": ""}
    from nexus_core.providers.types import ChatMessage, TextDelta
    from nexus_core.routing.router import Attempt

    agent = ctx.service("agent")
    messages = [ChatMessage("system", plan.system_extra)] if plan.system_extra else []
    messages.append(ChatMessage("user", inputs["query"]))
    text, model = "", ""
    stream = agent.run(plan.decision, messages, ctx=ctx.service("tool_context"), approver=None,
                       tool_names=plan.offered_tools(), temperature=plan.temperature, max_tokens=plan.max_tokens)
    async for event in stream:
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Attempt):
            model = event.model_ref
    return {"plan": plan, "answer": text, "model": model}


def _synthesis(ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    footer = str(params["footer"])
    plan = inputs.get("plan")
    if isinstance(plan, ChatPlan):
        plan = replace(plan, footer=footer)
    answer = str(inputs.get("answer") or "")
    return {"text": answer + (f"\n\n{footer}" if footer and answer else ""), "plan": plan}


def chat_nodes() -> list[NodeType]:
    return [
        NodeType("chat.query", "Query input", "Input", _query,
                 outputs=(Port("query", "text"), Port("history_chars", "number"), Port("override", "text"),
                          Port("conversation", "text")),
                 description="The user's message, the length of the conversation so far, and the model chosen for "
                             "the conversation (if any)."),
        NodeType("chat.classify", "Classifier", "Chat routing", _classify,
                 inputs=(Port("query", "text"), Port("history_chars", "number", False), Port("conversation", "text",
                                                                                            False)),
                 outputs=(Port("classification", "classification"),),
                 params=(Param("task_type", "choice", "auto", "Task type", TASKS,
                               description="auto: decide by rules (and the classifier model)"),
                         Param("use_classifier_model", "bool", True, "Use the classifier model")),
                 description="Decides the task type and tier of the query.", cacheable=False),
        NodeType("chat.tier_router", "Tier router", "Chat routing", _tier_router,
                 inputs=(Port("classification", "classification"),), outputs=(Port("route", "classification"),),
                 params=(Param("tier", "choice", "auto", "Tier", TIERS),
                         Param("minimum_tier", "choice", "auto", "Minimum tier", TIERS)),
                 when_disabled=lambda inputs, _p: {"route": inputs["classification"]}),
        NodeType("chat.model_selector", "Model selector", "Chat routing", _model_selector,
                 inputs=(Port("route", "classification"), Port("override", "text", False)),
                 outputs=(Port("decision", "decision"),),
                 params=(Param("model", "text", "", "Model (provider/model)",
                               description="empty: the model assigned to the task and tier"),
                         Param("fallbacks", "text", "", "Extra fallbacks (comma-separated)")),
                 description="Picks the model and its fallbacks from the assignment table, or the one set here.",
                 cacheable=False),
        NodeType("chat.tool_picker", "Tool picker", "Chat routing", _tool_picker,
                 inputs=(Port("decision", "decision", False),), outputs=(Port("tools", "tools"),),
                 params=(Param("mode", "choice", "all", "Offer", ("all", "none", "only")),
                         Param("tools", "text", "", "Only these tools (comma-separated)")),
                 when_disabled=lambda _i, _p: {"tools": {"mode": "all", "names": []}}),
        NodeType("chat.executor", "Executor", "Chat routing", _executor,
                 inputs=(Port("decision", "decision"), Port("tools", "tools", False), Port("query", "text")),
                 outputs=(Port("plan", "plan"), Port("answer", "text"), Port("model", "text")),
                 params=(Param("temperature", "slider", -1.0, "Temperature", minimum=-1.0, maximum=2.0,
                               description="-1: the model's default"),
                         Param("max_tokens", "integer", 0, "Max answer tokens", minimum=0, maximum=200000,
                               description="0: the model's default"),
                         Param("system_prompt", "multiline", "", "Extra instructions")),
                 description="Calls the model (with the tools picked) and streams the answer.", cacheable=False),
        NodeType("chat.synthesis", "Response synthesis", "Chat routing", _synthesis,
                 inputs=(Port("answer", "text", False), Port("plan", "plan", False)),
                 outputs=(Port("text", "text"), Port("plan", "plan")),
                 params=(Param("footer", "text", "", "Footer added to every answer"),),
                 when_disabled=lambda inputs, _p: {"text": inputs.get("answer") or "", "plan": inputs.get("plan")},
                 cacheable=False),
    ]
