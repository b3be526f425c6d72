"""Step 3: how saved API keys are protected. With a system keyring there is nothing to do; without one the
person chooses the passphrase that encrypts them (or unlocks the one chosen before), here rather than at the
moment they first paste a key."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from app.first_run.wizard import WizardStep
from app.widgets.status_label import StatusLabel
from app.workers import run_async, run_blocking
from nexus_core.errors import NexusError
from nexus_core.secrets.store import MIN_PASSPHRASE_LENGTH

if TYPE_CHECKING:
    from app.first_run.wizard import FirstRunWizard

KEYRING_TEXT = ("Your API keys will be encrypted, and the key to them kept in this computer's keyring: they unlock "
                "by themselves when you log in. Nothing to do here.")


def store_state(store: Any) -> dict[str, Any]:
    """Opening the store probes the keyring (D-Bus on Linux): done off the GUI thread."""
    return {"mode": store.mode, "new": store.needs_new_passphrase, "locked": store.locked, "warning": store.warning}


def keys_summary(state: dict[str, Any]) -> str:
    """One line for the last step: where the keys are kept, and whether they are open."""
    if state["mode"] == "keyring":
        return "encrypted; the key is kept in the system keyring"
    if state["new"]:
        return "no passphrase yet (asked when you first save a key)"
    return "locked: you will be asked for your passphrase" if state["locked"] else "encrypted with your passphrase"


class KeysPage(WizardStep):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.set_header("Saved API keys",
                        "Keys for hosted providers (OpenRouter, OpenAI, Anthropic) are stored encrypted, never in "
                        "plain text.")
        self.explain = QLabel("Checking for a system keyring…")
        self.explain.setWordWrap(True)
        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase_edit.setToolTip(f"At least {MIN_PASSPHRASE_LENGTH} characters; it cannot be recovered, so "
                                        "keep it somewhere safe")
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm_edit.setToolTip("Type the same passphrase again, to be sure of it")
        self.fields = QWidget()
        form = QFormLayout(self.fields)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Passphrase", self.passphrase_edit)
        self.confirm_label = QLabel("Repeat it")
        form.addRow(self.confirm_label, self.confirm_edit)
        self.fields.setVisible(False)
        self.skip_note = QLabel("Leave it empty if you will only use models on this computer; you will be asked "
                                "when you first save a key.")
        self.skip_note.setObjectName("muted")
        self.skip_note.setWordWrap(True)
        self.skip_note.setVisible(False)
        self.status = StatusLabel()
        layout = QVBoxLayout(self)
        layout.addWidget(self.explain)
        layout.addWidget(self.fields)
        layout.addWidget(self.skip_note)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.state: dict[str, Any] | None = None
        self._busy = False

    def enter(self) -> None:
        """Read the store's state each time: a passphrase may have been set elsewhere (the chat step's dialog)."""
        if self._busy:
            return
        run_blocking(lambda: store_state(self.wiz.core.credentials), parent=self, on_done=self._show,
                     on_error=lambda e: self.status.show_error(f"The credential store cannot be used: {e}"))

    def _show(self, state: dict[str, Any]) -> None:
        self.state = state
        if state["mode"] == "keyring":
            self.explain.setText(KEYRING_TEXT)
            return
        self.explain.setText(state["warning"] or "")
        self.fields.setVisible(state["locked"])
        self.skip_note.setVisible(state["locked"])
        self.confirm_label.setVisible(state["new"])
        self.confirm_edit.setVisible(state["new"])
        if state["locked"] and not state["new"]:
            self.skip_note.setText("Type the passphrase you chose before to unlock your saved keys, or leave it "
                                   "empty to be asked later.")
        elif not state["locked"]:
            self.status.show_info("Your keys are protected with your passphrase; you will be asked for it at start.")

    def leave(self) -> bool:
        """Set (or check) the passphrase off the GUI thread; Next moves on once the store is unlocked."""
        if self._busy:
            return False
        if self.state is None or self.state["mode"] == "keyring" or not self.state["locked"]:
            return True
        passphrase = self.passphrase_edit.text()
        if not passphrase:
            return True  # asked later, when a key is first saved
        if self.state["new"] and passphrase != self.confirm_edit.text():
            self.status.show_error("The two passphrases differ: type the same one in both fields.")
            return False
        self._busy = True
        self.status.show_info("Checking…")
        store = self.wiz.core.credentials
        run_async(self.wiz.core.aio, asyncio.to_thread(store.unlock, passphrase), parent=self,
                  on_done=self._unlocked_now, on_error=self._failed)
        return False

    def _unlocked_now(self, _result: object) -> None:
        self._busy = False
        self.passphrase_edit.clear()
        self.confirm_edit.clear()
        self._show(store_state(self.wiz.core.credentials))
        if self.wiz.current_step() is self:  # the person may have gone Back meanwhile
            self.wiz.next()

    def _failed(self, error: BaseException) -> None:
        self._busy = False
        self.status.show_error(error.user_message() if isinstance(error, NexusError) else str(error))
