"""nexus_core.store: schema, migrations with backup and rollback, refusing newer/corrupt files, backups."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nexus_core.errors import StoreCorruptError, StoreError, StoreTooNewError
from nexus_core.store import Migration, Store, discover_migrations

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILTIN = Path(__file__).resolve().parents[2] / "nexus_core" / "store" / "migrations"


def _write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(textwrap.dedent(sql), encoding="utf-8")
    return folder


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


V1 = """\
    -- notes: the first table
    CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
"""
V2 = """\
    ALTER TABLE notes ADD COLUMN tag TEXT NOT NULL DEFAULT 'none';
    CREATE TABLE tags (
        name TEXT PRIMARY KEY  -- a comment; inside a statement
    );
    INSERT INTO tags (name) VALUES ('none');
"""


# -- fresh store -----------------------------------------------------------------------------


def test_fresh_store_is_at_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    builtin = discover_migrations()
    assert [m.version for m in builtin] == list(range(1, len(builtin) + 1))
    assert len(builtin) >= 1
    path = tmp_path / "data" / "nexus.db"
    with Store(path) as store:
        assert store.latest_version == builtin[-1].version
        assert store.schema_version == store.latest_version
        assert store.query_one("PRAGMA journal_mode")[0] == "wal"
        rows = store.query("SELECT version, name, applied_at FROM schema_version ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in builtin]
        assert all(r["applied_at"] > 0 for r in rows)
        assert store.query_one("PRAGMA foreign_keys")[0] == 1
    assert {"jobs", "kv", "schema_version"} <= _tables(path)
    backups = tmp_path / "data" / "backups"
    assert not backups.exists() or not list(backups.iterdir())  # nothing to lose, so no backup


def test_reopening_latest_store_does_not_reapply_or_back_up(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    with Store(path) as store:
        store.set_value("k", "v")
        count = store.query_one("SELECT COUNT(*) FROM schema_version")[0]
    with Store(path) as store:
        assert store.query_one("SELECT COUNT(*) FROM schema_version")[0] == count
        assert store.get_value("k") == "v"
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "nexus.db")
    with pytest.raises(StoreError, match="not open"):
        store.get_value("x")


# -- discover_migrations ---------------------------------------------------------------------


def test_discover_migrations_reads_folder_in_order(tmp_path: Path) -> None:
    folder = _write_migrations(tmp_path / "m", {"0002_second.sql": V2, "0001_first.sql": V1})
    found = discover_migrations(folder)
    assert [(m.version, m.name) for m in found] == [(1, "first"), (2, "second")]
    assert "CREATE TABLE notes" in found[0].sql


@pytest.mark.parametrize("bad_name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql", "abcd_x.sql",
                                      "0001_has space.sql"])
def test_discover_migrations_rejects_bad_names(tmp_path: Path, bad_name: str) -> None:
    folder = _write_migrations(tmp_path / "m", {"0001_first.sql": V1, bad_name: "SELECT 1;"})
    with pytest.raises(ValueError, match=r"NNNN_description\.sql") as info:
        discover_migrations(folder)
    assert bad_name in str(info.value)


@pytest.mark.parametrize("names", [
    ["0001_a.sql", "0003_c.sql"],
    ["0002_b.sql"],
    ["0001_a.sql", "0001_again.sql"],
], ids=["gap", "not-from-one", "duplicate"])
def test_discover_migrations_rejects_gaps(tmp_path: Path, names: list[str]) -> None:
    folder = _write_migrations(tmp_path / "m", {n: "SELECT 1;" for n in names})
    with pytest.raises(ValueError, match="without gaps"):
        discover_migrations(folder)


# -- upgrades --------------------------------------------------------------------------------


def test_upgrade_keeps_data_applies_v2_and_backs_up_v1(tmp_path: Path) -> None:
    _write_migrations(tmp_path / "m1", {"0001_first.sql": V1})
    _write_migrations(tmp_path / "m2", {"0001_first.sql": V1, "0002_second.sql": V2})
    path = tmp_path / "nexus.db"
    backups = tmp_path / "bk"
    with Store(path, backups_dir=backups, migrations=discover_migrations(tmp_path / "m1")) as v1:
        assert v1.schema_version == 1
        v1.execute("INSERT INTO notes (body) VALUES (?)", ("written by v1",))
        v1.set_value("owner", "alice")
    assert not backups.exists() or not list(backups.iterdir())

    with Store(path, backups_dir=backups, migrations=discover_migrations(tmp_path / "m2")) as v2:
        assert v2.schema_version == 2
        assert [tuple(r) for r in v2.query("SELECT body, tag FROM notes")] == [("written by v1", "none")]
        assert v2.get_value("owner") == "alice"
        assert [r["name"] for r in v2.query("SELECT name FROM tags")] == ["none"]
        versions = v2.query("SELECT version FROM schema_version ORDER BY version")
        assert [r["version"] for r in versions] == [1, 2]

    copies = list(backups.glob("nexus-v1-*.db"))
    assert len(copies) == 1, list(backups.iterdir())
    old = sqlite3.connect(copies[0])
    try:
        assert [r[0] for r in old.execute("SELECT body FROM notes")] == ["written by v1"]
        assert old.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 1
        assert "tags" not in {r[0] for r in old.execute("SELECT name FROM sqlite_master")}
    finally:
        old.close()


def test_failing_migration_rolls_back_completely(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    v1 = [Migration(1, "first", textwrap.dedent(V1))]
    broken = [*v1, Migration(2, "broken", "CREATE TABLE half_done (x INTEGER);\n"
                                          "INSERT INTO half_done VALUES (1);\n"
                                          "INSERT INTO no_such_table VALUES (1);\n")]
    with Store(path, backups_dir=tmp_path / "bk", migrations=v1) as store:
        store.execute("INSERT INTO notes (body) VALUES ('keep')")
    store = Store(path, backups_dir=tmp_path / "bk", migrations=broken)
    try:
        with pytest.raises((StoreError, sqlite3.Error), match="no_such_table"):
            store.open()
    finally:
        store.close()
    tables = _tables(path)
    assert "half_done" not in tables
    assert "notes" in tables
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 1
        assert [r[0] for r in conn.execute("SELECT body FROM notes")] == ["keep"]
    finally:
        conn.close()
    # the intact v1 store still opens with the v1 code
    with Store(path, backups_dir=tmp_path / "bk", migrations=v1) as again:
        assert again.schema_version == 1


def test_upgrade_is_refused_when_the_backup_cannot_be_written(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    v1 = [Migration(1, "first", textwrap.dedent(V1))]
    v2 = [*v1, Migration(2, "second", textwrap.dedent(V2))]
    with Store(path, migrations=v1) as store:
        store.execute("INSERT INTO notes (body) VALUES ('keep')")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the backups folder's parent should be")
    store = Store(path, backups_dir=blocker / "backups", migrations=v2)
    try:
        with pytest.raises((StoreError, OSError)):
            store.open()
    finally:
        store.close()
    with Store(path, migrations=v1) as again:  # nothing was migrated without a backup
        assert again.schema_version == 1
        assert [r["body"] for r in again.query("SELECT body FROM notes")] == ["keep"]
    assert "tags" not in _tables(path)


def test_incomplete_migration_statement_is_refused(tmp_path: Path) -> None:
    migrations = [Migration(1, "first", "CREATE TABLE t (x INTEGER);\nCREATE TABLE u (y INTEGER)\n")]
    store = Store(tmp_path / "nexus.db", migrations=migrations)
    try:
        with pytest.raises(StoreError, match="incomplete SQL"):
            store.open()
    finally:
        store.close()
    assert "t" not in _tables(tmp_path / "nexus.db")


# -- refusing files it must not touch --------------------------------------------------------


def _bump_schema(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, 'future', 0)",
                     (version,))
        conn.commit()
    finally:
        conn.close()


def test_store_from_newer_version_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    with Store(path) as store:
        store.set_value("k", "v")
        latest = store.latest_version
    _bump_schema(path, latest + 5)
    before = path.read_bytes()
    with pytest.raises(StoreTooNewError) as info:
        Store(path).open()
    message = str(info.value)
    assert "newer" in message
    assert f"schema {latest + 5}" in message
    assert "What to do:" in message and "Update Nexus Studio" in message
    assert str(path) in message
    assert info.value.path == path
    assert path.read_bytes() == before
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())


def test_store_from_newer_version_in_rollback_journal_mode_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                 "applied_at REAL NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (999, 'future', 0)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreTooNewError):
        Store(path).open()
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", ["random", "truncated-header", "truncated-half"])
def test_non_database_file_is_refused_as_corrupt(tmp_path: Path, content: str) -> None:
    real = tmp_path / "real.db"
    with Store(real) as store:
        for i in range(40):
            store.set_value(f"key{i}", "x" * 1000)
    real_bytes = real.read_bytes()
    data = {"random": os.urandom(8192), "truncated-header": real_bytes[:100],
            "truncated-half": real_bytes[: len(real_bytes) // 2]}[content]
    path = tmp_path / "nexus.db"
    path.write_bytes(data)
    with pytest.raises(StoreCorruptError) as info:
        Store(path).open()
    assert str(path) in str(info.value)
    assert "damaged" in str(info.value) and "What to do:" in str(info.value)
    assert path.read_bytes() == data


_CRASH_WRITER = """
import os, sys
from pathlib import Path
from nexus_core.store import Store
store = Store(Path(sys.argv[1])).open()
for i in range(50):
    store.set_value(f"k{i}", "v" * 500)
