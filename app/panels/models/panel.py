"""The Models panel: a Providers tab (endpoints, keys, detection) and an Assignment tab (the routing table)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout

from app.context import AppContext
from app.panels.models.assignment_tab import AssignmentTab
from app.panels.models.providers_tab import ProvidersTab
from app.panels.registry import Panel


class ModelsPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        title = QLabel("Models")
        title.setObjectName("panelTitle")
        self.providers_tab = ProvidersTab(ctx)
        self.assignment_tab = AssignmentTab(ctx)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.providers_tab, "Providers")
        self.tabs.addTab(self.assignment_tab, "Assignment")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.tabs, 1)

    @property
    def detect_ports(self) -> dict[str, int] | None:
        """Preset id → port probed by "Detect local servers"; None probes each server's standard port."""
        return self.providers_tab.detect_ports

    @detect_ports.setter
    def detect_ports(self, ports: dict[str, int] | None) -> None:
        self.providers_tab.detect_ports = ports

    def panel_shown(self) -> None:
        """The store may have been unlocked, or keys set, elsewhere while another panel was showing."""
        self.providers_tab.refresh()

    def shutdown(self) -> None:
        self.providers_tab.shutdown()
