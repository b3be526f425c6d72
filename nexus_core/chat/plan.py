"""How one chat message is to be answered: the route, the tools offered and the call's settings.

Made by the chat pipeline (or, without one, from the router's decision alone) and carried out by the
chat service, which streams the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nexus_core.routing.router import RouteDecision


@dataclass(frozen=True)
class ChatPlan:
    """Everything the chat service needs to answer one message the way the pipeline says."""

    decision: RouteDecision
    tools_mode: str = "all"  # all | none | only
    tool_names: list[str] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    system_extra: str = ""
    footer: str = ""

    def offered_tools(self) -> list[str] | None:
        """None offers every tool; a list limits them (an empty list offers none)."""
        if self.tools_mode == "none":
            return []
        return list(self.tool_names) if self.tools_mode == "only" else None
