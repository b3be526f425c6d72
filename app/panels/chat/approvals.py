"""Risky tool calls wait here for the user: one dialog at a time, in the order they asked.

The core's ``ChatService.approvals`` fires on its async loop; the bridge brings each request to the
GUI thread. Every request gets exactly one answer — a click, closing the dialog (deny), the turn
ending or being stopped (deny), or the pane closing (deny) — so no turn is left waiting forever.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from app.bridge import EmitterBridge
from app.panels.chat.approval_dialog import ApprovalDialog
from nexus_core.chat.service import ChatService, PendingApproval
from nexus_core.errors import NexusError


class ApprovalQueue(QObject):
    def __init__(self, chat: ChatService, parent: QWidget) -> None:
        super().__init__(parent)
        self._chat = chat
        self._parent = parent
        self._waiting: deque[PendingApproval] = deque()
        self.dialog: ApprovalDialog | None = None
        self.asked = 0  # how many requests reached the user (tests check that "always" stops the asking)
        self._bridge = EmitterBridge(chat.approvals, self)
        self._bridge.fired.connect(self._arrived)

    def waiting(self) -> int:
        """Requests queued behind the open dialog."""
        return len(self._waiting)

    def cancel(self, conversation_id: str) -> None:
        """The conversation's turn stopped or ended: its requests are denied and its dialog closed."""
        for pending in [p for p in self._waiting if p.request.conversation_id == conversation_id]:
            self._waiting.remove(pending)
            pending.respond("deny")
        if self.dialog is not None and self.dialog.conversation_id == conversation_id:
            self.dialog.reject()

    def close(self) -> None:
        self._bridge.close()
        while self._waiting:
            self._waiting.popleft().respond("deny")
        if self.dialog is not None:
            self.dialog.reject()

    def _arrived(self, pending: PendingApproval) -> None:
        cid = pending.request.conversation_id
        if cid is None or self._chat.active_turn(cid) is None:  # its turn ended before the request got here
            pending.respond("deny")
            return
        self._waiting.append(pending)
        self._show_next()

    def _show_next(self) -> None:
        if self.dialog is not None or not self._waiting:
            return
        pending = self._waiting.popleft()
        self.asked += 1
        dialog = ApprovalDialog(pending, self._title(pending.request.conversation_id), self._parent)
        dialog.decided.connect(self._decided)
        self.dialog = dialog
        dialog.open()

    def _decided(self, pending: PendingApproval, decision: str) -> None:
        pending.respond(decision)  # type: ignore[arg-type]
        if decision == "always":  # parallel calls of the same tool asked before the rule existed
            request = pending.request
            for other in [p for p in self._waiting if (p.request.conversation_id, p.request.tool)
                          == (request.conversation_id, request.tool)]:
                self._waiting.remove(other)
                other.respond("always")
        if self.dialog is not None and self.dialog.pending is pending:
            self.dialog.deleteLater()
            self.dialog = None
        self._show_next()

    def _title(self, conversation_id: str | None) -> str:
        if conversation_id is None:
            return ""
        try:
            return self._chat.conversations.get(conversation_id).title
        except NexusError:
            return ""
