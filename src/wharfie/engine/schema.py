"""The one owner of the daemon's SQLite schema: numbered migrations and `PRAGMA user_version`.

Every table of `wharfie.db` (containers and settings, networks, the image store's tables,
where layers came from, the build cache) is created here and nowhere else. The modules
that use them (`images.store`, `images.distmeta`, `build.cache`, `engine.net.networks`) are
handed a connection whose schema is current.

Version 0 is a data root written before versions existed: its tables are exactly those
of migration 1, created with IF NOT EXISTS, so it upgrades in place. A data root written
by a newer wharfied (a higher version than `CURRENT`) is refused: running old code on a
newer schema could lose what the newer one stored.

To change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from wharfie.errors import FailedPrecondition

MIGRATIONS: tuple[str, ...] = (
    # 1: the tables as they were before versions (data roots of version 0 have them all
    # or some of them).
    """
    CREATE TABLE IF NOT EXISTS containers (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        doc  TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS networks (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        doc  TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS image_images (
        id TEXT PRIMARY KEY, parent TEXT NOT NULL, created REAL NOT NULL,
        size INTEGER NOT NULL, last_tag_time TEXT NOT NULL DEFAULT '');
    CREATE TABLE IF NOT EXISTS image_refs (ref TEXT PRIMARY KEY, image_id TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS image_layers (
        chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, size INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS image_blobsums (
        diff_id TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL,
        size INTEGER NOT NULL, repository TEXT NOT NULL,
        PRIMARY KEY (diff_id, digest, repository));
    CREATE TABLE IF NOT EXISTS build_cache (
        key TEXT PRIMARY KEY, image_id TEXT NOT NULL, size INTEGER NOT NULL,
        created REAL NOT NULL, last_used REAL NOT NULL, description TEXT NOT NULL DEFAULT '');
    """,
)
CURRENT = len(MIGRATIONS)


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, where: str, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring `db` (autocommit mode) to the newest version, one migration per transaction,
    and return that version. `where` names the database in errors."""
    found = version(db)
    if found > len(migrations):
        raise FailedPrecondition(
            f"{where} was written by a newer wharfied (metadata schema version {found}); "
            f"this wharfied knows versions up to {len(migrations)} and will not downgrade it: "
            "run the newer wharfied, or start this one with another --data-root"
        )
    for number in range(found + 1, len(migrations) + 1):
        _apply(db, where, number, migrations[number - 1])
    return len(migrations)


def _apply(db: sqlite3.Connection, where: str, number: int, script: str) -> None:
    # executescript() commits first and runs its statements one by one; wrapping them in
    # BEGIN ... COMMIT inside the script makes the step and its version number atomic.
    try:
        db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise FailedPrecondition(
            f"cannot upgrade {where} to metadata schema version {number}: {exc}"
        ) from exc
