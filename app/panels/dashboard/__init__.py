"""Observability dashboard: every model decision, latency, token, cost and module over a chosen time range."""

from app.panels.registry import register_panel

register_panel("dashboard", title="Dashboard", icon="dashboard", order=85,
               factory="app.panels.dashboard.panel:DashboardPanel",
               description="LLM calls by task type and model, latency percentiles and time to first token over "
                           "time, routing, cost per day with the price table, module health, co-evolution.")
