"""The Log view: the app's log records as they happen (the same records the rotating log file gets)."""

from __future__ import annotations

import logging
import weakref

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.workers import deliver_to
from nexus_core.logs import LOG_FORMAT, RedactingFormatter

MAX_LINES = 5000


class _QtLogHandler(logging.Handler):
    """Hands records from any thread to the view on the GUI thread (nothing once the view has gone)."""

    def __init__(self, view: LogView) -> None:
        super().__init__(logging.DEBUG)
        self._view = weakref.ref(view)
        self.setFormatter(RedactingFormatter(LOG_FORMAT))  # the same lines as the log file

    def emit(self, record: logging.LogRecord) -> None:
        view = self._view()
        if view is not None:
            deliver_to(view, view.append_record, record.levelno, self.format(record))


class LogView(QWidget):
    def __init__(self, log_file: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log_file = log_file
        self.level = QComboBox()
        for name in ("DEBUG", "INFO", "WARNING", "ERROR"):
            self.level.addItem(name, getattr(logging, name))
        self.level.setCurrentText("INFO")
        self.level.setToolTip("Lowest level shown here (the log file keeps its own level)")
        open_file = QPushButton("Open log file")
        open_file.setToolTip(f"Open the whole log in your text viewer: {log_file}")
        open_file.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(self.log_file)))
        clear = QPushButton("Clear view")
        clear.setToolTip("Empty this view; the log file keeps every line")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setFont(QFont("monospace", 9))
        clear.clicked.connect(self.text.clear)
        top = QHBoxLayout()
        top.addWidget(self.level)
        top.addStretch(1)
        top.addWidget(clear)
        top.addWidget(open_file)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        self._show_recent_lines()
        self.handler = _QtLogHandler(self)
        logging.getLogger().addHandler(self.handler)

    def _show_recent_lines(self, max_bytes: int = 64_000, max_lines: int = 200) -> None:
        """Start with the end of the log file, so what happened during start-up is visible too."""
        try:
            with open(self.log_file, "rb") as handle:  # noqa: PTH123 - seek from the end
                handle.seek(0, 2)
                handle.seek(max(0, handle.tell() - max_bytes))
                tail = handle.read().decode("utf-8", errors="replace").splitlines()[1:][-max_lines:]
        except OSError:
            return
        for line in tail:
            self.text.appendPlainText(line)

    def append_record(self, level: int, line: str) -> None:
        if level >= self.level.currentData():
            self.text.appendPlainText(line)

    def detach(self) -> None:
        logging.getLogger().removeHandler(self.handler)
