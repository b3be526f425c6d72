"""Agents: multi-agent workflow runs (plan, backend, frontend, tests, review) over their graph, live."""

from app.panels.registry import register_panel

register_panel("agents", title="Agents", icon="agents", order=17, factory="app.panels.agents.panel:AgentsPanel",
               description="Run a team of agents on a requirement: the workflow graph with each step's state, its "
                           "messages and files, diffs between iterations, stop and resume.")
