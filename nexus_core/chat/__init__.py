"""Conversations and chat turns (routing, streaming, persistence) shared by the chat pane and the CLI."""

from nexus_core.chat.conversations import Conversation, ConversationStore, StoredMessage
from nexus_core.chat.service import ChatService, Turn, TurnEvent

__all__ = ["ChatService", "Conversation", "ConversationStore", "StoredMessage", "Turn", "TurnEvent"]
