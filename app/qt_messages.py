"""Send Qt's own diagnostic messages to the app log instead of the terminal."""

from __future__ import annotations

import logging

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

log = logging.getLogger("qt")
_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}
# Harmless platform notices that would otherwise fill the log on every start.
_NOISE = ("This plugin does not support propagateSizeHints()",)


def _handler(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    level = logging.DEBUG if message.startswith(_NOISE) else _LEVELS.get(kind, logging.WARNING)
    log.log(level, "%s", message)


def route_qt_messages_to_log() -> None:
    qInstallMessageHandler(_handler)
