"""Where the user types: Enter sends, Shift+Enter starts a new line; Send turns into Stop while answering.
Pictures, sound and video are attached with the Attach button, by dropping files on the input, or by pasting
(a pasted picture is saved as a PNG first); each shows as a chip that removes it when clicked."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from nexus_core.multimodal.media import AUDIO_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES

MAX_LINES = 8


class ComposerEdit(QPlainTextEdit):
    """Enter is taken here (not by a shortcut) so Shift+Enter can still start a new line."""

    submitted = Signal()
    files_given = Signal(list)  # paths dropped or pasted
    image_pasted = Signal(QImage)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Message…  (Enter sends, Shift+Enter starts a new line)")
        self.setTabChangesFocus(True)
        self.setAccessibleName("Message")
        self.setToolTip("Write your message: Enter sends it, Shift+Enter starts a new line; drop or paste files to "
                        "attach them")
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        plain_enter = (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                       and not event.modifiers() & (Qt.KeyboardModifier.ShiftModifier
                                                    | Qt.KeyboardModifier.ControlModifier
                                                    | Qt.KeyboardModifier.AltModifier))
        if plain_enter:
            event.accept()
            self.submitted.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.insertPlainText("\n")  # Shift+Enter (and Ctrl/Alt+Enter): a line break, never a send
            event.accept()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 - Qt API
        return source.hasUrls() or source.hasImage() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt API
        files = [Path(url.toLocalFile()) for url in source.urls() if url.isLocalFile()] if source.hasUrls() else []
        if files:
            self.files_given.emit(files)
        elif source.hasImage():
            self.image_pasted.emit(QImage(source.imageData()))
        else:
            super().insertFromMimeData(source)

    def _fit_height(self) -> None:
        """Grow with the text up to MAX_LINES lines, then scroll."""
        line = self.fontMetrics().lineSpacing()
        lines = max(2, min(MAX_LINES, self.document().blockCount()))
        margins = self.contentsMargins()
        frame = int(self.document().documentMargin() * 2) + margins.top() + margins.bottom()
        self.setFixedHeight(lines * line + frame + 4)


class Composer(QWidget):
    """The input and its Send/Stop button; it never talks to the core itself (the pane does)."""

    send_requested = Signal(str)
    stop_requested = Signal()

    attachments_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = ComposerEdit()
        self.attachments: list[Path] = []
        self.paste_dir: Path | None = None  # where pasted pictures are saved (the panel sets it)
        self.attach_button = QPushButton("Attach…")
        self.attach_button.setToolTip("Attach pictures, sound or video (or drop files here, or paste a picture)")
        self.attach_button.clicked.connect(self._choose)
        self.edit.files_given.connect(self.add_attachments)
        self.edit.image_pasted.connect(self._pasted)
        self.chips = QHBoxLayout()
        self.chips.setContentsMargins(16, 0, 16, 0)
        self.chips.addStretch(1)
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send the message (Enter)")
        self.send_button.clicked.connect(self._on_button)
        self.edit.submitted.connect(self._on_submitted)
        self.busy = False
        buttons = QVBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.attach_button)
        buttons.addWidget(self.send_button)
        row = QHBoxLayout()
        row.setContentsMargins(16, 6, 16, 12)
        row.addWidget(self.edit, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.chips)
        layout.addLayout(row)

    def set_busy(self, busy: bool, *, stopping: bool = False) -> None:
        """While the shown conversation is answering the button stops it; sending waits for the end."""
        self.busy = busy
        self.send_button.setText("Stop" if busy else "Send")
        self.send_button.setToolTip("Stop the answer; what was written so far is kept" if busy
                                    else "Send the message (Enter)")
        self.send_button.setEnabled(not (busy and stopping))

    def clear(self) -> None:
        self.edit.clear()
        self.attachments = []
        self._show_chips()

    def add_attachments(self, files: list[Path]) -> list[Path]:
        """Attach the pictures, sound and video among ``files`` (others are skipped); the ones skipped."""
        known = IMAGE_SUFFIXES | AUDIO_SUFFIXES | VIDEO_SUFFIXES
        skipped = [f for f in files if f.suffix.lower() not in known or not f.is_file()]
        self.attachments += [f for f in files if f not in skipped and f not in self.attachments]
        self._show_chips()
        return skipped

    def remove_attachment(self, path: Path) -> None:
        self.attachments = [a for a in self.attachments if a != path]
        self._show_chips()

    def _choose(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES | AUDIO_SUFFIXES | VIDEO_SUFFIXES))
        chosen, _filter = QFileDialog.getOpenFileNames(self, "Attach files", "", f"Pictures, sound, video "
                                                                                 f"({patterns})")
        if chosen:
            self.add_attachments([Path(c) for c in chosen])

    def _pasted(self, image: QImage) -> None:
        if image.isNull() or self.paste_dir is None:
            return
        self.paste_dir.mkdir(parents=True, exist_ok=True)
        target = self.paste_dir / f"pasted-{time.strftime('%Y%m%d-%H%M%S')}-{len(self.attachments)}.png"
        if image.save(str(target), "PNG"):
            self.add_attachments([target])

    def _show_chips(self) -> None:
        while self.chips.count() > 1:  # everything but the stretch at the end
            item = self.chips.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for path in self.attachments:
            chip = QPushButton(f"{path.name}  ✕")  # (emoji fonts are not everywhere)
            chip.setObjectName("attachmentChip")
            chip.setToolTip(f"{path}\nClick to remove")
            chip.setFlat(True)
            chip.clicked.connect(lambda _=False, p=path: self.remove_attachment(p))
            self.chips.insertWidget(self.chips.count() - 1, chip)
        self.attachments_changed.emit()

    def _on_button(self) -> None:
        if self.busy:
            self.stop_requested.emit()
        else:
            self._on_submitted()

    def _on_submitted(self) -> None:
        text = self.edit.toPlainText()
        if self.busy or not (text.strip() or self.attachments):
            return
        self.send_requested.emit(text)
