"""What every panel receives: the core, plus Qt signals for the core's events and app-wide UI state."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from app import theme
from app.bridge import EmitterBridge
from nexus_core.core import Core


class AppContext(QObject):
    theme_changed = Signal(str)  # the effective theme: "light" or "dark"

    def __init__(self, core: Core, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.job_events = EmitterBridge(core.runner.events, self)
        self.telemetry = EmitterBridge(core.telemetry.sampled, self)
        self.chat_events = EmitterBridge(core.chat.events, self)  # TurnEvent
        self.conversations_changed = EmitterBridge(core.chat.conversations.changed, self)  # ConversationChange
        self.providers_changed = EmitterBridge(core.providers.changed, self)  # None
        self.routing_changed = EmitterBridge(core.routing.changed, self)  # RoutingTable
        self.library_changed = EmitterBridge(core.library.changed, self)  # None: folders or scan results
        self.models_changed = EmitterBridge(core.models.changed, self)  # None: a model was loaded or unloaded
        self.module_events = EmitterBridge(core.modules.changed, self)  # str: the integration module that changed
        self.effective_theme = "light"
        self.data_dir_source: str | None = None  # why the open data folder is the one in use (see location.source_of)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_scheme_changed)

    def set_theme(self, choice: str, *, save: bool = True) -> str:
        """Apply "system", "light" or "dark" to the whole app and remember the choice."""
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        self.effective_theme = theme.apply_theme(app, choice)
        if save and self.core.settings.theme != choice:
            self.core.settings.theme = choice  # type: ignore[assignment]
            self.core.save_settings()
        self.theme_changed.emit(self.effective_theme)
        return self.effective_theme

    def _system_scheme_changed(self, *_args: object) -> None:
        if self.core.settings.theme == "system":
            self.set_theme("system", save=False)

    def close(self) -> None:
        for bridge in (self.job_events, self.telemetry, self.chat_events, self.conversations_changed,
                       self.providers_changed, self.routing_changed, self.library_changed, self.models_changed,
                       self.module_events):
            bridge.close()
