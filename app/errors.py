"""The error dialog, and hooks that route every unhandled exception (any thread) to it and the log."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.workers import deliver_to
from nexus_core.logs import redact

log = logging.getLogger(__name__)


class ErrorDialog(QDialog):
    """Says what failed in words, with the technical details one click away."""

    def __init__(self, title: str, message: str, details: str = "", *, log_file: str | None = None,
                 warning: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        self.message = message
        self.warning = warning
        self.details = redact(details)
        icon = QLabel()
        kind = QStyle.StandardPixmap.SP_MessageBoxWarning if warning else QStyle.StandardPixmap.SP_MessageBoxCritical
        icon.setPixmap(self.style().standardIcon(kind).pixmap(40, 40))
        headline = QLabel(f"<b>{title}</b>")
        body = QLabel(message)
        body.setWordWrap(True)
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label = body
        self.details_view = QPlainTextEdit(self.details)
        self.details_view.setReadOnly(True)
        self.details_view.setVisible(False)
        self.details_view.setMinimumHeight(220)

        buttons = QDialogButtonBox()
        self.details_button = buttons.addButton("Show details", QDialogButtonBox.ButtonRole.ActionRole)
        self.details_button.setEnabled(bool(self.details))
        self.details_button.clicked.connect(self._toggle_details)
        copy = buttons.addButton("Copy details", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self._copy)
        if log_file:
            open_log = buttons.addButton("Open log", QDialogButtonBox.ButtonRole.ActionRole)
            open_log.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(log_file)))
        close: QPushButton = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.accept)

        top = QHBoxLayout()
        top.addWidget(icon, 0)
        text = QVBoxLayout()
        text.addWidget(headline)
        text.addWidget(body)
        top.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details_view)
        layout.addWidget(buttons)

    def _toggle_details(self) -> None:
        visible = not self.details_view.isVisible()
        self.details_view.setVisible(visible)
        self.details_button.setText("Hide details" if visible else "Show details")
        self.adjustSize()

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(f"{self.windowTitle()}\n{self.message}\n\n{self.details}")


class ExceptionRouter(QObject):
    """Installs sys/threading excepthooks; each unhandled exception is logged and shown in a dialog."""

    caught = Signal(str, str, str, bool)  # title, message, details, warning (not an error)

    def __init__(self, log_file: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_file = log_file
        self.dialogs: list[ErrorDialog] = []
        self.caught.connect(self._show)
        self._previous = (sys.excepthook, threading.excepthook)

    def install(self) -> None:
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous

    def report(self, title: str, message: str, details: str = "", *, warning: bool = False) -> None:
        """Show an error (or a warning) from any thread; the dialog opens on the GUI thread."""
        deliver_to(self, self.caught.emit, title, message, details, warning)

    def _sys_hook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous[0](exc_type, exc, tb)
            return
        self._handle(exc_type, exc, tb, "the main thread")

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "a background thread"
        self._handle(args.exc_type, args.exc_value, args.exc_traceback, name)

    def _handle(self, exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None,
                where: str) -> None:
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.critical("unhandled exception in %s:\n%s", where, details)
        message = (f"{exc_type.__name__}: {exc}\n\nNexus Studio kept running. The error was written to the log; "
                   "if it keeps happening, copy the details into a bug report.")
        deliver_to(self, self.caught.emit, "Something went wrong", message, details, False)

    def _show(self, title: str, message: str, details: str, warning: bool) -> None:
        dialog = ErrorDialog(title, message, details, log_file=self.log_file, warning=warning)
        dialog.setModal(False)
        dialog.finished.connect(lambda _=0, d=dialog: self._forget(d))
        self.dialogs.append(dialog)
        dialog.show()

    def _forget(self, dialog: ErrorDialog) -> None:
        if dialog in self.dialogs:
            self.dialogs.remove(dialog)
        dialog.deleteLater()
