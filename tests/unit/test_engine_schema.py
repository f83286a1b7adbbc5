"""The metadata schema owner: numbered migrations under PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wharfie.engine import schema
from wharfie.errors import FailedPrecondition

TABLES = {
    "containers",
    "settings",
    "networks",
    "image_images",
    "image_refs",
    "image_layers",
    "image_blobsums",
    "build_cache",
}


def _tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None)


def test_a_new_database_gets_every_table_and_the_current_version(tmp_path: Path) -> None:
    db = _db(tmp_path / "w.db")
    assert schema.migrate(db, "w.db") == schema.CURRENT
    assert _tables(db) == TABLES
    assert schema.version(db) == schema.CURRENT


def test_version_0_with_some_tables_and_rows_upgrades_in_place(tmp_path: Path) -> None:
    db = _db(tmp_path / "w.db")
    db.execute(
        "CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
        "doc TEXT NOT NULL)"
    )
    db.execute("INSERT INTO containers VALUES ('c1', 'one', '{}')")
    schema.migrate(db, "w.db")
    assert _tables(db) == TABLES
    assert db.execute("SELECT id, name FROM containers").fetchall() == [("c1", "one")]


def test_migrate_twice_changes_nothing(tmp_path: Path) -> None:
    db = _db(tmp_path / "w.db")
    schema.migrate(db, "w.db")
    db.execute("INSERT INTO settings VALUES ('k', 'v')")
    schema.migrate(db, "w.db")
    assert db.execute("SELECT * FROM settings").fetchall() == [("k", "v")]


def test_migrations_apply_in_order_from_the_stored_version(tmp_path: Path) -> None:
    db = _db(tmp_path / "w.db")
    steps = ["CREATE TABLE t (a INTEGER);", "ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'x';"]
    assert schema.migrate(db, "w.db", steps[:1]) == 1
    db.execute("INSERT INTO t (a) VALUES (7)")
    assert schema.migrate(db, "w.db", steps) == 2
    assert db.execute("SELECT a, b FROM t").fetchall() == [(7, "x")]


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = _db(tmp_path / "w.db")
    db.execute(f"PRAGMA user_version = {schema.CURRENT + 3}")
    with pytest.raises(
        FailedPrecondition,
        match=r"written by a newer wharfied \(metadata "
        rf"schema version {schema.CURRENT + 3}\).*will not downgrade",
    ):
        schema.migrate(db, "/data/wharfie.db")
    assert _tables(db) == set()
    assert schema.version(db) == schema.CURRENT + 3


def test_a_failing_migration_leaves_the_previous_version_whole(tmp_path: Path) -> None:
    db = _db(tmp_path / "w.db")
    steps = [
        "CREATE TABLE t (a INTEGER);",
        "CREATE TABLE u (a INTEGER); INSERT INTO nosuch VALUES (1);",
    ]
    with pytest.raises(
        FailedPrecondition,
        match=r"cannot upgrade w\.db to metadata schema "
        r"version 2: no such table: nosuch",
    ):
        schema.migrate(db, "w.db", steps)
    assert schema.version(db) == 1
    assert _tables(db) == {"t"}
    assert not db.in_transaction
