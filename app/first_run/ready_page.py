"""Last step: what was set up, and, when no model answers yet, what to do next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout

from app.first_run.keys_page import keys_summary, store_state
from app.first_run.wizard import WizardStep, value_label

if TYPE_CHECKING:
    from app.first_run.wizard import FirstRunWizard


class ReadyPage(WizardStep):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.set_header("Ready")
        self.folder_label, self.gpu_label, self.keys_label, self.models_label, self.chat_label = (
            value_label(), value_label(), value_label(), value_label(), value_label())
        self.problems_label = value_label()
        self.problems_label.setObjectName("banner")
        form = QFormLayout()
        for name, label in (("Data folder", self.folder_label), ("GPU", self.gpu_label),
                            ("API keys", self.keys_label), ("Models on disk", self.models_label),
                            ("Chat model", self.chat_label)):
            form.addRow(name, label)
        self.tips = QLabel("Tips: Ctrl+1 to Ctrl+9 switch panels, Ctrl+, opens Settings, F1 lists every shortcut. "
                           "The Models panel assigns models to tasks; the Pipeline panel shows how answers are made.")
        self.tips.setObjectName("muted")
        self.tips.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.tips)
        layout.addStretch(1)

    def enter(self) -> None:
        state = self.wiz.state
        ref = self.wiz.chat_page.save_choice()
        store = self.wiz.core.credentials
        self.folder_label.setText(str(self.wiz.core.paths.root))
        self.gpu_label.setText(state.hardware.gpu_line() if state.hardware else "not checked")
        self.keys_label.setText(keys_summary(store_state(store)) if store.opened else "not checked")
        self.models_label.setText(f"{state.model_count} found" if state.model_count else "none yet")
        self.problems_label.setText("\n".join(state.problems))
        self.problems_label.setVisible(bool(state.problems))
        if ref and state.hello and state.hello_ref == ref:
            self.chat_label.setText(f"{ref} — answered “{state.hello}”")
            self.set_header(subtitle="Everything is set. Start chatting.")
        elif ref:
            self.chat_label.setText(f"{ref} (not tried yet: your first message will tell)")
            self.set_header(subtitle="Set up. Your first message will show whether the chat model answers.")
        else:
            self.chat_label.setText("none yet — go Back for the next steps, or add one later in Models → Providers")
            self.set_header(subtitle="Nexus Studio works without a chat model (monitor, models, media), but "
                                     "chatting needs one: the previous step says how to get one.")
