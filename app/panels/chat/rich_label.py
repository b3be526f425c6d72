"""A selectable rich-text label sized to its content: one rendered piece of a message."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QTextDocument
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

SAFE_SCHEMES = ("http", "https", "mailto")


def open_external(href: str) -> bool:
    """Open a link from model output in the user's browser, never inside the app, and only web/mail links."""
    url = QUrl(href)
    if url.scheme().lower() not in SAFE_SCHEMES:
        return False
    return QDesktopServices.openUrl(url)


class RichLabel(QLabel):
    """QLabel rather than QTextBrowser: it reports its height for a width, so the message list lays it out."""

    def __init__(self, on_link: Callable[[str], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.setOpenExternalLinks(False)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.linkActivated.connect(on_link)

    def plain_text(self) -> str:
        document = QTextDocument()
        document.setHtml(self.text())
        return document.toPlainText()
