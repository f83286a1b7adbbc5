"""Blob upload sessions: data streamed to `<root>/uploads/<uuid>/data`, hashed as it lands.

A session is resumable: its offset is the data file's size, and its running sha256
lives in memory (rebuilt from the file after a restart or a failed chunk). A chunk
that breaks off midway is cut back to the old offset, so the session stays exact.
Finishing checks the digest, fsyncs and renames the file into the blob store.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from wharfie.registry.codes import RegistryError
from wharfie.registry.storage import Storage

CHUNK = 1 << 20
_UUID = re.compile(r"[0-9a-f]{32}")

ReadInto = Callable[[memoryview], int]


class Upload:
    def __init__(self, uid: str, repo: str, path: str, offset: int) -> None:
        self.uuid = uid
        self.repo = repo
        self.path = path
        self.offset = offset
        self.hasher: Any = hashlib.sha256() if offset == 0 else None
        self.lock = threading.Lock()


def _unknown(uid: str) -> RegistryError:
    return RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {"uuid": uid})


class Uploads:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._live: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def _dir(self, uid: str) -> str:
        return os.path.join(self.storage.uploads, uid)

    def start(self, repo: str) -> Upload:
        uid = uuid.uuid4().hex
        d = self._dir(uid)
        os.makedirs(d)
        with open(os.path.join(d, "repo"), "w") as f:
            f.write(repo)
        os.close(os.open(os.path.join(d, "data"), os.O_WRONLY | os.O_CREAT, 0o644))
        up = Upload(uid, repo, os.path.join(d, "data"), 0)
        with self._lock:
            self._live[uid] = up
        return up

    def get(self, repo: str, uid: str) -> Upload:
        if not _UUID.fullmatch(uid):
            raise _unknown(uid)
        with self._lock:
            up = self._live.get(uid)
            if up is None:
                up = self._load(uid)
                self._live[uid] = up
        if up.repo != repo:
            raise _unknown(uid)
        return up

    def _load(self, uid: str) -> Upload:
        """A session from disk (started before a restart)."""
        d = self._dir(uid)
        try:
            with open(os.path.join(d, "repo")) as f:
                repo = f.read()
            size = os.stat(os.path.join(d, "data")).st_size
        except FileNotFoundError as exc:
            raise _unknown(uid) from exc
        return Upload(uid, repo, os.path.join(d, "data"), size)

    def forget(self, up: Upload) -> None:
        with self._lock:
            self._live.pop(up.uuid, None)
        shutil.rmtree(self._dir(up.uuid), ignore_errors=True)

    def append(self, up: Upload, read: ReadInto, length: int | None) -> None:
        """Stream a request body onto the session; on a break, cut back to the old end."""
        try:
            fd = os.open(up.path, os.O_WRONLY)
        except FileNotFoundError as exc:  # purged or cancelled meanwhile
            raise _unknown(up.uuid) from exc
        start = up.offset
        try:
            os.lseek(fd, start, os.SEEK_SET)
            got = _copy(fd, read, up.hasher)
        except BaseException:
            os.ftruncate(fd, start)
            up.hasher = None
            raise
        finally:
            os.close(fd)
        if length is not None and got != length:
            _truncate(up.path, start)
            up.hasher = None
            raise RegistryError("SIZE_INVALID", f"got {got} bytes, Content-Length said {length}")
        up.offset = start + got

    def finish(self, up: Upload, hexd: str) -> None:
        """Check the digest and move the data into the blob store; the session ends."""
        digest = self._digest(up)
        if digest != hexd:
            self.forget(up)
            raise RegistryError(
                "DIGEST_INVALID",
                "provided digest did not match uploaded content",
                {"expected": f"sha256:{hexd}", "computed": f"sha256:{digest}"},
            )
        if self.storage.fsync:
            fd = os.open(up.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.storage.commit_blob(up.path, hexd)
        self.forget(up)

    def _digest(self, up: Upload) -> str:
        if up.hasher is None:
            up.hasher = hashlib.sha256()
            with open(up.path, "rb") as f:
                for block in iter(lambda: f.read(CHUNK), b""):
                    up.hasher.update(block)
        return str(up.hasher.hexdigest())

    def purge(self, older_than: float, dry_run: bool = False) -> list[str]:
        """Remove sessions not touched for `older_than` seconds; returns their uuids."""
        gone = []
        now = time.time()
        for uid in os.listdir(self.storage.uploads):
            d = self._dir(uid)
            try:
                mtime = os.stat(os.path.join(d, "data")).st_mtime
            except FileNotFoundError:
                mtime = os.stat(d).st_mtime
            if now - mtime > older_than:
                gone.append(uid)
                if not dry_run:
                    with self._lock:
                        self._live.pop(uid, None)
                    shutil.rmtree(d, ignore_errors=True)
        return gone


def _truncate(path: str, size: int) -> None:
    os.truncate(path, size)


def _copy(fd: int, read: ReadInto, hasher: Any) -> int:
    """Copy the body to `fd` in ~1 MiB writes, hashing each; returns the byte count."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = 0
    while True:
        filled = 0
        while filled < CHUNK:
            n = read(view[filled:])
            if n == 0:
                break
            filled += n
        if filled == 0:
            return total
        part = view[:filled]
        written = 0
        while written < filled:
            written += os.write(fd, part[written:])
        if hasher is not None:
            hasher.update(part)
        total += filled
        if filled < CHUNK:
            return total
