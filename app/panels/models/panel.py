"""The Models panel: Library (models on disk, load/unload), Providers (endpoints, keys), Assignment (routing)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout

from app.context import AppContext
from app.panels.models.assignment_tab import AssignmentTab
from app.panels.models.library_tab import LibraryTab
from app.panels.models.providers_tab import ProvidersTab
from app.panels.registry import Panel
from nexus_core.routing.classify import TaskType


class ModelsPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        title = QLabel("Models")
        title.setObjectName("panelTitle")
        self.library_tab = LibraryTab(ctx)
        self.providers_tab = ProvidersTab(ctx)
        self.assignment_tab = AssignmentTab(ctx)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.library_tab, "Library")
        self.tabs.addTab(self.providers_tab, "Providers")
        self.tabs.addTab(self.assignment_tab, "Assignment")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.tabs, 1)
        self.library_tab.use_for_task_requested.connect(self.use_for_task)

    def use_for_task(self, task: TaskType, ref: str) -> None:
        """Jump to the assignment with ``ref`` filled in for ``task``; the person reviews and applies it."""
        self.tabs.setCurrentWidget(self.assignment_tab)
        combo = self.assignment_tab.task_model_combo(task)
        combo.set_value(ref)
        combo.setFocus()

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
        self.library_tab.ensure_scanned()

    def shutdown(self) -> None:
        self.providers_tab.shutdown()
