"""Type (or forget) one provider's API key. The key goes straight into the credential store: the field is masked,
a stored key is never shown back, and nothing here logs it.
"""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.workers import run_async
from nexus_core.core import Core
from nexus_core.errors import NexusError


async def _set_key(core: Core, name: str, key: str | None) -> None:
    """The keyring and the vault file may block, so the store is written on a worker thread."""
    await asyncio.to_thread(core.providers.set_api_key, name, key)


class ApiKeyDialog(QDialog):
    """Closes only once the store has the new key (or has forgotten the old one); errors stay in the dialog."""

    def __init__(self, core: Core, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.provider_name = name
        self.setWindowTitle(f"API key for {name}")
        self.setMinimumWidth(460)
        stored = core.providers.has_stored_key(name)
        config = core.providers.config(name)
        env = config.key_env_var() if config else ""
        lines = [f"The API key for provider <b>{name}</b> is saved encrypted in the credential store."]
        if stored:
            lines.append("A key is stored; type a new one to replace it.")
        if env:
            lines.append(f"Without a stored key, ${env} is used when it is set.")
        intro = QLabel("<br>".join(lines))
        intro.setWordWrap(True)
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("paste the API key")
        self.key_edit.setToolTip(f"The API key {name} gave you; it is saved encrypted, never in a settings file")
        self.error_label = QLabel()
        self.error_label.setObjectName("banner")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button: QPushButton = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setToolTip("Save the key encrypted in the credential store")
        self.forget_button = buttons.addButton("Forget stored key", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.forget_button.setToolTip("Delete the stored key for this provider (an environment variable still "
                                      "counts)")
        self.forget_button.setEnabled(stored)
        self.forget_button.clicked.connect(self.forget)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.key_edit)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self._busy = False

    def accept(self) -> None:
        key = self.key_edit.text().strip()
        if not key:
            self._show_error("Paste the API key first; an empty key cannot be saved.")
            return
        self._write(key)

    def forget(self) -> None:
        self._write(None)

    def _write(self, key: str | None) -> None:
        if self._busy:
            return
        self._busy = True
        self.save_button.setEnabled(False)
        self.forget_button.setEnabled(False)
        self.error_label.setVisible(False)
        run_async(self.core.aio, _set_key(self.core, self.provider_name, key), parent=self,
                  on_done=self._written, on_error=self._failed)

    def _written(self, _result: object) -> None:
        self._busy = False
        self.key_edit.clear()
        super().accept()

    def _failed(self, error: BaseException) -> None:
        self._busy = False
        self.save_button.setEnabled(True)
        self.forget_button.setEnabled(self.core.providers.has_stored_key(self.provider_name))
        self._show_error(str(error) if isinstance(error, NexusError) else f"{type(error).__name__}: {error}")

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(True)
