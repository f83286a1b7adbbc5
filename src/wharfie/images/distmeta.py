"""Where a layer came from or went to: diff id → compressed blob digests per repository.

Like moby's v2metadata: after a pull or a push, `(diff_id, digest, media_type, size,
repository)` is recorded, so a later push can ask the registry for that blob (HEAD),
mount it from another repository of the same registry, and skip re-compressing it.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import NamedTuple


class BlobSum(NamedTuple):
    diff_id: str
    digest: str
    media_type: str
    size: int
    repository: str  # "127.0.0.1:5000/x" (registry host + path)


class BlobSums:
    """Rows of the table `image_blobsums` (created by the daemon's schema owner)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock

    def add(self, sums: list[BlobSum]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO image_blobsums VALUES (?,?,?,?,?)", sums)

    def of(self, diff_id: str) -> list[BlobSum]:
        with self._lock:
            rows = self._db.execute(
                "SELECT diff_id, digest, media_type, size, repository FROM image_blobsums "
                "WHERE diff_id=?",
                (diff_id,),
            ).fetchall()
        return [BlobSum(*r) for r in rows]

    def forget(self, digest: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM image_blobsums WHERE digest=?", (digest,))
