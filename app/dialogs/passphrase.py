"""Ask for the credential store's passphrase: a new one (typed twice) or the existing one to unlock it.

The check runs off the GUI thread (scrypt takes a noticeable moment), and a wrong or too-short passphrase is
answered inside the dialog, which stays open so the person can try again.
"""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.workers import run_async
from nexus_core.aio import AsyncLoopThread
from nexus_core.errors import NexusError
from nexus_core.secrets.store import CredentialStore


async def _unlock(store: CredentialStore, passphrase: str) -> None:
    """Run the blocking key derivation on a worker thread, not on the async loop."""
    await asyncio.to_thread(store.unlock, passphrase)


class PassphraseDialog(QDialog):
    """New-passphrase mode (with a confirmation field) when the store has none yet, otherwise unlock mode."""

    def __init__(self, store: CredentialStore, aio: AsyncLoopThread, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.aio = aio
        self.new_mode = store.needs_new_passphrase
        self.setWindowTitle("Choose a passphrase" if self.new_mode else "Unlock saved API keys")
        self.setMinimumWidth(480)

        self.warning_label = QLabel(store.warning or "")
        self.warning_label.setObjectName("banner")
        self.warning_label.setWordWrap(True)
        self.warning_label.setVisible(bool(store.warning))
        intro = QLabel("Choose a passphrase (at least 8 characters) to protect your API keys."
                       if self.new_mode else "Enter the passphrase that protects your saved API keys.")
        intro.setWordWrap(True)

        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase_edit.setToolTip(
            "The passphrase that encrypts your saved API keys (at least 8 characters)" if self.new_mode
            else "The passphrase you chose when you first saved an API key")
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm_edit.setToolTip("Type the same passphrase again, to catch a typing mistake")
        form = QFormLayout()
        form.addRow("Passphrase", self.passphrase_edit)
        if self.new_mode:
            form.addRow("Repeat it", self.confirm_edit)

        self.error_label = QLabel()
        self.error_label.setObjectName("banner")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button: QPushButton = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Set passphrase" if self.new_mode else "Unlock")
        self.ok_button.setToolTip("Protect the API keys with this passphrase (Enter)" if self.new_mode
                                  else "Check the passphrase and unlock the saved API keys (Enter)")
        self.cancel_button: QPushButton = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.warning_label)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self._busy = False

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(True)

    def accept(self) -> None:
        """Check the passphrase with the store; the dialog closes only once the store is unlocked."""
        if self._busy:
            return
        passphrase = self.passphrase_edit.text()
        if not passphrase:
            self.show_error("Type the passphrase.")
            return
        if self.new_mode and passphrase != self.confirm_edit.text():
            self.show_error("The two passphrases do not match; type the same passphrase in both fields.")
            return
        self._set_busy(True)
        run_async(self.aio, _unlock(self.store, passphrase), parent=self,
                  on_done=self._unlocked, on_error=self._failed)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.ok_button.setEnabled(not busy)
        self.passphrase_edit.setEnabled(not busy)
        self.confirm_edit.setEnabled(not busy)
        if busy:
            self.error_label.setVisible(False)

    def _unlocked(self, _result: object) -> None:
        self._set_busy(False)
        self.passphrase_edit.clear()
        self.confirm_edit.clear()
        super().accept()

    def _failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self.show_error(str(error) if isinstance(error, NexusError) else f"{type(error).__name__}: {error}")
        self.passphrase_edit.selectAll()
        self.passphrase_edit.setFocus()
