"""Light and dark themes on Qt's Fusion style, following the system colour scheme unless overridden."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#3b82f6"

_COLOURS = {
    "light": {"window": "#f5f6f8", "base": "#ffffff", "alt": "#eef0f3", "text": "#1f2328", "muted": "#5b6470",
              "button": "#e9ebef", "border": "#d0d5dc", "sidebar": "#e9ecf1", "tooltip": "#ffffe8",
              "banner_bg": "#fff4d6", "banner_fg": "#6b4e00", "banner_border": "#f0d58a"},
    "dark": {"window": "#1e2127", "base": "#16181d", "alt": "#23272e", "text": "#e6e8eb", "muted": "#9aa3ad",
             "button": "#2b3038", "border": "#3a404a", "sidebar": "#191c21", "tooltip": "#2b3038",
             "banner_bg": "#3a2f12", "banner_fg": "#f3d48b", "banner_border": "#6b5318"},
}


def colours(theme: str) -> dict[str, str]:
    return _COLOURS["dark" if theme == "dark" else "light"]


def system_theme() -> str:
    scheme = QGuiApplication.styleHints().colorScheme()
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def resolve(choice: str) -> str:
    return system_theme() if choice == "system" else ("dark" if choice == "dark" else "light")


def apply_theme(app: QApplication, choice: str) -> str:
    """Apply ``choice`` ("system", "light" or "dark"); returns the effective theme."""
    theme = resolve(choice)
    c = colours(theme)
    if app.style().name().lower() != "fusion":  # replacing the style deletes the old one under every widget
        app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: c["window"], QPalette.ColorRole.WindowText: c["text"],
        QPalette.ColorRole.Base: c["base"], QPalette.ColorRole.AlternateBase: c["alt"],
        QPalette.ColorRole.Text: c["text"], QPalette.ColorRole.Button: c["button"],
        QPalette.ColorRole.ButtonText: c["text"], QPalette.ColorRole.ToolTipBase: c["tooltip"],
        QPalette.ColorRole.ToolTipText: c["text"], QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: c["muted"], QPalette.ColorRole.Mid: c["border"],
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(c["muted"]))
    app.setPalette(palette)
    app.setStyleSheet(_stylesheet(c))
    return theme


def _stylesheet(c: dict[str, str]) -> str:
    return f"""
    QListWidget#navigation {{ background: {c['sidebar']}; border: none; border-right: 1px solid {c['border']};
        padding-top: 8px; font-size: 13px; }}
    QListWidget#navigation::item {{ padding: 9px 10px; margin: 2px 8px; border-radius: 6px; color: {c['text']}; }}
    QListWidget#navigation::item:selected {{ background: {ACCENT}; color: white; }}
    QListWidget#navigation::item:hover:!selected {{ background: {c['button']}; }}
    QFrame#statCard {{ background: {c['base']}; border: 1px solid {c['border']}; border-radius: 8px; }}
    QLabel#statTitle {{ color: {c['muted']}; font-size: 11px; text-transform: uppercase; }}
    QLabel#statValue {{ font-size: 20px; font-weight: 600; }}
    QLabel#statDetail {{ color: {c['muted']}; font-size: 11px; }}
    QLabel#panelTitle {{ font-size: 18px; font-weight: 600; }}
    QLabel#banner {{ background: {c['banner_bg']}; color: {c['banner_fg']};
        border: 1px solid {c['banner_border']}; border-radius: 6px; padding: 8px 10px; }}
    QLabel#muted {{ color: {c['muted']}; }}
    QStatusBar QLabel {{ color: {c['muted']}; padding: 0 6px; }}
    QToolTip {{ color: {c['text']}; background: {c['tooltip']}; border: 1px solid {c['border']}; }}
    """
