"""builtin_tools(): every tool registers, has a description for itself and for each parameter, and the
risky ones are exactly those that change things outside the conversation."""

from __future__ import annotations

import json

from nexus_core.tools import Tool, ToolRegistry
from nexus_core.tools.builtin import builtin_tools
from tests.core.tools.helpers import param_descriptions

EXPECTED = {"calculator", "current_time", "convert_time", "weather", "web_fetch", "list_files", "read_file",
            "search_files", "write_file", "shell", "run_python", "generate_image", "list_models", "switch_model",
            "system_info"}


def test_builtin_tools_lists_each_tool_once() -> None:
    tools = builtin_tools()
    assert all(isinstance(t, Tool) for t in tools)
    assert [t.name for t in tools if [x.name for x in tools].count(t.name) > 1] == []
    assert {t.name for t in tools} == EXPECTED


def test_only_writing_shell_and_code_tools_are_risky() -> None:
    assert {t.name for t in builtin_tools() if t.risk == "risky"} == {"write_file", "shell", "run_python"}


def test_every_tool_and_parameter_is_described_for_the_model() -> None:
    for t in builtin_tools():
        assert t.description and t.description != t.name, t.name
        assert len(t.description) < 200, t.name
        params = t.parameters
        assert params["type"] == "object" and params.get("additionalProperties") is False
        json.dumps(params)
        for name, description in param_descriptions(t).items():
            assert description, f"{t.name}.{name} has no description"
        assert "ctx" not in params["properties"], t.name


def test_the_registry_accepts_them_all_and_builds_specs() -> None:
    registry = ToolRegistry()
    for t in builtin_tools():
        registry.register(t)
    specs = registry.specs()
    assert sorted(s.name for s in specs) == sorted(EXPECTED)
