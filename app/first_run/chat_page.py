"""Step 5: a model that answers. Local servers are found by themselves, model folders from the previous step can
run here, and a hosted provider needs only its key; "Try it" sends one short message through the router. When
nothing is available the page says what to do next (start Ollama, paste an OpenRouter key)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from app.first_run.wizard import WizardStep
from app.widgets.status_label import StatusLabel
from app.workers import AsyncCall, run_async
from nexus_core.errors import NexusError
from nexus_core.firstrun import (
    check_remote_provider,
    make_default_chat_model,
    next_steps,
    pick_chat_model,
    save_detected_server,
    say_hello,
)
from nexus_core.providers.detect import DetectedServer, detect_local_servers
from nexus_core.providers.presets import PRESETS
from nexus_core.routing.classify import Tier

if TYPE_CHECKING:
    from app.first_run.wizard import FirstRunWizard

HOSTED = ("openrouter", "openai", "anthropic", "custom")
KEY_PAGES = {"openrouter": "https://openrouter.ai/keys", "openai": "https://platform.openai.com/api-keys",
             "anthropic": "https://console.anthropic.com/settings/keys"}


@dataclass(frozen=True)
class Choice:
    """One entry of the model list: where it comes from, and what is needed to make it a provider/model."""

    kind: str  # "current", "server", "folder" or "hosted"
    model: str
    server: DetectedServer | None = None
    folder: Path | None = None
    provider: str = ""

    def resolve(self, pool: Any) -> str:
        """Save what the choice needs (its provider) and return its provider/model reference."""
        if self.kind == "server" and self.server is not None:
            return f"{save_detected_server(pool, self.server)}/{self.model}"
        if self.kind == "folder" and self.folder is not None:
            return pool.local_provider_for(self.folder)
        if self.kind == "hosted":
            return f"{self.provider}/{self.model}"
        return self.model


def _error_text(error: BaseException) -> str:
    return error.user_message() if isinstance(error, NexusError) else f"{type(error).__name__}: {error}"


class ChatPage(WizardStep):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.set_header("A model to chat with",
                        "Pick the model that answers your chats. Try it sends one short message, so you know it "
                        "works before you start.")
        self.scan_button = QPushButton("Scan again")
        self.scan_button.setToolTip("Look again for Ollama, LM Studio, llama.cpp and vLLM servers on this computer")
        self.scan_button.clicked.connect(self.detect)
        self.scan_label = QLabel()
        self.scan_label.setWordWrap(True)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The model every chat starts with (change it later in Models → Assignment)")
        self.model_combo.setMinimumContentsLength(40)
        self.model_combo.currentIndexChanged.connect(self._selection_changed)
        self.model_combo.activated.connect(lambda _index: setattr(self, "_picked", True))
        self.try_button = QPushButton("Try it")
        self.try_button.setToolTip("Make this the chat model and send it one short message")
        self.try_button.clicked.connect(self.try_model)
        self.answer = StatusLabel()

        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("Which hosted service the key is for")
        for preset_id in HOSTED:
            self.preset_combo.addItem(PRESETS[preset_id].label, preset_id)
        self.preset_combo.currentIndexChanged.connect(self._preset_changed)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("https://host/v1")
        self.url_edit.setToolTip("The OpenAI-compatible server's address, ending in /v1")
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setToolTip("Paste the API key; it is stored encrypted, never in plain text")
        self.key_edit.returnPressed.connect(self.check_key)
        self.check_button = QPushButton("Check key")
        self.check_button.setToolTip("Ask the service for its models with this key (Enter does the same); only a key "
                                     "that works is saved")
        self.check_button.clicked.connect(self.check_key)
        self.key_link = QLabel()
        self.key_link.setOpenExternalLinks(True)
        self.hosted_status = StatusLabel()
        hosted = QGroupBox("Or use a hosted provider")
        form = QFormLayout(hosted)
        form.addRow("Service", self.preset_combo)
        self.url_label = QLabel("Address")
        form.addRow(self.url_label, self.url_edit)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.check_button)
        form.addRow("API key", key_row)
        form.addRow("", self.key_link)
        form.addRow(self.hosted_status)

        self.steps_box = QGroupBox("Next steps")
        self.steps_label = QLabel()
        self.steps_label.setWordWrap(True)
        self.steps_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        QVBoxLayout(self.steps_box).addWidget(self.steps_label)

        scan_row = QHBoxLayout()
        scan_row.addWidget(self.scan_label, 1)
        scan_row.addWidget(self.scan_button)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model"))
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.try_button)
        layout = QVBoxLayout(self)
        layout.addLayout(scan_row)
        layout.addLayout(model_row)
        layout.addWidget(self.answer)
        layout.addWidget(hosted)
        layout.addWidget(self.steps_box)
        layout.addStretch(1)
        self._calls: dict[str, AsyncCall] = {}
        self._detected_once = False
        self.hosted_models: list[Choice] = []
        self._original_table: Any = None
        self._picked = False  # the person chose from the list: a later scan keeps their choice
        self._preset_changed()

    # -- the list of models ------------------------------------------------------------------------------------

    def enter(self) -> None:
        if self._original_table is None:  # what the wizard found: trying models never piles them up on it
            self._original_table = self.wiz.core.routing.table
        self._fill()
        if not self._detected_once:
            self.detect()

    def detect(self) -> None:
        if "detect" in self._calls:
            return
        self.scan_label.setText("Looking for LLM servers on this computer…")
        self._start("detect", detect_local_servers(ports=self.wiz.detect_ports), self._detected,
                    lambda error: self.scan_label.setText(f"Looking for servers failed: {_error_text(error)}"))

    def _detected(self, servers: list[DetectedServer]) -> None:
        self._detected_once = True
        self.wiz.state.servers = servers
        if servers:
            self.scan_label.setText("Found " + "; ".join(
                f"{s.preset.label} at {s.base_url} ({len(s.models)} model{'s' if len(s.models) != 1 else ''})"
                for s in servers) + ".")
        else:
            self.scan_label.setText("No LLM server is running on this computer (Ollama, LM Studio, llama.cpp or "
                                    "vLLM on their usual ports).")
        self._fill()

    def choices(self) -> list[Choice]:
        found: list[Choice] = []
        table = self._original_table if self._original_table is not None else self.wiz.core.routing.table
        current = table.tiers.get(Tier.STANDARD)
        if current is not None and current.model:
            found.append(Choice("current", current.model))
        for server in self.wiz.state.servers:
            found += [Choice("server", model, server=server) for model in server.models]
        found += [Choice("folder", entry.info.name, folder=entry.info.path) for entry in self.wiz.state.chat_models]
        return found + self.hosted_models

    @staticmethod
    def label(choice: Choice) -> str:
        if choice.kind == "current":
            return f"{choice.model} — the current chat model"
        if choice.kind == "server" and choice.server is not None:
            return f"{choice.model} — {choice.server.preset.label} on this computer"
        if choice.kind == "folder":
            return f"{choice.model} — model folder, runs inside Nexus Studio"
        return f"{choice.model} — {choice.provider}"

    def _fill(self) -> None:
        selected = self.model_combo.currentText() if self._picked else ""
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for choice in self.choices():
            self.model_combo.addItem(self.label(choice), choice)
        index = self.model_combo.findText(selected) if selected else -1
        self.model_combo.setCurrentIndex(max(index, 0) if self.model_combo.count() else -1)
        self.model_combo.blockSignals(False)
        self._selection_changed()

    def _selection_changed(self) -> None:
        has_choice = self.model_combo.count() > 0
        self.model_combo.setEnabled(has_choice)
        self.try_button.setEnabled(has_choice and "hello" not in self._calls)
        if not has_choice:
            self.model_combo.setPlaceholderText("No model found yet — see the next steps below")
        self._show_steps(not has_choice)

    def _show_steps(self, show: bool) -> None:
        if show:
            keyring = self.wiz.core.credentials.mode == "keyring"
            steps = next_steps(self.wiz.state.servers, local_models=len(self.wiz.state.chat_models),
                               keyring_usable=keyring)
            self.steps_label.setText("\n\n".join(f"• {step}" for step in steps))
        self.steps_box.setVisible(show)

    # -- trying a model ----------------------------------------------------------------------------------------

    def selected(self) -> Choice | None:
        return self.model_combo.currentData()

    def try_model(self) -> None:
        """Send one short message to the selected model (its provider is saved; the routing changes on leaving)."""
        choice = self.selected()
        if choice is None or "hello" in self._calls:
            return
        try:
            ref = choice.resolve(self.wiz.core.providers)
        except NexusError as exc:
            self.answer.show_error(_error_text(exc))
            return
        wait = " (loading it first can take a minute)" if choice.kind == "folder" else ""
        self.answer.show_info(f"Asking {ref}{wait}…")
        self._start("hello", say_hello(self.wiz.core.router, ref), self._answered,
                    lambda error: self._not_answered(ref, error))

    def _answered(self, hello: Any) -> None:
        self.wiz.state.hello, self.wiz.state.hello_ref = hello.text, hello.model_ref
        self.answer.show_info(f"“{hello.text}” — {hello.model_ref}, {hello.seconds:.1f} s. It works: this model "
                              "answers your chats.")
        self._show_steps(False)

    def _not_answered(self, ref: str, error: BaseException) -> None:
        if self.wiz.state.hello_ref == ref:
            self.wiz.state.hello = self.wiz.state.hello_ref = None
        self.answer.show_error(f"It did not answer: {_error_text(error)}")
        self._show_steps(True)

    def save_choice(self) -> str | None:
        """Leaving for the last step: the selected model becomes the default chat model (tried or not), starting from
        the assignment the wizard found; choosing "the current chat model" puts that back."""
        choice = self.selected()
        if choice is None:
            self.wiz.state.chat_ref = None
            return None
        try:
            ref = choice.resolve(self.wiz.core.providers)
            make_default_chat_model(self.wiz.core.routing, ref, base=self._original_table)
        except NexusError as exc:
            self.answer.show_error(_error_text(exc))
            self.wiz.state.problems.append(f"The chat model could not be set: {_error_text(exc)}")
            return None
        self.wiz.state.chat_ref = ref
        return ref

    # -- hosted providers --------------------------------------------------------------------------------------

    def _preset_changed(self) -> None:
        preset_id = self.preset_combo.currentData()
        custom = preset_id == "custom"
        self.url_label.setVisible(custom)
        self.url_edit.setVisible(custom)
        page = KEY_PAGES.get(preset_id)
        self.key_link.setText(f'Get a key at <a href="{page}">{page}</a>' if page else
                              "Leave the key empty if the server needs none.")

    def check_key(self) -> None:
        """Ask the service for its models with the pasted key (or the stored one when the field is empty); only a key
        that works is saved."""
        if "models" in self._calls:
            return
        store = self.wiz.core.credentials
        key = self.key_edit.text().strip()
        if key and store.locked:
            from app.dialogs.passphrase import PassphraseDialog

            dialog = PassphraseDialog(store, self.wiz.core.aio, self)
            dialog.accepted.connect(self.check_key)
            dialog.open()
            self.passphrase_dialog = dialog
            return
        preset_id = self.preset_combo.currentData()
        self.hosted_status.show_info(f"Asking {PRESETS[preset_id].label} for its models…")
        self._start("models", check_remote_provider(self.wiz.core.providers, preset_id, key,
                                                    base_url=self.url_edit.text()),
                    self._listed, lambda error: self.hosted_status.show_error(
                        f"The key did not work, so it was not saved: {_error_text(error)}"))

    def _listed(self, result: tuple[str, list[str]]) -> None:
        name, ids = result
        self.key_edit.clear()
        if not ids:
            self.hosted_status.show_error(f"{name!r} accepted the key but lists no models.")
            return
        self.hosted_models = [c for c in self.hosted_models if c.provider != name]
        self.hosted_models += [Choice("hosted", model, provider=name) for model in ids]
        self.hosted_status.show_info(f"The key works and is saved: {name!r} offers {len(ids)} model(s); pick one "
                                     "above and press Try it.")
        self._picked = True  # the key was checked to use it: a chat model of it is the choice
        self._fill()
        best = Choice("hosted", pick_chat_model(ids) or ids[0], provider=name)
        self.model_combo.setCurrentIndex(self.model_combo.findText(self.label(best)))

    # -- calls -------------------------------------------------------------------------------------------------

    def _start(self, key: str, coro: Any, on_done: Any, on_error: Any) -> None:
        def done(result: object) -> None:
            self._calls.pop(key, None)
            on_done(result)
            self._buttons()

        def failed(error: BaseException) -> None:
            self._calls.pop(key, None)
            on_error(error)
            self._buttons()

        self._calls[key] = run_async(self.wiz.core.aio, coro, parent=self, on_done=done, on_error=failed)
        self._buttons()

    def _buttons(self) -> None:
        self.scan_button.setEnabled("detect" not in self._calls)
        self.check_button.setEnabled("models" not in self._calls)
        self.try_button.setEnabled(self.model_combo.count() > 0 and "hello" not in self._calls)

    @property
    def busy(self) -> bool:
        return bool(self._calls)

    def shutdown(self) -> None:
        for call in list(self._calls.values()):
            call.cancel()
        self._calls.clear()
