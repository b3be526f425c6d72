"""Tools the agent can call: the protocol, the registry and (in ``builtin``) the built-in tools."""

from nexus_core.tools.base import Risk, Tool, ToolContext, ToolFailure, build_tool, tool
from nexus_core.tools.registry import ToolRegistry

__all__ = ["Risk", "Tool", "ToolContext", "ToolFailure", "ToolRegistry", "build_tool", "tool"]
