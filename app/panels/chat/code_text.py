"""Selectable monospace text sized to its content, for tool arguments and results.

A ``RichText`` rather than a QLabel: long JSON without spaces must wrap anywhere instead of widening
the whole conversation, and a fixed height keeps the message list's layout cheap.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QTextOption
from PySide6.QtWidgets import QWidget

from app.panels.chat.rich_text import RichText, open_external


class CodeText(RichText):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(open_external, parent)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)

    def set_text(self, text: str) -> None:
        if text != self.toPlainText():
            self.setPlainText(text)
            self._fit(self.document().size())
