"""The agent: the tool-calling loop over the router and the tool registry."""

from nexus_core.agent.loop import (
    AgentLoop,
    Approval,
    ApprovalRequest,
    Approver,
    RoundDone,
    ToolFinished,
    ToolStarted,
)

__all__ = ["AgentLoop", "Approval", "ApprovalRequest", "Approver", "RoundDone", "ToolFinished", "ToolStarted"]
