"""The Providers tab: saved providers with their key status and model counts, and the actions on them.

Listing models and probing for local servers run on the core's async loop; dialogs open with ``open()`` so the
GUI thread never waits on them (and tests can drive them through the ``*_dialog`` attributes).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.dialogs.passphrase import PassphraseDialog
from app.panels.models.detect_results import DetectResults
from app.panels.models.key_dialog import ApiKeyDialog
from app.panels.models.provider_dialog import ProviderDialog
from app.panels.models.providers_table import ProvidersTable
from app.widgets.status_label import StatusLabel
from app.workers import AsyncCall, run_async
from nexus_core.errors import NexusError
from nexus_core.providers.detect import DetectedServer, config_for_detected, detect_local_servers
from nexus_core.providers.presets import LOCAL_SERVER_PRESETS
from nexus_core.secrets.store import MODE_PASSPHRASE, CredentialError


def _retire(dialog: QDialog | None) -> None:
    """Free a finished dialog once a new one replaces it (an open one is left alone)."""
    if dialog is not None and not dialog.isVisible():
        dialog.deleteLater()


def _error_text(error: BaseException) -> str:
    return str(error) if isinstance(error, NexusError) else f"{type(error).__name__}: {error}"


class ProvidersTab(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.core = ctx.core
        self.pool = ctx.core.providers
        self.credentials = ctx.core.credentials
        self.detect_ports: dict[str, int] | None = None  # preset id → port; None probes the standard ports
        self.provider_dialog: ProviderDialog | None = None
        self.key_dialog: ApiKeyDialog | None = None
        self.passphrase_dialog: PassphraseDialog | None = None
        self.remove_box: QMessageBox | None = None
        self._calls: dict[str, AsyncCall] = {}

        self.store_banner = QLabel()
        self.store_banner.setObjectName("banner")
        self.store_banner.setWordWrap(True)
        self.unlock_button = QPushButton("Unlock…")
        self.unlock_button.setToolTip("Enter the passphrase that protects the saved API keys")
        self.unlock_button.clicked.connect(lambda: self.open_passphrase_dialog())
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.store_banner, 1)
        banner_row.addWidget(self.unlock_button)

        self.table = ProvidersTable(self.pool, self.credentials)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.edit_selected())

        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add a provider: a cloud API, a local server or a local model folder")
        self.add_button.clicked.connect(lambda: self.open_provider_dialog())
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setToolTip("Change the selected provider's settings (or double-click it)")
        self.edit_button.clicked.connect(self.edit_selected)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected provider and its stored API key (asks first)")
        self.remove_button.clicked.connect(lambda: self.confirm_remove())
        self.key_button = QPushButton("Set API key…")
        self.key_button.setToolTip("Store or replace the selected provider's API key (saved encrypted)")
        self.key_button.clicked.connect(lambda: self.set_key())
        self.refresh_button = QPushButton("Refresh models")
        self.refresh_button.setToolTip("Ask the selected provider which models it serves")
        self.refresh_button.clicked.connect(lambda: self.refresh_models())
        self.detect_button = QPushButton("Detect local servers")
        self.detect_button.setToolTip("Look for Ollama, LM Studio, llama.cpp and vLLM on this machine")
        self.detect_button.clicked.connect(self.detect)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button, self.key_button, self.refresh_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.detect_button)

        self.status_label = StatusLabel()
        self.detected = DetectResults(self.add_detected, lambda name: self.pool.config(name) is not None)

        layout = QVBoxLayout(self)
        layout.addLayout(banner_row)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(self.detected)
        ctx.providers_changed.fired.connect(self._providers_changed)
        self.refresh()

    # -- view ------------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw the table and the credential banner from the pool (the selection is kept by name)."""
        self.table.show_configs(self.pool.configs())
        self._update_banner()
        self._update_buttons()
        self.detected.update_buttons()

    def _update_banner(self) -> None:
        store = self.credentials
        passphrase = store.mode == MODE_PASSPHRASE
        self.store_banner.setVisible(passphrase)
        self.unlock_button.setVisible(passphrase and store.locked and not store.needs_new_passphrase)
        if not passphrase:
            return
        if store.needs_new_passphrase:
            state = "No passphrase is set yet; you will choose one when you save the first API key."
        elif store.locked:
            state = "The saved API keys are locked; unlock them with your passphrase."
        else:
            state = "Unlocked for this session."
        self.store_banner.setText(f"<b>API keys are protected by a passphrase.</b> {state}<br>{store.warning or ''}")

    def _update_buttons(self) -> None:
        name = self.selected_name()
        for button in (self.edit_button, self.remove_button, self.key_button):
            button.setEnabled(name is not None)
        self.refresh_button.setEnabled(name is not None and f"models:{name}" not in self._calls)
        self.detect_button.setEnabled("detect" not in self._calls)

    def _providers_changed(self, _payload: object) -> None:
        self.refresh()

    def selected_name(self) -> str | None:
        return self.table.selected_name()

    def select(self, name: str) -> bool:
        return self.table.select(name)

    def row_texts(self, name: str) -> dict[str, str]:
        return self.table.row_texts(name)

    # -- add, edit, remove ----------------------------------------------------------------------------------

    def open_provider_dialog(self, name: str | None = None) -> ProviderDialog:
        dialog = ProviderDialog(self.core, self.pool.config(name) if name else None, self)
        dialog.accepted.connect(lambda: self._provider_saved(dialog))
        _retire(self.provider_dialog)
        self.provider_dialog = dialog
        dialog.open()
        return dialog

    def _provider_saved(self, dialog: ProviderDialog) -> None:
        self.refresh()  # also when the pool could not announce it (see ProviderDialog.accept)
        if dialog.saved is not None:
            self.select(dialog.saved.name)
            self.status_label.show_info(f"Saved provider {dialog.saved.name!r}.")

    def edit_selected(self) -> None:
        name = self.selected_name()
        if name:
            self.open_provider_dialog(name)

    def confirm_remove(self, name: str | None = None) -> QMessageBox | None:
        name = name or self.selected_name()
        if not name:
            return None
        box = QMessageBox(QMessageBox.Icon.Question, "Remove provider",
                          f"Remove provider {name!r}? Its stored API key is deleted too. Model assignments that "
                          "use it stay as they are until you change them.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: self._remove_answered(box, name))
        self.remove_box = box
        box.open()
        return box

    def _remove_answered(self, box: QMessageBox, name: str) -> None:
        if box.clickedButton() is not box.button(QMessageBox.StandardButton.Yes):
            return
        store = self.credentials
        if store.locked and not store.needs_new_passphrase:
            dialog = self.open_passphrase_dialog()
            dialog.accepted.connect(lambda: self.remove(name))
            return
        self.remove(name)

    def remove(self, name: str) -> None:
        try:
            self.pool.remove(name)
        except CredentialError as exc:
            if not (exc.reason == "locked" and self.credentials.needs_new_passphrase):
                self.status_label.show_error(f"Provider {name!r} was removed, but its key could not be: {exc}")
                self.refresh()
                return
            # No vault exists yet, so there was no key to delete; the provider itself is gone.
        self.refresh()
        self.status_label.show_info(f"Removed provider {name!r}.")

    # -- keys ------------------------------------------------------------------------------------------------

    def open_passphrase_dialog(self) -> PassphraseDialog:
        dialog = PassphraseDialog(self.credentials, self.core.aio, self)
        dialog.accepted.connect(self.refresh)
        _retire(self.passphrase_dialog)
        self.passphrase_dialog = dialog
        dialog.open()
        return dialog

    def set_key(self, name: str | None = None) -> None:
        """Open the key dialog, asking for the passphrase first when the store is locked."""
        name = name or self.selected_name()
        if not name:
            return
        if self.credentials.locked:
            dialog = self.open_passphrase_dialog()
            dialog.accepted.connect(lambda: self.open_key_dialog(name))
            return
        self.open_key_dialog(name)

    def open_key_dialog(self, name: str) -> ApiKeyDialog:
        dialog = ApiKeyDialog(self.core, name, self)
        dialog.accepted.connect(lambda: self.status_label.show_info(f"API key of {name!r} updated."))
        _retire(self.key_dialog)
        self.key_dialog = dialog
        dialog.open()
        return dialog

    # -- models and detection --------------------------------------------------------------------------------

    def refresh_models(self, name: str | None = None) -> None:
        name = name or self.selected_name()
        if not name or f"models:{name}" in self._calls:
            return
        self.status_label.show_info(f"Asking {name!r} for its models…")
        self._start(f"models:{name}", self.pool.list_models(name),
                    lambda models: self.status_label.show_info(
                        f"{name!r} lists {len(models)} model{'s' if len(models) != 1 else ''}."),
                    lambda error: self.status_label.show_error(
                        f"Could not list the models of provider {name!r}.\n{_error_text(error)}"))

    def detect(self) -> None:
        if "detect" in self._calls:
            return
        self.status_label.show_info("Looking for local LLM servers…")
        self._start("detect", detect_local_servers(ports=self.detect_ports), self._detected,
                    lambda error: self.status_label.show_error(f"Detection failed: {_error_text(error)}"))

    def _detected(self, servers: list[DetectedServer]) -> None:
        self.detected.show_servers(servers)
        if servers:
            names = ", ".join(s.preset.label for s in servers)
            self.status_label.show_info(f"Found {len(servers)} local server{'s' if len(servers) != 1 else ''}: "
                                        f"{names}.")
            return
        ports = self.detect_ports or {}
        tried = ", ".join(f"{p.label} :{ports.get(p.id, p.local_port)}" for p in LOCAL_SERVER_PRESETS
                          if ports.get(p.id, p.local_port))
        self.status_label.show_info(f"No local LLM server answered (tried {tried}).")

    def add_detected(self, server: DetectedServer) -> None:
        """Save a detected server as a provider named after its preset (one click, no dialog)."""
        config = config_for_detected(server)
        if self.pool.config(config.name) is not None:
            self.status_label.show_error(f"A provider named {config.name!r} already exists.")
            return
        try:
            self.pool.save(config)
        except NexusError as exc:
            self.status_label.show_error(f"Could not add {server.preset.label}: {exc}")
            return
        self.refresh()
        self.select(config.name)
        self.status_label.show_info(f"Added provider {config.name!r} ({server.base_url}).")

    def _start(self, key: str, coro: Coroutine[Any, Any, Any], on_done: Callable[[Any], object],
               on_error: Callable[[BaseException], object]) -> None:
        """One call per key at a time (its button stays disabled meanwhile); results arrive on the GUI thread."""
        def done(result: object) -> None:
            self._finish(key)
            on_done(result)

        def failed(error: BaseException) -> None:
            self._finish(key)
            on_error(error)

        self._calls[key] = run_async(self.core.aio, coro, parent=self, on_done=done, on_error=failed)
        self._update_buttons()

    def _finish(self, key: str) -> None:
        self._calls.pop(key, None)
        self._update_buttons()

    def shutdown(self) -> None:
        for call in list(self._calls.values()):
            call.cancel()
        self._calls.clear()
