"""The one SQLite store of the app (WAL, numbered migrations, schema-version table)."""

from nexus_core.store.migrations import Migration, discover_migrations
from nexus_core.store.store import Store

__all__ = ["Migration", "Store", "discover_migrations"]
