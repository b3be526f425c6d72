"""Numbered schema migrations: ``NNNN_description.sql`` files in this folder, applied in order.

A later feature adds its tables by adding the next numbered file; a migration is never edited after
it has shipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def discover_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or Path(__file__).parent
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files must be named NNNN_description.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"{folder}: migrations must be numbered 1..N without gaps, found {versions}")
    return found
