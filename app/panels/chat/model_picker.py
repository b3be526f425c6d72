"""The per-conversation model choice: "Auto (router)" or one "provider/model" from the saved providers."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget

from nexus_core.providers.config import ProviderConfig

AUTO_TEXT = "Auto (router)"


def model_refs(configs: list[ProviderConfig]) -> list[str]:
    return [f"{config.name}/{model}" for config in configs if config.enabled for model in config.models]


class ModelPicker(QComboBox):
    """Lists what the saved providers offer; changing the choice is saved by the pane at once."""

    chosen = Signal(object)  # the model ref, or None for the router; only on the user's (or a test's) change

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Which model answers in this conversation. Auto lets the router choose per message "
                        "from the model assignment table.")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._quiet = False
        self._refs: list[str] = []
        self.currentIndexChanged.connect(self._on_index)
        self.set_models([], None)

    def current_ref(self) -> str | None:
        data = self.currentData()
        return str(data) if data else None

    def set_models(self, refs: list[str], current: str | None) -> None:
        """Refill the list (providers changed) and show ``current``, kept even if no provider offers it now."""
        self._refs = list(refs)
        self._fill(current)

    def show_ref(self, current: str | None) -> None:
        """Show the choice of the conversation just opened, without treating it as a change."""
        self._fill(current)

    def _fill(self, current: str | None) -> None:
        self._quiet = True
        try:
            self.clear()
            self.addItem(AUTO_TEXT, None)
            for ref in self._refs:
                self.addItem(ref, ref)
            if current and current not in self._refs:
                self.addItem(f"{current} (not offered by any provider)", current)
            index = self.findData(current) if current else 0
            self.setCurrentIndex(max(index, 0))
        finally:
            self._quiet = False

    def _on_index(self, _index: int) -> None:
        if not self._quiet:
            self.chosen.emit(self.current_ref())
