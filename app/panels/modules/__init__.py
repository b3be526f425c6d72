"""Modules: integration modules with their health, versions, credentials and logs."""

from app.panels.registry import register_panel

register_panel("modules", title="Modules", icon="modules", order=30,
               factory="app.panels.modules.panel:ModulesPanel",
               description="Integration modules: health, enable/disable, versions and rollback, credentials, logs.")
