"""Chat with the routed models: conversations, streamed Markdown answers, per-conversation model choice."""

from app.panels.registry import register_panel

register_panel("chat", title="Chat", icon="chat", order=10,
               factory="app.panels.chat.panel:ChatPanel",
               description="Talk to your models: the router picks one per message, or choose one per conversation. "
                           "Answers stream as Markdown; conversations are kept, searchable and exportable.")
