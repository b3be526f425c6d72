"""Pipeline: the node-graph editor (the chat routing pipeline and any other pipeline file)."""

from app.panels.registry import register_panel

register_panel("pipeline", title="Pipeline", icon="pipeline", order=15,
               factory="app.panels.pipeline.panel:PipelinePanel",
               description="Edit the node graph that answers each chat message, or any other pipeline.")
