"""The left column: new chat, search (titles and message text), and the conversations, newest first."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.workers import run_async
from nexus_core.atomic import atomic_write_text
from nexus_core.chat.conversations import Conversation, ConversationStore
from nexus_core.errors import NexusError

SEARCH_DELAY_MS = 200
ID_ROLE = Qt.ItemDataRole.UserRole


def export_markdown(conversations: ConversationStore, conversation_id: str, path: Path) -> Path:
    """Runs on a worker thread: the store read and the fsync'ed write never wait on the GUI."""
    return atomic_write_text(path, conversations.export_markdown(conversation_id))


def file_name_for(title: str) -> str:
    stem = re.sub(r"[^\w\- ]+", "", title).strip().replace(" ", "-")[:60]
    return f"{stem or 'conversation'}.md"


class ConversationList(QWidget):
    """Rename, delete and export act on the store directly; the pane follows through its change events."""

    selected = Signal(object)  # conversation id, or None when nothing is selected
    new_requested = Signal()
    problem = Signal(str)  # a user-ready error message
    info = Signal(str)  # a short confirmation

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.conversations = ctx.core.chat.conversations
        self._filling = False
        self._refresh_after_edit = False
        self._shown: str | None = None  # the conversation the pane shows: kept selected across reloads
        self.new_button = QPushButton("New chat")
        self.new_button.setToolTip("Start a new conversation (it is saved when you send the first message)")
        self.new_button.clicked.connect(self.new_requested)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search conversations…")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setToolTip("Finds words in titles and in every message")
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)
        self.search_box.textChanged.connect(lambda _text: self._search_timer.start())

        self.list = QListWidget()
        self.list.setObjectName("conversationList")
        self.list.setAccessibleName("Conversations")
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)  # long titles end in "…", no sideways scrolling
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setUniformItemSizes(True)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.DoubleClicked)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemDelegate().closeEditor.connect(self._on_editor_closed)

        self.rename_button = QPushButton("Rename")
        self.rename_button.setToolTip("Rename the selected conversation (or double-click it, or press F2)")
        self.rename_button.clicked.connect(self.rename_current)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the conversation as a Markdown file")
        self.export_button.clicked.connect(self.export_current)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected conversation and its messages (asks first)")
        self.delete_button.clicked.connect(self.delete_current)
        actions = QHBoxLayout()
        for button in (self.rename_button, self.export_button, self.delete_button):
            actions.addWidget(button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 6, 12)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_box)
        layout.addWidget(self.list, 1)
        layout.addLayout(actions)
        self._update_buttons()

    # ---- reading -----------------------------------------------------------------------------------

    def ids(self) -> list[str]:
        return [self.list.item(row).data(ID_ROLE) for row in range(self.list.count())]

    def titles(self) -> list[str]:
        return [self.list.item(row).text() for row in range(self.list.count())]

    def current_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(ID_ROLE) if item is not None else None

    def item_for(self, conversation_id: str) -> QListWidgetItem | None:
        return next((self.list.item(r) for r in range(self.list.count())
                     if self.list.item(r).data(ID_ROLE) == conversation_id), None)

    # ---- filling -----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload from the store (after a change or a search), keeping the selection."""
        if self.list.state() == QAbstractItemView.State.EditingState:
            self._refresh_after_edit = True  # rebuilding now would throw away the title being typed
            return
        self._search_timer.stop()
        self._fill(self.conversations.list(self.search_box.text()), self._shown)

    def select(self, conversation_id: str | None) -> None:
        """Show ``conversation_id`` as selected without announcing it (the pane already shows it)."""
        self._shown = conversation_id
        self._filling = True
        try:
            item = self.item_for(conversation_id) if conversation_id else None
            if item is None:
                self.list.setCurrentRow(-1)
                self.list.clearSelection()
            else:
                self.list.setCurrentItem(item)
        finally:
            self._filling = False
        self._update_buttons()

    def _fill(self, conversations: list[Conversation], current: str | None) -> None:
        self._filling = True
        try:
            self.list.clear()
            for conv in conversations:
                item = QListWidgetItem(conv.title)
                item.setData(ID_ROLE, conv.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(conv.updated_at))
                model = f"\nModel: {conv.model_override}" if conv.model_override else ""
                item.setToolTip(f"{conv.title}\nLast message {when}{model}")
                self.list.addItem(item)
                if conv.id == current:
                    self.list.setCurrentItem(item)
        finally:
            self._filling = False
        self._update_buttons()

    def _on_current(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        self._update_buttons()
        if not self._filling and current is not None:
            self._shown = current.data(ID_ROLE)
            self.selected.emit(self._shown)

    def _update_buttons(self) -> None:
        has = self.list.currentItem() is not None
        for button in (self.rename_button, self.export_button, self.delete_button):
            button.setEnabled(has)

    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        menu.addAction("Rename", self.rename_current)
        menu.addAction("Export as Markdown…", self.export_current)
        menu.addSeparator()
        menu.addAction("Delete…", self.delete_current)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    # ---- rename (in place) -----------------------------------------------------------------------------

    def rename_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.list.editItem(item)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        conversation_id = item.data(ID_ROLE)
        try:
            if item.text().strip() != self.conversations.get(conversation_id).title:
                self.conversations.rename(conversation_id, item.text())
        except NexusError as exc:
            self.problem.emit(exc.user_message())
            self._refresh_after_edit = True

    def _on_editor_closed(self, *_args: object) -> None:
        if self._refresh_after_edit:
            self._refresh_after_edit = False
            QTimer.singleShot(0, self.refresh)

    # ---- delete and export -----------------------------------------------------------------------------

    def delete_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        answer = QMessageBox.question(self, "Delete conversation",
                                      f"Delete “{item.text()}” and all its messages? This cannot be undone.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        conversation_id = item.data(ID_ROLE)
        self.ctx.core.chat.stop(conversation_id)  # its answer would otherwise be written into nothing
        self.conversations.delete(conversation_id)

    def export_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        chosen, _filter = QFileDialog.getSaveFileName(self, "Export conversation as Markdown",
                                                      str(Path.home() / file_name_for(item.text())),
                                                      "Markdown (*.md);;All files (*)")
        if not chosen:
            return
        path = Path(chosen)
        run_async(self.ctx.core.aio,
                  asyncio.to_thread(export_markdown, self.conversations, item.data(ID_ROLE), path), parent=self,
                  on_done=lambda written: self.info.emit(f"Exported to {written}"),
                  on_error=lambda exc: self.problem.emit(_export_error(path, exc)))


def _export_error(path: Path, exc: BaseException) -> str:
    if isinstance(exc, NexusError):
        return exc.user_message()
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"The conversation could not be exported to {path}: {reason}.\nWhat to do: choose another folder or name."
