"""The gallery: what the media jobs made, newest first, with the parameters to make it again."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.store import Store


@dataclass(frozen=True)
class MediaItem:
    id: int
    created_at: float
    kind: str  # speech | image | video
    path: Path
    params: dict[str, Any]
    seconds: float
    notes: list[str]

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @property
    def title(self) -> str:
        text = self.params.get("prompt") or self.params.get("text") or Path(str(self.params.get("image", ""))).name
        return " ".join(str(text).split())[:80]


class Gallery:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, kind: str, path: Path, params: dict[str, Any], seconds: float, notes: list[str]) -> int:
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO media_items (created_at, kind, path, params, seconds, notes) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), kind, str(path), json.dumps(params, default=str), seconds, json.dumps(notes)))
            return int(cursor.lastrowid or 0)

    def items(self, kind: str | None = None, limit: int = 500) -> list[MediaItem]:
        where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
        rows = self.store.query(f"SELECT id, created_at, kind, path, params, seconds, notes FROM media_items {where} "
                                "ORDER BY id DESC LIMIT ?", [*params, limit])
        return [_item(row) for row in rows]

    def get(self, item_id: int) -> MediaItem | None:
        row = self.store.query_one("SELECT id, created_at, kind, path, params, seconds, notes FROM media_items "
                                   "WHERE id = ?", (item_id,))
        return _item(row) if row else None

    def remove(self, item_id: int, *, delete_file: bool = False) -> None:
        item = self.get(item_id)
        self.store.execute("DELETE FROM media_items WHERE id = ?", (item_id,))
        if item is not None and delete_file:
            item.path.unlink(missing_ok=True)


def _item(row: Any) -> MediaItem:
    id_, created, kind, path, params, seconds, notes = tuple(row)
    return MediaItem(int(id_), float(created), str(kind), Path(path), json.loads(params), float(seconds),
                     list(json.loads(notes)))
