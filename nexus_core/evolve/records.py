"""The build history in the store: every build's outcome, why it failed, how many fix rounds it took; and
the co-evolution loop's challenges. The progress view and ``nexus evolve status`` read from here."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from nexus_core.store import Store

FAILURE_CATEGORIES = ("syntax", "security", "test", "timeout", "protocol")


@dataclass(frozen=True)
class BuildRow:
    id: int
    started_at: float
    origin: str
    description: str
    name: str | None
    status: str
    category: str | None
    fix_rounds: int
    model: str | None
    template_version: int | None
    seconds: float | None


class BuildRecords:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, *, origin: str, description: str, started_at: float, name: str | None, status: str,
            category: str | None, fix_rounds: int, model: str | None, template_version: int | None,
            folder: str | None, seconds: float, model_seconds: float, report: dict[str, Any]) -> int:
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO module_builds (started_at, origin, description, name, status, category, fix_rounds, "
                "model, template_version, folder, seconds, model_seconds, report) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (started_at, origin, description, name, status, category, fix_rounds, model, template_version,
                 folder, seconds, model_seconds, json.dumps(report, default=str)))
            return int(cursor.lastrowid or 0)

    def set_status(self, build_id: int, status: str, category: str | None = None) -> None:
        self.store.execute("UPDATE module_builds SET status = ?, category = COALESCE(?, category) WHERE id = ?",
                           (status, category, build_id))

    def recent(self, limit: int = 200, origin: str | None = None) -> list[BuildRow]:
        where, params = ("WHERE origin = ?", [origin]) if origin else ("", [])
        rows = self.store.query(
            f"SELECT id, started_at, origin, description, name, status, category, fix_rounds, model, "
            f"template_version, seconds FROM module_builds {where} ORDER BY id DESC LIMIT ?", [*params, limit])
        return [BuildRow(*tuple(r)) for r in rows]

    def calls_since(self, since: float, origin: str = "evolve") -> int:
        row = self.store.query_one("SELECT COUNT(*) FROM module_builds WHERE origin = ? AND started_at >= ?",
                                   (origin, since))
        return int(row[0]) if row else 0

    # ---- challenges ----------------------------------------------------------------------------------

    def add_challenge(self, pattern: str, difficulty: int, title: str, spec: dict[str, Any]) -> int:
        with self.store.transaction() as conn:
            cursor = conn.execute("INSERT INTO evolve_challenges (created_at, pattern, difficulty, title, spec) "
                                  "VALUES (?, ?, ?, ?, ?)", (time.time(), pattern, difficulty, title,
                                                             json.dumps(spec)))
            return int(cursor.lastrowid or 0)

    def close_challenge(self, challenge_id: int, build_id: int | None, outcome: str) -> None:
        self.store.execute("UPDATE evolve_challenges SET build_id = ?, outcome = ? WHERE id = ?",
                           (build_id, outcome, challenge_id))

    def challenges(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT c.id, c.created_at, c.pattern, c.difficulty, c.title, c.outcome, b.category, b.fix_rounds, "
            "b.template_version FROM evolve_challenges c LEFT JOIN module_builds b ON b.id = c.build_id "
            "ORDER BY c.id DESC LIMIT ?", (limit,))
        keys = ("id", "created_at", "pattern", "difficulty", "title", "outcome", "category", "fix_rounds",
                "template_version")
        return [dict(zip(keys, tuple(r), strict=True)) for r in rows]
