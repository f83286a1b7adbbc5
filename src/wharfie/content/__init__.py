"""Content-addressed blob store: `<root>/sha256/<hex>`.

Blobs are written through a `BlobWriter` to a temp file in `<root>/ingest/`, hashed as
they stream, fsync'ed and renamed into place on commit, so a blob either exists whole
under its digest or not at all. Names and tags live above this store, never in it.
Image configs and layer tars (uncompressed; their digest is the layer's diff_id) are
kept here; a later registry client stores manifests and compressed blobs the same way.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from wharfie.errors import InvalidArgument, NotFound

_HEX = frozenset("0123456789abcdef")


def parse_digest(digest: str) -> str:
    """The hex of a "sha256:<64 hex>" digest; InvalidArgument otherwise."""
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not _HEX.issuperset(hexpart):
        raise InvalidArgument(f"invalid digest {digest!r}: want sha256:<64 hex>")
    return hexpart


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class BlobWriter:
    """Streams one blob into the store; `commit` or `abort` exactly once."""

    def __init__(self, store: ContentStore) -> None:
        self._store = store
        fd, self._tmp = tempfile.mkstemp(dir=store.ingest_dir, prefix="blob-")
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self._done = False

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    @property
    def tmp_path(self) -> str:
        """The file being written (readable after `flush`), for checks before commit."""
        return self._tmp

    def flush(self) -> None:
        self._file.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def commit(self, expected: str | None = None, sync: bool = True) -> str:
        """Verify against `expected` (if given), then move the blob into place.

        `sync=False` skips the fsync: the rename is still atomic for a crashed *process*
        (kill -9), but not across a power loss (the name may then hold a short file, which
        a digest check finds). Layer tars use it: their extracted snapshot is not synced
        either, and the fsync of hundreds of MiB costs more than the rest of a pull."""
        digest = self.digest
        if expected is not None and expected != digest:
            self.abort()
            raise InvalidArgument(f"blob digest mismatch: expected {expected}, got {digest}")
        try:
            self._file.flush()
            if sync:
                os.fsync(self._file.fileno())
            self._file.close()
            os.rename(self._tmp, self._store.path(digest))
        except OSError as exc:
            self.abort()
            raise OSError(exc.errno, f"commit blob {digest}: {exc.strerror}") from exc
        self._done = True
        return digest

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class ContentStore:
    """Blobs by digest under `root` (the daemon uses `<data-root>/content`)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.ingest_dir = os.path.join(root, "ingest")
        self._blobs = os.path.join(root, "sha256")
        os.makedirs(self.ingest_dir, exist_ok=True)
        os.makedirs(self._blobs, exist_ok=True)

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        if self.has(digest):
            return digest
        with self.writer() as w:
            w.write(data)
            return w.commit(digest)

    def path(self, digest: str) -> str:
        return os.path.join(self._blobs, parse_digest(digest))

    def has(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def read(self, digest: str) -> bytes:
        try:
            with open(self.path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest} not found") from exc

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest} not found") from exc

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest} not found") from exc

    def digests(self) -> list[str]:
        return ["sha256:" + name for name in os.listdir(self._blobs)]
