"""User-facing errors: each says what went wrong, where, and what to do about it."""

from __future__ import annotations

from pathlib import Path


class NexusError(Exception):
    """An error whose message is written for the person using the app, not for a developer."""

    def __init__(self, what: str, *, path: Path | str | None = None, hint: str = "") -> None:
        self.what = what
        self.path = Path(path) if path is not None else None
        self.hint = hint
        super().__init__(self.user_message())

    def user_message(self) -> str:
        parts = [self.what]
        if self.path is not None:
            parts.append(f"File: {self.path}")
        if self.hint:
            parts.append(f"What to do: {self.hint}")
        return "\n".join(parts)


class DataDirError(NexusError):
    """The data folder cannot be created or written."""


class StoreError(NexusError):
    """The SQLite store cannot be opened or migrated."""


class StoreTooNewError(StoreError):
    """The store was written by a newer Nexus Studio whose schema this version does not know."""


class StoreCorruptError(StoreError):
    """The store file is not a readable SQLite database."""
