"""Conversations and their messages in the store: list, search, rename, delete, export as Markdown."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.providers.types import ChatMessage, ToolCall
from nexus_core.store import Store

TITLE_CHARS = 60


@dataclass
class Conversation:
    id: str
    title: str
    model_override: str | None
    created_at: float
    updated_at: float


@dataclass
class StoredMessage:
    id: str
    conversation_id: str
    seq: int
    role: str
    content: str
    status: str = "complete"  # complete | streaming | partial | error
    error: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    def to_chat_message(self) -> ChatMessage:
        return ChatMessage(role=self.role, content=self.content, tool_calls=list(self.tool_calls),  # type: ignore[arg-type]
                           tool_call_id=self.tool_call_id, attachments=list(self.meta.get("attachments") or []))


@dataclass(frozen=True)
class ConversationChange:
    kind: str  # "created", "renamed", "deleted", "updated"
    conversation_id: str


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class ConversationStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.changed: Emitter[ConversationChange] = Emitter("conversations.changed")

    # ---- conversations ---------------------------------------------------------------------------

    def create(self, title: str = "New chat", *, model_override: str | None = None) -> Conversation:
        now = time.time()
        conv = Conversation(uuid.uuid4().hex, title.strip() or "New chat", model_override, now, now)
        self._store.execute("INSERT INTO conversations (id, title, model_override, created_at, updated_at) "
                            "VALUES (?, ?, ?, ?, ?)", (conv.id, conv.title, model_override, now, now))
        self.changed.emit(ConversationChange("created", conv.id))
        return conv

    def get(self, conversation_id: str) -> Conversation:
        row = self._store.query_one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise NexusError(f"There is no conversation with id {conversation_id!r}.",
                             hint="List conversations with the chat pane (or start a new one).")
        return _conversation(row)

    def find(self, prefix: str) -> Conversation:
        """A conversation by id or unique id prefix (for the CLI)."""
        rows = self._store.query("SELECT * FROM conversations WHERE id LIKE ? LIMIT 2", (prefix + "%",))
        if len(rows) != 1:
            what = "no conversation" if not rows else "several conversations"
            raise NexusError(f"There is {what} whose id starts with {prefix!r}.", hint="Give more of the id.")
        return _conversation(rows[0])

    def list(self, search: str = "", limit: int = 500) -> list[Conversation]:
        if search.strip():
            like = f"%{_escape_like(search.strip())}%"
            rows = self._store.query(
                "SELECT * FROM conversations c WHERE c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m "
                "WHERE m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\\') "
                "ORDER BY updated_at DESC LIMIT ?", (like, like, limit))
        else:
            rows = self._store.query("SELECT * FROM conversations ORDER BY updated_at DESC LIMIT ?", (limit,))
        return [_conversation(r) for r in rows]

    def rename(self, conversation_id: str, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise NexusError("A conversation title cannot be empty.", hint="Type a name.")
        self._touch(conversation_id, title=title)
        self.changed.emit(ConversationChange("renamed", conversation_id))

    def set_model_override(self, conversation_id: str, model_ref: str | None) -> None:
        self._store.execute("UPDATE conversations SET model_override = ? WHERE id = ?",
                            (model_ref or None, conversation_id))
        self.changed.emit(ConversationChange("updated", conversation_id))

    def delete(self, conversation_id: str) -> None:
        self._store.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        self.changed.emit(ConversationChange("deleted", conversation_id))

    def _touch(self, conversation_id: str, *, title: str | None = None) -> None:
        if title is None:
            count = self._store.execute("UPDATE conversations SET updated_at = ? WHERE id = ?",
                                        (time.time(), conversation_id))
        else:
            count = self._store.execute("UPDATE conversations SET updated_at = ?, title = ? WHERE id = ?",
                                        (time.time(), title, conversation_id))
        if count == 0:
            self.get(conversation_id)  # raises the clear "no such conversation" error

    # ---- messages --------------------------------------------------------------------------------

    def messages(self, conversation_id: str) -> list[StoredMessage]:
        rows = self._store.query("SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq", (conversation_id,))
        return [_message(r) for r in rows]

    def message(self, message_id: str) -> StoredMessage:
        row = self._store.query_one("SELECT * FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise NexusError(f"There is no message with id {message_id!r}.")
        return _message(row)

    def append(self, conversation_id: str, role: str, content: str, *, status: str = "complete",
               meta: dict[str, Any] | None = None, tool_calls: list[ToolCall] | None = None,
               tool_call_id: str | None = None, error: str | None = None) -> StoredMessage:
        now = time.time()
        msg_id = uuid.uuid4().hex
        with self._store.transaction() as conn:
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?",
                               (conversation_id,)).fetchone()
            seq = int(row[0])
            conn.execute("INSERT INTO messages (id, conversation_id, seq, role, content, status, error, tool_calls, "
                         "tool_call_id, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (msg_id, conversation_id, seq, role, content, status, error,
                          _calls_json(tool_calls), tool_call_id, json.dumps(meta or {}), now))
            if role == "user" and seq == 1:
                conn.execute("UPDATE conversations SET title = ? WHERE id = ? AND title = 'New chat'",
                             (title_from(content), conversation_id))
            conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
        self.changed.emit(ConversationChange("updated", conversation_id))
        return self.message(msg_id)

    def insert_before(self, message_id: str, role: str, content: str, *, status: str = "complete",
                      meta: dict[str, Any] | None = None, tool_calls: list[ToolCall] | None = None,
                      tool_call_id: str | None = None) -> StoredMessage:
        """Insert a message where ``message_id`` is, moving that one to the end (tool rounds before the answer)."""
        now = time.time()
        new_id = uuid.uuid4().hex
        with self._store.transaction() as conn:
            row = conn.execute("SELECT conversation_id, seq FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise NexusError(f"There is no message with id {message_id!r}.")
            conversation_id, seq = row[0], row[1]
            conn.execute("UPDATE messages SET seq = (SELECT MAX(seq) + 1 FROM messages WHERE conversation_id = ?) "
                         "WHERE id = ?", (conversation_id, message_id))
            conn.execute("INSERT INTO messages (id, conversation_id, seq, role, content, status, error, tool_calls, "
                         "tool_call_id, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
                         (new_id, conversation_id, seq, role, content, status, _calls_json(tool_calls),
                          tool_call_id, json.dumps(meta or {}), now))
        self.changed.emit(ConversationChange("updated", conversation_id))
        return self.message(new_id)

    def update_message(self, message_id: str, *, content: str | None = None, status: str | None = None,
                       error: str | None = None, meta: dict[str, Any] | None = None,
                       tool_calls: list[ToolCall] | None = None) -> None:
        sets, params = [], []
        for column, value in (("content", content), ("status", status), ("error", error)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if meta is not None:
            sets.append("meta = ?")
            params.append(json.dumps(meta))
        if tool_calls is not None:
            sets.append("tool_calls = ?")
            params.append(_calls_json(tool_calls))
        if sets:
            self._store.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", [*params, message_id])

    def truncate_from(self, conversation_id: str, seq: int) -> int:
        """Delete the messages at ``seq`` and after (edit-and-resend, regenerate)."""
        count = self._store.execute("DELETE FROM messages WHERE conversation_id = ? AND seq >= ?",
                                    (conversation_id, seq))
        self._touch(conversation_id)
        self.changed.emit(ConversationChange("updated", conversation_id))
        return count

    def recover_interrupted(self) -> int:
        """Answers that were streaming when the app stopped become partial answers, never lost."""
        return self._store.execute("UPDATE messages SET status = 'partial', error = ? WHERE status = 'streaming'",
                                   ("The app closed while this answer was being written; it is incomplete.",))

    # ---- export ----------------------------------------------------------------------------------

    def export_markdown(self, conversation_id: str) -> str:
        conv = self.get(conversation_id)
        lines = [f"# {conv.title}", "",
                 f"*Exported from Nexus Studio on {time.strftime('%Y-%m-%d %H:%M', time.localtime())}*", ""]
        for msg in self.messages(conversation_id):
            if msg.role == "system":
                continue
            if msg.role == "user":
                lines += ["## You", "", msg.content, ""]
            elif msg.role == "tool":
                lines += [f"### Tool result ({msg.meta.get('tool', msg.tool_call_id or 'tool')})", "", "```",
                          msg.content, "```", ""]
            else:
                about = ", ".join(str(v) for v in (msg.meta.get("model_ref"), msg.meta.get("tier")) if v)
                lines += [f"## Assistant{f' ({about})' if about else ''}", ""]
                if msg.content:
                    lines += [msg.content, ""]
                for call in msg.tool_calls:
                    lines += [f"*Called tool `{call.name}` with* `{call.arguments}`", ""]
                if msg.status in ("partial", "error") and msg.error:
                    label = "Incomplete answer" if msg.status == "partial" else "No answer"
                    lines += [f"> **{label}:** {msg.error.splitlines()[0]}", ""]
        return "\n".join(lines).rstrip() + "\n"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _calls_json(calls: list[ToolCall] | None) -> str | None:
    return json.dumps([c.to_dict() for c in calls]) if calls else None


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(row["id"], row["title"], row["model_override"], row["created_at"], row["updated_at"])


def _message(row: sqlite3.Row) -> StoredMessage:
    calls = [ToolCall(**c) for c in json.loads(row["tool_calls"])] if row["tool_calls"] else []
    try:
        meta = json.loads(row["meta"] or "{}")
    except json.JSONDecodeError:
        meta = {}
    return StoredMessage(row["id"], row["conversation_id"], row["seq"], row["role"], row["content"], row["status"],
                         row["error"], calls, row["tool_call_id"], meta, row["created_at"])
