"""Dialogs shared by several panels (kept apart from any one panel so each can reuse them)."""
