"""Local server: Nexus as an OpenAI-compatible API for other programs, with its token and request log."""

from app.panels.registry import register_panel

register_panel("server", title="Server", icon="server", order=80, factory="app.panels.server.panel:ServerPanel",
               description="Serve an OpenAI-compatible API (nexus/auto, nexus/agent, the assigned models) on this "
                           "computer: start/stop, address and port, the bearer token, CORS, and every request.")
