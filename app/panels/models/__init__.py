"""Models: saved providers (endpoints, keys, model lists) and the model assignment table."""

from app.panels.registry import register_panel

register_panel("models", title="Models", icon="models", order=20,
               factory="app.panels.models.panel:ModelsPanel",
               description="Providers, API keys, local server detection, and which model serves each task and tier.")
