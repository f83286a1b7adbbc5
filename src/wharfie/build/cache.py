"""The build cache index: cache key -> the image a build step made.

Kept in the daemon's SQLite database (table `build_cache`), so it survives restarts.
A key is the digest of the previous step's key (the chain starts at the stage's base
image id), the instruction after substitution, the ARGs in scope for RUN, and for COPY/ADD
the content hash of the sources (metadata included); the image the key names holds the
step's layer and config. An entry whose image is gone
is simply a miss. `size` is the bytes of the step's own layer (0 for metadata steps),
what `builder prune` counts.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Entry:
    key: str
    image_id: str
    size: int
    created: float
    last_used: float
    description: str


class BuildCache:
    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock  # the table `build_cache` is made by the daemon's schema owner

    def get(self, key: str) -> str | None:
        """The image of `key` (its use is recorded with `touch`, once per build)."""
        with self._lock:
            row = self._db.execute(
                "SELECT image_id FROM build_cache WHERE key=?", (key,)
            ).fetchone()
        return str(row[0]) if row else None

    def touch(self, keys: list[str]) -> None:
        if not keys:
            return
        now = time.time()
        with self._lock:
            self._db.executemany(
                "UPDATE build_cache SET last_used=? WHERE key=?", [(now, k) for k in keys]
            )

    def put(self, key: str, image_id: str, size: int, description: str) -> None:
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO build_cache VALUES (?,?,?,?,?,?)",
                (key, image_id, size, now, now, description[:200]),
            )

    def entries(self) -> list[Entry]:
        """All entries, least recently used first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, image_id, size, created, last_used, description FROM build_cache "
                "ORDER BY last_used, created"
            ).fetchall()
        return [Entry(*row) for row in rows]

    def delete(self, keys: list[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM build_cache WHERE key=?", [(k,) for k in keys])


def from_history(
    source: dict[str, Any], history: list[dict[str, Any]], diff_ids: list[str], created_by: str
) -> tuple[dict[str, Any], str] | None:
    """(history entry, its diff id or "") when the image config `source` starts with
    `history`/`diff_ids` and continues with a step whose text is `created_by`."""
    theirs = list(source.get("history") or [])
    their_diffs = list((source.get("rootfs") or {}).get("diff_ids") or [])
    n = len(history)
    if len(theirs) <= n or theirs[:n] != history or their_diffs[: len(diff_ids)] != diff_ids:
        return None
    entry = theirs[n]
    if entry.get("created_by") != created_by:
        return None
    if entry.get("empty_layer"):
        return entry, ""
    index = sum(1 for h in theirs[:n] if not h.get("empty_layer"))
    if index != len(diff_ids) or index >= len(their_diffs):
        return None
    return entry, their_diffs[index]


def pick_for_prune(entries: list[Entry], keep_storage: int, everything: bool) -> list[Entry]:
    """Entries to drop, least recently used first, until at most `keep_storage` bytes stay
    (0 with `everything`: all of them)."""
    if keep_storage <= 0:
        return list(entries) if everything or entries else []
    total = sum(e.size for e in entries)
    out = []
    for e in entries:
        if keep_storage > 0 and total <= keep_storage:
            break
        out.append(e)
        total -= e.size
    return out
