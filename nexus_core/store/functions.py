"""SQL functions the store's schema relies on (its triggers and migrations call them), registered on every
connection the store opens. Written in Python so they do not depend on how SQLite was built (math functions
such as ``ln`` are optional in SQLite)."""

from __future__ import annotations

import math
import sqlite3


def log_bucket(value: float, base: float) -> int:
    """The log-spaced bucket of a value: ``floor(log_base(value))``, values under 0.01 counted as 0.01."""
    return math.floor(math.log(max(float(value), 0.01)) / math.log(base))


def _sql_log_bucket(value: float | None, base: float | None) -> int | None:
    return None if value is None or base is None or base <= 1 else log_bucket(value, base)


def register(conn: sqlite3.Connection) -> None:
    conn.create_function("nexus_log_bucket", 2, _sql_log_bucket, deterministic=True)
