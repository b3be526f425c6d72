"""A selectable rich-text view sized to its content: one rendered piece of a message."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QSizeF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QPalette, QWheelEvent
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QWidget

SAFE_SCHEMES = ("http", "https", "mailto")


def open_external(href: str) -> bool:
    """Open a link from model output in the user's browser, never inside the app, and only web/mail links."""
    url = QUrl(href)
    if url.scheme().lower() not in SAFE_SCHEMES:
        return False
    return QDesktopServices.openUrl(url)


class RichText(QTextBrowser):
    """A QTextBrowser without scroll bars whose height follows its document.

    Not a QLabel: a word-wrapped QLabel lays its whole document out again each time a layout asks for
    its height (many times per pass); here the document is laid out once per change or width, and the
    fixed height keeps the message list's layout cheap while an answer streams.
    """

    def __init__(self, on_link: Callable[[str], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, Qt.GlobalColor.transparent)
        self.setPalette(palette)
        self.viewport().setAutoFillBackground(False)
        self.document().setDocumentMargin(0)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.anchorClicked.connect(lambda url: on_link(url.toString()))
        self.setFixedHeight(0)

    def set_html(self, html: str) -> None:
        self.setHtml(html)
        self._fit(self.document().size())

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        event.ignore()  # it never scrolls itself: the wheel scrolls the conversation around it

    def _fit(self, size: QSizeF) -> None:
        height = math.ceil(size.height())
        if height != self.height():
            self.setFixedHeight(height)
