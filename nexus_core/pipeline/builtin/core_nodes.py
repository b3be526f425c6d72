"""General-purpose nodes: graph inputs and outputs, text, numbers, JSON, and calling tools and modules."""

from __future__ import annotations

import json
from typing import Any

from nexus_core.pipeline.nodes import ANY, NodeContext, NodeType, Param, Port


def _input(_ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    values = inputs.get("__graph_inputs__") or {}
    name = params["name"]
    if name in values:
        return {"value": values[name]}
    if params["default"] != "":
        return {"value": params["default"]}
    raise KeyError(f"the run was given no input {name!r} (pass it with --input)")


def _output(_ctx: NodeContext, inputs: dict[str, Any], _params: dict[str, Any]) -> dict[str, Any]:
    return {"value": inputs.get("value")}


def _constant(_ctx: NodeContext, _inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {"text": params["text"]}


def _template(_ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    values = {k: ("" if inputs.get(k) is None else inputs[k]) for k in ("a", "b", "c")}
    return {"text": params["template"].format_map(values)}


def _add(_ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {"number": float(inputs.get("x") or 0.0) + float(params["add"])}


def _json_get(_ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    value = inputs.get("value")
    for part in [p for p in str(params["path"]).split(".") if p]:
        if isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value[part]
        else:
            raise KeyError(f"{params['path']!r}: {part!r} cannot be looked up in {type(value).__name__}")
    return {"value": value}


def _arguments(inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    given = inputs.get("arguments")
    if isinstance(given, dict):
        return given
    text = str(params.get("arguments") or "{}")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"arguments are not valid JSON: {exc.msg}") from None
    if not isinstance(parsed, dict):
        raise ValueError("arguments must be a JSON object")
    return parsed


async def _tool(ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    from nexus_core.tools.base import ToolContext

    registry = ctx.service("tools")
    tool = registry.get(params["tool"])
    if tool is None:
        raise LookupError(f"there is no tool named {params['tool']!r}")
    if tool.risk == "risky":
        raise PermissionError(f"{tool.name} is a risky tool; pipelines run only safe tools")
    arguments = tool.validate(_arguments(inputs, params))
    tool_ctx = ctx.services.get("tool_context") or ToolContext(ctx.services.get("workspace") or ".")
    value = tool.fn(tool_ctx, **arguments) if tool.wants_context else tool.fn(**arguments)
    if hasattr(value, "__await__"):
        value = await value
    return {"result": value}


def _module(ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    modules = ctx.service("modules")
    return {"result": modules.call(params["module"], params["operation"], _arguments(inputs, params))}


def core_nodes() -> list[NodeType]:
    return [
        NodeType("input.value", "Input", "Input", _input, outputs=(Port("value", ANY),),
                 params=(Param("name", "text", "query", "Name", description="the key in the run's inputs"),
                         Param("default", "text", "", "Default")),
                 description="A value given to the run (nexus pipeline run --input '{\"query\": ...}')."),
        NodeType("output.value", "Output", "Output", _output, inputs=(Port("value", ANY),),
                 outputs=(Port("value", ANY),), description="Marks a result of the pipeline."),
        NodeType("text.constant", "Text", "Text", _constant, outputs=(Port("text", "text"),),
                 params=(Param("text", "multiline", "", "Text"),)),
        NodeType("text.template", "Template", "Text", _template,
                 inputs=(Port("a", ANY, False), Port("b", ANY, False), Port("c", ANY, False)),
                 outputs=(Port("text", "text"),), params=(Param("template", "multiline", "{a}", "Template"),),
                 description="Fills {a}, {b} and {c} into a text.",
                 when_disabled=lambda inputs, _p: {"text": "" if inputs.get("a") is None else str(inputs["a"])}),
        NodeType("number.add", "Add", "Numbers", _add, inputs=(Port("x", "number", False),),
                 outputs=(Port("number", "number"),), params=(Param("add", "number", 1.0, "Add"),),
                 when_disabled=lambda inputs, _p: {"number": inputs.get("x") or 0.0}),
        NodeType("json.get", "Get field", "Data", _json_get, inputs=(Port("value", ANY),),
                 outputs=(Port("value", ANY),), params=(Param("path", "text", "", "Path", description="a.b.0"),),
                 when_disabled=lambda inputs, _p: {"value": inputs.get("value")}),
        NodeType("tool.call", "Tool", "Tools", _tool, inputs=(Port("arguments", "json", False),),
                 outputs=(Port("result", ANY),),
                 params=(Param("tool", "text", "calculator", "Tool"),
                         Param("arguments", "multiline", "{}", "Arguments (JSON)")),
                 description="Call one of the assistant's safe tools.", cacheable=False),
        NodeType("module.call", "Module operation", "Modules", _module, inputs=(Port("arguments", "json", False),),
                 outputs=(Port("result", ANY),),
                 params=(Param("module", "text", "", "Module"), Param("operation", "text", "", "Operation"),
                         Param("arguments", "multiline", "{}", "Arguments (JSON)")),
                 description="Call an operation of an integration module (in its sandboxed worker).",
                 cacheable=False, blocking=True),
    ]
