"""The list of saved providers: name, type, address, where the key comes from, model count, enabled."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidgetItem, QWidget

from app.panels.models.key_status import key_status
from app.panels.models.provider_dialog import KIND_LABELS
from app.widgets.keyed_table import KeyedTable
from nexus_core.providers.config import ProviderConfig
from nexus_core.providers.pool import ProviderPool
from nexus_core.providers.presets import PRESETS
from nexus_core.secrets.store import CredentialStore

COLUMNS = ["Name", "Type", "Address", "Key", "Models", "Enabled"]
NAME, TYPE, ADDRESS, KEY, MODELS, ENABLED = range(len(COLUMNS))
MAX_TOOLTIP_MODELS = 30


class ProvidersTable(KeyedTable):
    """Read-only rows, one per provider, selected by name (so a redraw keeps the selection)."""

    def __init__(self, pool: ProviderPool, credentials: CredentialStore, parent: QWidget | None = None) -> None:
        super().__init__(COLUMNS, NAME, parent)
        self.pool = pool
        self.credentials = credentials

    def show_configs(self, configs: list[ProviderConfig]) -> None:
        selected = self.selected_name()
        self.setRowCount(len(configs))
        for row, config in enumerate(configs):
            for column, (text, tip) in enumerate(self._cells(config)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if column == NAME:
                    item.setData(Qt.ItemDataRole.UserRole, config.name)
                self.setItem(row, column, item)
        self.resizeColumnsToContents()
        self.horizontalHeader().setSectionResizeMode(ADDRESS, QHeaderView.ResizeMode.Stretch)
        if selected:
            self.select(selected)

    def _cells(self, config: ProviderConfig) -> list[tuple[str, str]]:
        preset = PRESETS.get(config.preset)
        kind = KIND_LABELS.get(config.kind, config.kind)
        address = config.folder if config.kind == "local" else config.base_url
        models = ", ".join(config.models[:MAX_TOOLTIP_MODELS]) + (" …" if len(config.models) > MAX_TOOLTIP_MODELS
                                                                  else "")
        return [(config.name, ""), (preset.label if preset else kind, kind),
                (address or "(default)", address), key_status(self.pool, self.credentials, config),
                (str(len(config.models)), models or "No models listed yet: use Refresh models."),
                ("Yes" if config.enabled else "No", "")]

    def selected_name(self) -> str | None:
        return self.selected_key()

    def row_texts(self, name: str) -> dict[str, str]:
        """The visible cells of one provider's row, by column title (what the person reads); {} if absent."""
        row = self.row_of(name)
        if row is None:
            return {}
        return {title: self.item(row, column).text() for column, title in enumerate(COLUMNS)}
