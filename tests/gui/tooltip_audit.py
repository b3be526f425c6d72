"""Find the interactive controls under a widget that have no tooltip (issue 16: a tooltip on every control).

Audited: buttons (QAbstractButton: push, tool, check and radio buttons), combo boxes, line edits, spin boxes,
sliders and dials, and editable text edits. Hidden controls count too: they show up in some state.

Not audited:
- item views, tab bars, scroll bars, read-only text edits (they are displays, or their items carry the tips);
- Qt's own parts: anything whose objectName starts with ``qt_`` (dock title-bar buttons, spin-box line edits,
  tool-bar and menu-bar extension buttons), the line edit inside a combo or spin box, the scroll and close
  buttons of a tab bar, and buttons of Qt's private actions (``_q_``: a line edit's clear button);
- a dialog button box's OK / Cancel / Close / Apply buttons (their meaning is plain).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
    QTabBar,
    QTextEdit,
    QToolButton,
    QWidget,
)

CONTROLS = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QAbstractSlider, QPlainTextEdit, QTextEdit)
PLAIN_BUTTONS = (QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Cancel,
                 QDialogButtonBox.StandardButton.Close, QDialogButtonBox.StandardButton.Apply)


def _is_audited(widget: QWidget) -> bool:
    if not isinstance(widget, CONTROLS) or isinstance(widget, QScrollBar):
        return False
    if widget.objectName().startswith("qt_"):
        return False
    parent = widget.parentWidget()
    if isinstance(widget, QLineEdit) and isinstance(parent, QComboBox | QAbstractSpinBox):
        return False
    if isinstance(widget, QAbstractButton) and isinstance(parent, QTabBar):
        return False
    if isinstance(widget, QToolButton) and widget.defaultAction() is not None \
            and widget.defaultAction().objectName().startswith("_q_"):
        return False
    if isinstance(widget, QPlainTextEdit | QTextEdit) and widget.isReadOnly():
        return False
    if isinstance(widget, QAbstractButton) and isinstance(parent, QDialogButtonBox):
        return parent.standardButton(widget) not in PLAIN_BUTTONS
    return True


def _name(widget: QWidget) -> str:
    name = type(widget).__name__
    return f"{name}#{widget.objectName()}" if widget.objectName() else name


def _form_label(widget: QWidget) -> str:
    """The text of the form label beside the control (or beside the row holding it), if any."""
    child: QWidget | None = widget
    for _ in range(3):
        parent = child.parentWidget() if child is not None else None
        if parent is None:
            return ""
        layout = parent.layout()
        forms = [layout] if isinstance(layout, QFormLayout) else []
        forms += list(parent.findChildren(QFormLayout))
        for form in forms:
            label = form.labelForField(child)
            if label is not None and hasattr(label, "text"):
                return label.text()
        child = parent
    return ""


def describe(widget: QWidget, root: QWidget) -> str:
    """Class#objectName, what it shows, its form label, then the parents up to ``root``."""
    bits = [_name(widget)]
    text = widget.text() if isinstance(widget, QAbstractButton | QLineEdit) else ""
    if isinstance(widget, QComboBox):
        text = widget.currentText()
    if text:
        bits.append(f"text={text!r}")
    placeholder = widget.placeholderText() if isinstance(widget, QLineEdit | QPlainTextEdit | QTextEdit) else ""
    if placeholder:
        bits.append(f"placeholder={placeholder!r}")
    label = _form_label(widget)
    if label:
        bits.append(f"label={label!r}")
    chain: list[str] = []
    parent = widget.parentWidget()
    while parent is not None and parent is not root:
        if not type(parent).__module__.startswith("PySide6") or parent.objectName():
            chain.append(_name(parent))
        parent = parent.parentWidget()
    return " ".join(bits) + (" in " + " < ".join(chain) if chain else "")


def controls_without_tooltips(root: QWidget) -> list[str]:
    """A readable line for every audited control under ``root`` whose tooltip is empty."""
    return [describe(w, root) for w in root.findChildren(QWidget) if _is_audited(w) and not w.toolTip().strip()]