os._exit(0)  # die without closing: the -wal and -shm files stay behind
"""


def test_quarantine_moves_db_and_wal_files_aside_intact(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    subprocess.run([sys.executable, "-c", _CRASH_WRITER, str(path)], check=True, cwd=REPO_ROOT, timeout=60)
    originals = {suffix: (tmp_path / f"nexus.db{suffix}").read_bytes() for suffix in ("", "-wal", "-shm")}
    assert len(originals["-wal"]) > 0

    moved = Store.quarantine(path)
    assert moved.name.startswith("nexus.db.damaged-")
    for suffix, data in originals.items():
        assert not (tmp_path / f"nexus.db{suffix}").exists()
        assert Path(f"{moved}{suffix}").read_bytes() == data
    # the moved copy is still a complete database (its WAL travelled with it)
    old = sqlite3.connect(moved)
    try:
        assert old.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == 50
    finally:
        old.close()

    with Store(path) as fresh:
        assert fresh.get_value("k1") is None
        assert fresh.schema_version == fresh.latest_version


def test_quarantine_after_corrupt_error_lets_a_fresh_store_open(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    junk = b"this is not sqlite" * 100
    path.write_bytes(junk)
    with pytest.raises(StoreCorruptError):
        Store(path).open()
    moved = Store.quarantine(path)
    assert moved.read_bytes() == junk
    with Store(path) as fresh:
        fresh.set_value("a", "b")
        assert fresh.get_value("a") == "b"


# -- transactions and values -----------------------------------------------------------------


def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    with Store(tmp_path / "nexus.db") as store:
        with store.transaction() as conn:
            conn.execute("INSERT INTO kv VALUES ('a', '1', 0)")
            conn.execute("INSERT INTO kv VALUES ('b', '2', 0)")
        assert store.get_value("a") == "1" and store.get_value("b") == "2"

        with pytest.raises(RuntimeError, match="boom"), store.transaction() as conn:
            conn.execute("INSERT INTO kv VALUES ('c', '3', 0)")
            conn.execute("UPDATE kv SET value = 'changed' WHERE key = 'a'")
            raise RuntimeError("boom")
        assert store.get_value("c") is None
        assert store.get_value("a") == "1"

        with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
            conn.execute("INSERT INTO kv VALUES ('d', '4', 0)")
            conn.execute("INSERT INTO kv VALUES ('a', 'duplicate', 0)")
        assert store.get_value("d") is None
        # the connection is usable again after a rollback
        store.set_value("e", "5")
        assert store.get_value("e") == "5"


def test_get_and_set_value(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    with Store(path) as store:
        assert store.get_value("missing") is None
        assert store.get_value("missing", "fallback") == "fallback"
        store.set_value("theme", "dark")
        store.set_value("theme", "light")  # upsert, not a duplicate row
        store.set_value("ünï", "välue\nwith newline")
        assert store.get_value("theme") == "light"
        assert store.get_value("ünï") == "välue\nwith newline"
        assert store.query_one("SELECT COUNT(*) FROM kv WHERE key = 'theme'")[0] == 1
    with Store(path) as store:
        assert store.get_value("theme") == "light"


# -- maintenance -----------------------------------------------------------------------------


def test_backup_reports_progress_and_copy_has_same_rows(tmp_path: Path) -> None:
    with Store(tmp_path / "nexus.db") as store:
        for i in range(300):
            store.set_value(f"key{i:03d}", f"{i}-" + "y" * 2000)
        calls: list[tuple[int, int]] = []
        destination = tmp_path / "out" / "copy.db"
        assert store.backup(destination, progress=lambda done, total: calls.append((done, total)),
                            pages_per_step=8) == destination
        expected = [tuple(r) for r in store.query("SELECT key, value FROM kv ORDER BY key")]
    assert len(calls) >= 3, calls
    done = [d for d, _ in calls]
    totals = {t for _, t in calls}
    assert done == sorted(done) and len(set(done)) == len(done)
    assert len(totals) == 1 and done[-1] == totals.pop()
    assert not destination.with_name("copy.db.partial").exists()
    with Store(destination) as copy:
        assert [tuple(r) for r in copy.query("SELECT key, value FROM kv ORDER BY key")] == expected
        assert copy.integrity_check() == []


def test_integrity_check_on_sound_store_is_empty(tmp_path: Path) -> None:
    with Store(tmp_path / "nexus.db") as store:
        store.set_value("a", "b")
        assert store.integrity_check() == []


def test_backups_are_pruned_to_the_five_newest(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    with Store(tmp_path / "nexus.db", backups_dir=backups) as store:
        store.set_value("a", "b")
        unrelated = backups / "keep-me.db"
        unrelated.parent.mkdir(parents=True, exist_ok=True)
        unrelated.write_bytes(b"not a nexus backup")
        for i in range(8):
            made = store.backup(backups / f"nexus-v1-test{i}.db")
            os.utime(made, (1_000_000 + i, 1_000_000 + i))  # distinct, increasing ages
    remaining = sorted(p.name for p in backups.glob("nexus-v*.db"))
    assert remaining == [f"nexus-v1-test{i}.db" for i in range(3, 8)]
    assert unrelated.exists()
