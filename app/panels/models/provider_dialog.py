"""Add or edit one provider. Validation is the core's (pydantic and ``check_complete``); its errors are shown
next to the field they name, and the dialog stays open with everything typed kept.
"""

from __future__ import annotations

from pydantic import ValidationError
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.dialogs.passphrase import PassphraseDialog
from nexus_core.core import Core
from nexus_core.errors import NexusError
from nexus_core.providers.config import ProviderConfig
from nexus_core.providers.presets import PRESETS
from nexus_core.secrets.store import CredentialError

KIND_LABELS = {"openai": "OpenAI-compatible", "anthropic": "Anthropic", "local": "Local model folder"}
FIELD_LABELS = {"preset": "Preset", "name": "Name", "kind": "Kind", "base_url": "Base URL", "folder": "Model folder",
                "fusion_bundle": "Fusion bundle",
                "key_env": "Key environment variable", "timeout_s": "Timeout", "enabled": "Enabled",
                "models": "Models"}


def split_list(text: str) -> list[str]:
    """A comma-separated field as its non-empty, trimmed items, in order."""
    return [part.strip() for part in text.split(",") if part.strip()]


class ProviderDialog(QDialog):
    """Saves through ``ProviderPool.save`` itself, so it only closes once the provider is really saved."""

    def __init__(self, core: Core, original: ProviderConfig | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.original = original
        self.saved: ProviderConfig | None = None
        self.passphrase_dialog: PassphraseDialog | None = None
        self.setWindowTitle(f"Edit provider {original.name}" if original else "Add provider")
        self.setMinimumWidth(560)

        self.preset_combo = QComboBox()
        for preset in PRESETS.values():
            self.preset_combo.addItem(preset.label, preset.id)
        self.preset_combo.setToolTip("A known service or local server: fills in the kind, URL and key variable")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. ollama, openai-work")
        self.name_edit.setToolTip("The provider's name: models are referred to as name/model")
        self.kind_combo = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind_combo.addItem(label, kind)
        self.kind_combo.setToolTip("How Nexus Studio talks to it: an OpenAI-compatible or Anthropic API, or a model "
                                   "folder loaded here")
        self.base_url_edit = QLineEdit()
        self.base_url_edit.setPlaceholderText("http://127.0.0.1:11434/v1")
        self.base_url_edit.setToolTip("The address of the provider's API, usually ending in /v1")
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a folder with config.json, weights and tokenizer files")
        self.folder_edit.setToolTip("The local model folder this provider loads and runs")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Choose the model folder")
        self.browse_button.clicked.connect(self._browse)
        folder_row = QWidget()
        folder_layout = QHBoxLayout(folder_row)
        folder_layout.setContentsMargins(0, 0, 0, 0)
        folder_layout.addWidget(self.folder_edit, 1)
        folder_layout.addWidget(self.browse_button)
        self.bundle_edit = QLineEdit()
        self.bundle_edit.setPlaceholderText("optional: a fusion bundle (nexus fuse train) for attached pictures, "
                                            "sound, video")
        self.bundle_edit.setToolTip("Optional: a fusion bundle folder that lets this local model read attached "
                                    "pictures, sound and video")
        self.key_env_edit = QLineEdit()
        self.key_env_edit.setToolTip("The environment variable the API key is read from when no key is stored")
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(0.1, 3600)
        self.timeout_spin.setDecimals(1)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setValue(120)
        self.timeout_spin.setToolTip("How long to wait for one answer from this provider before giving up")
        self.enabled_check = QCheckBox("Use this provider")
        self.enabled_check.setChecked(True)
        self.enabled_check.setToolTip("Off: the provider is kept but never called, and its models are skipped")
        self.models_edit = QLineEdit()
        self.models_edit.setPlaceholderText("filled by Refresh models; or type ids, comma-separated")
        self.models_edit.setToolTip("The model ids offered in the pickers for this provider (comma-separated)")

        self.form = QFormLayout()
        self.field_errors: dict[str, QLabel] = {}
        self._rows: dict[str, QWidget] = {}
        for field, widget in (("preset", self.preset_combo), ("name", self.name_edit), ("kind", self.kind_combo),
                              ("base_url", self.base_url_edit), ("folder", folder_row),
                              ("fusion_bundle", self.bundle_edit),
                              ("key_env", self.key_env_edit), ("timeout_s", self.timeout_spin),
                              ("enabled", self.enabled_check), ("models", self.models_edit)):
            self._add_row(field, widget)

        self.form_error = QLabel()
        self.form_error.setObjectName("banner")
        self.form_error.setWordWrap(True)
        self.form_error.setVisible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button: QPushButton = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setToolTip("Check and save the provider; problems are shown next to their field")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.form_error)
        layout.addWidget(buttons)

        self._preset_id = ""
        self.preset_combo.currentIndexChanged.connect(self._preset_changed)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        if original is not None:
            self._fill(original)
        else:
            self._preset_changed()
        self._kind_changed()

    # -- building --------------------------------------------------------------------------------------------

    def _add_row(self, field: str, widget: QWidget) -> None:
        error = QLabel()
        error.setObjectName("banner")
        error.setWordWrap(True)
        error.setVisible(False)
        cell = QWidget()
        cell_layout = QVBoxLayout(cell)
        cell_layout.setContentsMargins(0, 0, 0, 0)
        cell_layout.setSpacing(2)
        cell_layout.addWidget(widget)
        cell_layout.addWidget(error)
        self.form.addRow(FIELD_LABELS[field], cell)
        self.field_errors[field] = error
        self._rows[field] = cell

    def _fill(self, config: ProviderConfig) -> None:
        index = self.preset_combo.findData(config.preset)
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentIndex(max(0, index))
        self.preset_combo.blockSignals(False)
        self._preset_id = config.preset
        self.name_edit.setText(config.name)
        self.kind_combo.setCurrentIndex(max(0, self.kind_combo.findData(config.kind)))
        self.base_url_edit.setText(config.base_url)
        self.folder_edit.setText(config.folder)
        self.bundle_edit.setText(config.fusion_bundle)
        self.key_env_edit.setText(config.key_env)
        self.timeout_spin.setValue(config.timeout_s)
        self.enabled_check.setChecked(config.enabled)
        self.models_edit.setText(", ".join(config.models))

    def _preset_changed(self, _index: int = 0) -> None:
        """Fill kind and URL from the preset, but never overwrite what the person typed themselves."""
        old = PRESETS.get(self._preset_id)
        new = PRESETS[self.preset_combo.currentData()]
        self._preset_id = new.id
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(new.kind))
        if not self.base_url_edit.text().strip() or (old and self.base_url_edit.text().strip() == old.base_url):
            self.base_url_edit.setText(new.base_url)
        name = self.name_edit.text().strip()
        if self.original is None and (not name or (old and name == old.id)):
            self.name_edit.setText(new.id if new.id not in ("custom", "local") else "")
        self.key_env_edit.setPlaceholderText(f"default: ${new.key_env}" if new.key_env else "optional, e.g. MY_API_KEY")

    def _kind_changed(self, _index: int = 0) -> None:
        local = self.kind_combo.currentData() == "local"
        self.form.setRowVisible(self._rows["base_url"], not local)
        self.form.setRowVisible(self._rows["folder"], local)
        self.form.setRowVisible(self._rows["fusion_bundle"], local)
        self.form.setRowVisible(self._rows["key_env"], not local)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    # -- saving ----------------------------------------------------------------------------------------------

    def values(self) -> dict[str, object]:
        kind = self.kind_combo.currentData()
        return {"name": self.name_edit.text().strip(), "kind": kind, "preset": self.preset_combo.currentData(),
                "base_url": "" if kind == "local" else self.base_url_edit.text(),
                "folder": self.folder_edit.text().strip() if kind == "local" else "",
                "fusion_bundle": self.bundle_edit.text().strip() if kind == "local" else "",
                "key_env": "" if kind == "local" else self.key_env_edit.text().strip(),
                "timeout_s": self.timeout_spin.value(), "enabled": self.enabled_check.isChecked(),
                "models": split_list(self.models_edit.text())}

    def show_field_error(self, field: str, message: str) -> None:
        label = self.field_errors.get(field)
        if label is None:
            self.show_form_error(f"{FIELD_LABELS.get(field, field)}: {message}")
            return
        label.setText(f"{FIELD_LABELS[field]}: {message}")
        label.setVisible(True)

    def show_form_error(self, message: str) -> None:
        self.form_error.setText(message)
        self.form_error.setVisible(True)

    def clear_errors(self) -> None:
        for label in (*self.field_errors.values(), self.form_error):
            label.clear()
            label.setVisible(False)

    def accept(self) -> None:
        """Validate and save; on any error say what and where, and stay open."""
        self.clear_errors()
        try:
            config = ProviderConfig.model_validate(self.values())
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else ""
                self.show_field_error(field, str(error["msg"]).removeprefix("Value error, "))
            return
        old_name = self.original.name if self.original else None
        if config.name != old_name and self.core.providers.config(config.name) is not None:
            self.show_field_error("name", f"a provider named {config.name!r} already exists; choose another name.")
            return
        credentials = self.core.credentials
        renamed = old_name is not None and config.name != old_name
        if renamed and credentials.locked and not credentials.needs_new_passphrase:
            self._unlock_then_accept()  # the stored key moves with the provider, so the vault must be open
            return
        try:
            self.core.providers.save(config, replaces=old_name)
        except CredentialError as exc:
            if not (exc.reason == "locked" and credentials.needs_new_passphrase):
                self.show_form_error(str(exc))
                return
            # No vault exists yet, so there was no key to move: the config itself is saved.
        except NexusError as exc:
            self.show_form_error(str(exc))
            return
        self.saved = config
        super().accept()

    def _unlock_then_accept(self) -> None:
        dialog = PassphraseDialog(self.core.credentials, self.core.aio, self)
        dialog.accepted.connect(self.accept)
        self.passphrase_dialog = dialog
        dialog.open()
