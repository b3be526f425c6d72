"""The wizard itself: its pages in order, what they share, and how it ends (marked done either way)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QWidget, QWizard

from app.icons import app_icon
from nexus_core.core import Core
from nexus_core.firstrun import HardwareReport
from nexus_core.providers.detect import DetectedServer


@dataclass
class WizardState:
    """What the pages found and chose, for the pages after them and the summary."""

    hardware: HardwareReport | None = None
    keys: str = ""  # one line: where API keys are kept
    chat_models: list[Any] = field(default_factory=list)  # LibraryEntry of local causal LMs that can be loaded
    model_count: int = 0
    servers: list[DetectedServer] = field(default_factory=list)
    chat_ref: str | None = None  # provider/model made the default
    hello: str | None = None  # its answer to the test message


class FirstRunWizard(QWizard):
    """``core`` is None on a true first run: the data-folder page opens it (through ``open_core``) once the folder
    is chosen. ``detect_ports`` lets tests point server detection at their loopback servers."""

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
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setPixmap(QWizard.WizardPixmap.LogoPixmap, app_icon().pixmap(48, 48))
        self.setButtonText(QWizard.WizardButton.CancelButton, "Skip set-up")
        self.setButtonText(QWizard.WizardButton.FinishButton, "Start chatting")
        self.button(QWizard.WizardButton.CancelButton).setToolTip(
            "Close the wizard and open Nexus Studio as it is (Help → Set-up wizard runs it again)")
        self.button(QWizard.WizardButton.NextButton).setToolTip("Go on to the next step")
        self.button(QWizard.WizardButton.BackButton).setToolTip("Back to the previous step")
        self.button(QWizard.WizardButton.FinishButton).setToolTip("Save what was chosen and open the chat")
        folder = core.paths.root if core is not None else data_dir
        self.data_page = DataPage(self, folder, data_dir_source)
        self.computer_page = ComputerPage(self)
        self.keys_page = KeysPage(self)
        self.models_page = ModelsPage(self)
        self.chat_page = ChatPage(self)
        self.ready_page = ReadyPage(self)
        for page_id, page in ((self.PAGE_DATA, self.data_page), (self.PAGE_COMPUTER, self.computer_page),
                              (self.PAGE_KEYS, self.keys_page), (self.PAGE_MODELS, self.models_page),
                              (self.PAGE_CHAT, self.chat_page), (self.PAGE_READY, self.ready_page)):
            self.setPage(page_id, page)
        self.resize(760, 600)

    def done(self, result: int) -> None:
        """Finished or skipped, the wizard does not come back on its own (Help → Set-up wizard reopens it)."""
        if self.core is not None:
            self.core.settings.first_run_done = True
            self.core.save_settings()
        self.chat_page.shutdown()
        super().done(result)
