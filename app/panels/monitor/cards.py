"""A compact "big number" card: title, value, and a detail line."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout


class StatCard(QFrame):
    def __init__(self, title: str, tooltip: str = "") -> None:
        super().__init__()
        self.setObjectName("statCard")
        self.setToolTip(tooltip)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.title = QLabel(title.upper())
        self.title.setObjectName("statTitle")
        self.value = QLabel("–")
        self.value.setObjectName("statValue")
        self.detail = QLabel(" ")
        self.detail.setObjectName("statDetail")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(2)
        for label in (self.title, self.value, self.detail):
            layout.addWidget(label)

    def set(self, value: str, detail: str = " ") -> None:
        self.value.setText(value)
        self.detail.setText(detail)
