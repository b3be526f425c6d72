"""The wizard itself: its pages in order, what they share, and how it ends (marked done either way)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from app.icons import app_icon
from nexus_core.core import Core
from nexus_core.firstrun import HardwareReport
from nexus_core.providers.detect import DetectedServer


def value_label(text: str = "") -> QLabel:
    """A wrapped label for a value a page fills in (a GPU name, a path, an answer)."""
    label = QLabel(text)
    label.setWordWrap(True)
    return label


@dataclass
class WizardState:
    """What the pages found and chose, for the pages after them and the summary."""

    hardware: HardwareReport | None = None
    chat_models: list[Any] = field(default_factory=list)  # LibraryEntry of local causal LMs that can be loaded
    model_count: int = 0
    servers: list[DetectedServer] = field(default_factory=list)
    chat_ref: str | None = None  # provider/model made the default
    hello: str | None = None  # the answer to the test message…
    hello_ref: str | None = None  # …and the model that gave it
    problems: list[str] = field(default_factory=list)  # what went wrong on the way, shown on the last step


def _preload_sdks(core: Core) -> None:
    """The OpenAI SDK serves most providers a first run sets up (local servers and hosted ones alike)."""
    import importlib

    importlib.import_module("openai")
    core.providers.preload_sdks()


class WizardStep(QWidget):
    """One step of the wizard: its header, ``enter`` when reached going forward, ``leave`` (False stays) on Next."""

    header_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.subtitle = ""

    def set_header(self, title: str | None = None, subtitle: str | None = None) -> None:
        self.title = self.title if title is None else title
        self.subtitle = self.subtitle if subtitle is None else subtitle
        self.header_changed.emit()

    def enter(self) -> None:
        """Shown (going forward or back, each time, so it shows what other steps changed)."""

    def leave(self) -> bool:
        """Next was pressed: True moves on; a step that must wait (a passphrase being checked) moves on itself."""
        return True


class FirstRunWizard(QDialog):
    """``core`` is None on a true first run: the data-folder step opens it (through ``open_core``) once the folder
    is chosen. ``detect_ports`` lets tests point server detection at their loopback servers.

    A plain dialog over a stack of steps rather than a QWizard: with Qt 6.11 a QWizard that exists while the
    application style sheet changes twice (a theme switch) crashes the process under the Fusion style."""

    PAGE_DATA, PAGE_COMPUTER, PAGE_KEYS, PAGE_MODELS, PAGE_CHAT, PAGE_READY = range(6)

    def __init__(self, *, core: Core | None = None, data_dir: Path | None = None, data_dir_source: str = "default",
                 open_core: Callable[[Path], Core | None] | None = None, detect_ports: dict[str, int] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.first_run.chat_page import ChatPage
        from app.first_run.computer_page import ComputerPage
        from app.first_run.data_page import DataPage
        from app.first_run.keys_page import KeysPage
        from app.first_run.models_page import ModelsPage
        from app.first_run.ready_page import ReadyPage

        self.core = core
        self.open_core = open_core or (lambda folder: Core.open(folder))
        self.detect_ports = detect_ports
        self.state = WizardState()
        self.setWindowTitle("Welcome to Nexus Studio")
        folder = core.paths.root if core is not None else data_dir
        self.data_page = DataPage(self, folder, data_dir_source)
        self.computer_page = ComputerPage(self)
        self.keys_page = KeysPage(self)
        self.models_page = ModelsPage(self)
        self.chat_page = ChatPage(self)
        self.ready_page = ReadyPage(self)
        self.steps: list[WizardStep] = [self.data_page, self.computer_page, self.keys_page, self.models_page,
                                        self.chat_page, self.ready_page]
        self.stack = QStackedWidget()
        for step in self.steps:
            self.stack.addWidget(step)
            step.header_changed.connect(self._show_header)

        self.title_label = QLabel()
        self.title_label.setObjectName("panelTitle")
        self.subtitle_label = QLabel()
        self.subtitle_label.setObjectName("muted")
        self.subtitle_label.setWordWrap(True)
        self.step_label = QLabel()
        self.step_label.setObjectName("muted")
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(48, 48))
        titles = QVBoxLayout()
        titles.addWidget(self.title_label)
        titles.addWidget(self.subtitle_label)
        header = QHBoxLayout()
        header.addLayout(titles, 1)
        header.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)

        self.skip_button = QPushButton("Skip set-up")
        self.skip_button.setToolTip("Close the wizard and open Nexus Studio as it is (Help → Set-up wizard runs it "
                                    "again)")
        self.skip_button.clicked.connect(self.reject)
        self.back_button = QPushButton("< Back")
        self.back_button.setToolTip("Back to the previous step")
        self.back_button.clicked.connect(self.back)
        self.next_button = QPushButton("Next >")
        self.next_button.setToolTip("Go on to the next step")
        self.next_button.clicked.connect(self.next)
        self.finish_button = QPushButton("Start chatting")
        self.finish_button.setToolTip("Save what was chosen and open the chat")
        self.finish_button.clicked.connect(self.accept)
        for button in (self.skip_button, self.back_button, self.next_button, self.finish_button):
            button.setAutoDefault(False)  # Enter belongs to the field being typed in (a key's Check), not to Next
        buttons = QHBoxLayout()
        buttons.addWidget(self.skip_button)
        buttons.addStretch(1)
        buttons.addWidget(self.step_label)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        buttons.addWidget(self.finish_button)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)
        self.resize(760, 600)
        self._go(0)
        if core is not None:
            self.core_opened(core)

    def core_opened(self, core: Core) -> None:
        """The data folder is open: import the provider SDKs (about a second) while the person reads, not when they
        press Try it."""
        self.core = core
        threading.Thread(target=_preload_sdks, args=(core,), name="nexus-wizard-preload", daemon=True).start()

    # -- moving between steps ------------------------------------------------------------------------------------

    def currentId(self) -> int:  # noqa: N802 - the name QWizard users know
        return self.stack.currentIndex()

    def current_step(self) -> WizardStep:
        return self.steps[self.currentId()]

    def next(self) -> None:
        index = self.currentId()
        if index + 1 < len(self.steps) and self.current_step().leave():
            self._go(index + 1)

    def back(self) -> None:
        if self.currentId() > 0:
            self._go(self.currentId() - 1)

    def _go(self, index: int) -> None:
        self.stack.setCurrentIndex(index)
        last = index == len(self.steps) - 1
        self.back_button.setVisible(index > 0)
        self.next_button.setVisible(not last)
        self.finish_button.setVisible(last)
        self.skip_button.setVisible(not last)
        self.step_label.setText(f"Step {index + 1} of {len(self.steps)}")
        self.steps[index].enter()
        self._show_header()

    def _show_header(self) -> None:
        step = self.current_step()
        self.title_label.setText(step.title)
        self.subtitle_label.setText(step.subtitle)

    @property
    def busy(self) -> bool:
        """A step is still checking something in the background."""
        return (self.computer_page.busy or self.models_page.scanning or self.chat_page.busy
                or (self.currentId() == self.PAGE_KEYS and self.keys_page.state is None))

    def done(self, result: int) -> None:
        """Finished or skipped, the wizard does not come back on its own (Help → Set-up wizard reopens it)."""
        if self.core is not None:
            self.core.settings.first_run_done = True
            self.core.save_settings()
        self.chat_page.shutdown()
        super().done(result)
