"""What local server detection found, each with a one-click "add as a provider" button."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from nexus_core.providers.detect import DetectedServer

MAX_LISTED_MODELS = 8


def describe(server: DetectedServer) -> str:
    """One line: which server, where, and what it serves."""
    if not server.models:
        return f"{server.preset.label} at {server.base_url} — {server.note or 'no models'}"
    shown = ", ".join(server.models[:MAX_LISTED_MODELS])
    more = f" and {len(server.models) - MAX_LISTED_MODELS} more" if len(server.models) > MAX_LISTED_MODELS else ""
    count = f"{len(server.models)} model{'s' if len(server.models) != 1 else ''}"
    return f"{server.preset.label} at {server.base_url} — {count}: {shown}{more}"


class DetectResults(QGroupBox):
    """Hidden until a detection has run; ``add_buttons`` is keyed by preset id (the name the provider gets)."""

    def __init__(self, add: Callable[[DetectedServer], None], exists: Callable[[str], bool],
                 parent: QWidget | None = None) -> None:
        super().__init__("Local servers found", parent)
        self._add = add
        self._exists = exists
        self._layout = QVBoxLayout(self)
        self.servers: list[DetectedServer] = []
        self.labels: dict[str, QLabel] = {}
        self.add_buttons: dict[str, QPushButton] = {}
        self._rows: list[QWidget] = []
        self.setVisible(False)

    def show_servers(self, servers: list[DetectedServer]) -> None:
        for row in self._rows:
            self._layout.removeWidget(row)
            row.deleteLater()
        self._rows.clear()
        self.labels.clear()
        self.add_buttons.clear()
        self.servers = list(servers)
        for server in servers:
            row = QWidget()
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            label = QLabel(describe(server))
            label.setWordWrap(True)
            button = QPushButton()
            button.setToolTip(f"Save this server as a provider named {server.preset.id!r}")
            button.clicked.connect(lambda _=False, s=server: self._add(s))
            line.addWidget(label, 1)
            line.addWidget(button)
            self._layout.addWidget(row)
            self._rows.append(row)
            self.labels[server.preset.id] = label
            self.add_buttons[server.preset.id] = button
        self.update_buttons()
        self.setVisible(bool(servers))

    def update_buttons(self) -> None:
        """A server already saved under its preset's name cannot be added twice."""
        for preset_id, button in self.add_buttons.items():
            saved = self._exists(preset_id)
            button.setText(f"Saved as {preset_id!r}" if saved else f"Add as {preset_id!r}")
            button.setEnabled(not saved)
