"""The daemon's metadata store: one SQLite database (WAL) under the data root.

Containers are kept as one JSON document per row (the shape inspect reports, plus a
few private fields), indexed by id and name. The image store, the networks and the build
cache keep their tables in the same database; `engine.schema` creates and upgrades them all
when the store opens. Every use of the connection holds `lock`: the event loop and worker
threads share it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

from wharfie.engine import schema
from wharfie.oci import jsonio


class Store:
    def __init__(self, data_root: str) -> None:
        os.makedirs(data_root, mode=0o711, exist_ok=True)
        self.path = os.path.join(data_root, "wharfie.db")
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        with self.lock:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            schema.migrate(self.db, self.path)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def load_containers(self) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT doc FROM containers").fetchall()
        return [jsonio.loads(doc) for (doc,) in rows]

    def insert_container(self, cid: str, name: str, doc: dict[str, Any]) -> None:
        """Raises sqlite3.IntegrityError when the id or name is taken."""
        with self.lock:
            self.db.execute(
                "INSERT INTO containers (id, name, doc) VALUES (?, ?, ?)",
                (cid, name, jsonio.dumps(doc)),
            )

    def save_container(self, cid: str, name: str, doc: dict[str, Any]) -> None:
        with self.lock:
            self.db.execute(
                "UPDATE containers SET name = ?, doc = ? WHERE id = ?",
                (name, jsonio.dumps(doc), cid),
            )

    def delete_container(self, cid: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM containers WHERE id = ?", (cid,))

    def load_networks(self) -> list[dict[str, Any]]:
        """The user-defined networks' documents (inspect's shape, without Containers)."""
        with self.lock:
            rows = self.db.execute("SELECT doc FROM networks").fetchall()
        return [jsonio.loads(doc) for (doc,) in rows]

    def insert_network(self, nid: str, name: str, doc: dict[str, Any]) -> None:
        """Raises sqlite3.IntegrityError when the id or name is taken."""
        with self.lock:
            self.db.execute(
                "INSERT INTO networks (id, name, doc) VALUES (?, ?, ?)",
                (nid, name, jsonio.dumps(doc)),
            )

    def delete_network(self, nid: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM networks WHERE id = ?", (nid,))

    def setting(self, key: str, make: Any) -> str:
        """A persistent value, created once with `make()` (ids of default networks, daemon ID)."""
        with self.lock:
            row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            if row:
                return str(row[0])
            value = str(make())
            self.db.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (key, value))
            return value
