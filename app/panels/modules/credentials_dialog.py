"""Enter a module's credentials: labels from its manifest, values typed hidden and stored encrypted."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nexus_core.modules.manifest import CredentialSpec


class CredentialsDialog(QDialog):
    """Empty fields keep the stored value; Forget deletes one. Values never come back from the store."""

    def __init__(self, module: str, specs: list[CredentialSpec], stored: dict[str, bool],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Credentials of {module}")
        self.edits: dict[str, QLineEdit] = {}
        self.forget_buttons: dict[str, QPushButton] = {}
        self.forgotten: set[str] = set()
        form = QFormLayout()
        for spec in specs:
            edit = QLineEdit()
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setPlaceholderText("stored — type to replace" if stored.get(spec.name) else
                                    ("required" if spec.required else "optional"))
            edit.setToolTip(f"{spec.label}: stored encrypted and given only to the module (empty keeps the stored "
                            "value)")
            forget = QPushButton("Forget")
            forget.setToolTip(f"Delete the stored {spec.label} when you save")
            forget.setEnabled(bool(stored.get(spec.name)))
            forget.clicked.connect(lambda _c=False, n=spec.name: self._forget(n))
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(forget)
            holder = QWidget()
            holder.setLayout(row)
            form.addRow(f"{spec.label} ({spec.name})", holder)
            self.edits[spec.name] = edit
            self.forget_buttons[spec.name] = forget
        note = QLabel("Stored in the app's encrypted credential store and given to the module's sandbox when it "
                      "starts; never shown to the assistant or written to logs.")
        note.setWordWrap(True)
        note.setObjectName("muted")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setToolTip("Store what you typed and forget what you marked; empty fields keep their value")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _forget(self, name: str) -> None:
        self.forgotten.add(name)
        self.forget_buttons[name].setEnabled(False)
        self.edits[name].setPlaceholderText("will be forgotten")

    def values(self) -> dict[str, str]:
        """The credentials typed in (blank ones left out)."""
        return {name: edit.text().strip() for name, edit in self.edits.items() if edit.text().strip()}
