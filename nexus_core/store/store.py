"""SQLite store: one connection shared by the app's threads, serialised by a lock, in WAL mode so
other processes (the ``nexus`` CLI) can read while the GUI writes.

Opening a store from an older version backs the file up before migrating; a store from a newer
version, or a file that is not a database, is refused with a clear error and left untouched.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from nexus_core.atomic import stamped_sibling
from nexus_core.errors import StoreCorruptError, StoreError, StoreTooNewError
from nexus_core.store.functions import register as register_functions
from nexus_core.store.migrations import Migration, discover_migrations

log = logging.getLogger(__name__)
_KEEP_BACKUPS = 5


class Store:
    def __init__(self, path: Path | str, *, backups_dir: Path | None = None,
                 migrations: Sequence[Migration] | None = None) -> None:
        self.path = Path(path)
        self.backups_dir = backups_dir or self.path.parent / "backups"
        self._migrations = list(migrations) if migrations is not None else discover_migrations()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def latest_version(self) -> int:
        return self._migrations[-1].version if self._migrations else 0

    def open(self) -> Store:
        """Connect, check the schema version, back up and migrate if needed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        except sqlite3.Error as exc:
            raise StoreError(f"The store cannot be opened ({exc}).", path=self.path,
                             hint="Check the data folder's permissions and free disk space.") from exc
        conn.row_factory = sqlite3.Row
        register_functions(conn)
        try:
            current = _read_version(conn)  # read-only: a store we must refuse stays byte-identical
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreCorruptError(
                f"The store is damaged or is not a Nexus Studio database ({exc}).", path=self.path,
                hint="Restore a copy from the backups folder, or move the file aside to start a fresh "
                     "store (the app offers to do this and keeps the old file).") from exc
        if current > self.latest_version:
            conn.close()
            raise StoreTooNewError(
                f"The store was written by a newer Nexus Studio (schema {current}; this version knows "
                f"up to {self.latest_version}). It was left untouched.", path=self.path,
                hint="Update Nexus Studio, or set NEXUS_HOME to another data folder.")
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                         "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"The store cannot be prepared for use ({exc}).", path=self.path,
                             hint="Check free disk space and the data folder's permissions.") from exc
        self._conn = conn
        if current < self.latest_version:
            if current > 0:
                try:
                    self.backup(self.backups_dir / f"nexus-v{current}-{time.strftime('%Y%m%d-%H%M%S')}.db")
                except (OSError, sqlite3.Error) as exc:
                    self.close()
                    raise StoreError(f"The store could not be backed up before upgrading ({exc}); it was not "
                                     "changed.", path=self.path,
                                     hint="Free some disk space in the data folder and start again.") from exc
            try:
                self._migrate(current)
            except sqlite3.Error as exc:
                self.close()
                raise StoreError(f"Upgrading the store failed ({exc}); the upgrade was rolled back and a backup "
                                 f"is in {self.backups_dir}.", path=self.path,
                                 hint="Report this with the log file attached.") from exc
        return self

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA optimize")
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self.open() if self._conn is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        row = self.query_one("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
        return int(row["v"]) if row else 0

    # -- queries ---------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("The store is not open.", path=self.path, hint="Call Store.open() first.")
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement in its own transaction; returns the number of changed rows."""
        with self._lock:
            return self.conn.execute(sql, params).rowcount

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    @contextlib.contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of its own, for long reads (the dashboard's statistics): in WAL mode they
        neither wait for writes nor make them wait, and they do not hold the store's lock."""
        if str(self.path) == ":memory:":
            with self._lock:
                yield self.conn
            return
        conn = sqlite3.connect(f"{Path(self.path).absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        register_functions(conn)
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside commit together or not at all."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- key/value -------------------------------------------------------------------------
    def get_value(self, key: str, default: str | None = None) -> str | None:
        row = self.query_one("SELECT value FROM kv WHERE key = ?", (key,))
        return row["value"] if row else default

    def set_value(self, key: str, value: str) -> None:
        self.execute("INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                     (key, value, time.time()))

    # -- maintenance -----------------------------------------------------------------------
    def backup(self, destination: Path,
               progress: Callable[[int, int], None] | None = None, pages_per_step: int = 64) -> Path:
        """Copy the live database with SQLite's online backup API (consistent even while in use)."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        target = sqlite3.connect(partial)
        try:
            with self._lock:
                self.conn.backup(target, pages=pages_per_step,
                                 progress=(lambda _status, remaining, total: progress(total - remaining, total))
                                 if progress else None)
        finally:
            target.close()
        partial.replace(destination)
        self._prune_backups()
        log.info("store backed up to %s", destination)
        return destination

    def integrity_check(self) -> list[str]:
        """SQLite's own check; an empty list means the file is sound."""
        rows = self.query("PRAGMA integrity_check")
        problems = [r[0] for r in rows]
        return [] if problems == ["ok"] else problems

    def _prune_backups(self) -> None:
        backups = sorted(self.backups_dir.glob("nexus-v*.db"), key=lambda p: p.stat().st_mtime)
        for old in backups[:-_KEEP_BACKUPS]:
            with contextlib.suppress(OSError):
                old.unlink()

    def _migrate(self, current: int) -> None:
        for migration in self._migrations:
            if migration.version <= current:
                continue
            log.info("applying store migration %04d_%s", migration.version, migration.name)
            with self.transaction() as conn:
                for statement in _split_sql(migration.sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                             (migration.version, migration.name, time.time()))

    @staticmethod
    def quarantine(path: Path) -> Path:
        """Move a damaged store (and its WAL files) aside so a fresh one can be created; keeps it all."""
        moved = stamped_sibling(path, "damaged")
        for suffix in ("", "-wal", "-shm"):
            source = path.with_name(path.name + suffix)
            if source.exists():
                source.replace(moved.with_name(moved.name + suffix))
        log.warning("damaged store %s moved to %s", path, moved)
        return moved


def _read_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file (0 for a new or empty file), without writing anything."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not exists:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])


def _split_sql(script: str) -> list[str]:
    """Split a migration script into complete statements (sqlite3.complete_statement aware)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if not buffer and line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise StoreError("A store migration ends with an incomplete SQL statement.",
                         hint=f"Fix the migration text: {buffer.strip()[:80]!r}")
    return statements
