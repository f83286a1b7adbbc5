"""Layers and images arriving from outside (pull, load): streamed, verified, then visible.

`ingest_layer(store, parent_chain, diff_id, chunks)` extracts an uncompressed layer tar
*while it arrives* into a snapshot, writing the same bytes to a content-store blob; when
the stream ends the blob's sha256 must equal `diff_id`, else the snapshot and the blob are
discarded. Only then is the snapshot renamed into place and the blob committed, so a crash
at any point leaves temp files (`snapshots/tmp-*`, `content/ingest/blob-*`) and nothing
visible; `cleanup_temp(store)` removes those at start-up.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from wharfie.errors import InvalidArgument
from wharfie.images.extract import extract_layer
from wharfie.images.layers import chain_ids
from wharfie.images.tarsplit import Splitter, Unsplittable, index_path, reader, size_of, write_index

if TYPE_CHECKING:
    from wharfie.images.store import ImageStore


class TeeReader:
    """A read() over an iterator of chunks that copies every byte into `sink`."""

    def __init__(self, chunks: Iterator[bytes], sink: Any) -> None:
        self._chunks = chunks
        self._write = sink.write
        self._buf = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if self._pos >= len(self._buf):
            self._buf, self._pos = self._next(), 0
            if not self._buf:
                return b""
        if n < 0 or (self._pos == 0 and n >= len(self._buf)):
            out = self._buf[self._pos :]
            self._buf, self._pos = b"", 0
            return out
        out = self._buf[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def _next(self) -> bytes:
        for chunk in self._chunks:
            if chunk:
                self._write(chunk)
                return chunk
        return b""

    def drain(self) -> None:
        """Copy whatever the tar reader left unread (padding after the end marker)."""
        self._buf, self._pos = b"", 0
        while self._next():
            pass


def chain_of(parent_chain: str, diff_id: str) -> str:
    return chain_ids([parent_chain, diff_id])[1] if parent_chain else diff_id


Chunks = Callable[[], Iterator[bytes]]


def ingest_layer(
    store: object,
    parent_chain: str,
    diff_id: str,
    open_chunks: Chunks,
    *,
    split: bool = True,
) -> tuple[str, bool, int]:
    """A layer from a stream of its uncompressed tar: (chain id, created?, size).

    With `split` only the extracted files and a tar-split index are written (the tar is
    rebuilt from them for push/save); a layer that cannot be rebuilt that way is streamed
    again (`open_chunks()` once more) and kept whole as a blob."""
    from wharfie.images.store import ImageStore

    assert isinstance(store, ImageStore)
    chain = chain_of(parent_chain, diff_id)
    if store.has_layer(chain):
        return chain, False, store.layer_size(chain)
    if split:
        try:
            return chain, True, _ingest_split(store, chain, diff_id, open_chunks())
        except Unsplittable:
            pass
    return chain, True, _ingest_blob(store, chain, diff_id, open_chunks())


def _check_diff(got: str, diff_id: str) -> None:
    if got != diff_id:
        raise InvalidArgument(
            f"layer content does not match its diff id: expected {diff_id}, got {got}"
        )


def _ingest_split(store: ImageStore, chain: str, diff_id: str, chunks: Iterator[bytes]) -> int:
    splitter = Splitter()
    sizes: list[int] = []

    def fill(tmp: str) -> None:
        tee = TeeReader(chunks, splitter)
        sizes.append(extract_layer(tee, tmp, splitter.member))  # type: ignore[arg-type]
        tee.drain()
        got, _ = splitter.finish()
        _check_diff(got, diff_id)
        write_index(store.tarsplit_root, diff_id, splitter.dump())

    store.snapshots.create(chain, fill)
    return sizes[0] if sizes else 0


def _ingest_blob(store: ImageStore, chain: str, diff_id: str, chunks: Iterator[bytes]) -> int:
    sizes: list[int] = []
    with store.content.writer() as writer:

        def fill(tmp: str) -> None:
            tee = TeeReader(chunks, writer)
            sizes.append(extract_layer(tee, tmp))  # type: ignore[arg-type]
            tee.drain()
            _check_diff(writer.digest, diff_id)
            writer.flush()

        store.snapshots.create(chain, fill)
        try:
            if not store.content.has(diff_id):
                writer.commit(diff_id, sync=False)
        except BaseException:
            store.snapshots.remove(chain)
            raise
    return sizes[0] if sizes else 0


def layer_tar(store: object, diff_id: str, chain_id: str) -> tuple[int, Iterator[bytes]]:
    """(size, bytes) of a layer's uncompressed tar: the blob, or rebuilt by tar-split."""
    from wharfie.images.store import ImageStore

    assert isinstance(store, ImageStore)
    if store.content.has(diff_id):
        path = store.content.path(diff_id)
        return os.path.getsize(path), _file_chunks(path)
    root = store.tarsplit_root
    if not os.path.exists(index_path(root, diff_id)):
        raise InvalidArgument(f"layer {diff_id}: neither its tar nor its index is stored")
    return size_of(root, diff_id), reader(root, diff_id, store.snapshots.path(chain_id))


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


def cleanup_temp(content_root: str, snapshots_root: str) -> None:
    """Leftovers of a crash: blobs being written, layers being extracted."""
    for d, prefix in ((os.path.join(content_root, "ingest"), "blob-"), (snapshots_root, "tmp-")):
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        for name in names:
            if name.startswith(prefix):
                path = os.path.join(d, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)


def parse_created(text: str) -> float:
    """RFC 3339 with up to nanoseconds ("2024-01-02T03:04:05.123456789Z"); 0 if unparsable."""
    import datetime
    import re

    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        return 0.0
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        base = datetime.datetime.fromisoformat(m.group(1) + tz).timestamp()
    except ValueError:
        return 0.0
    return base + float("0" + (m.group(2) or ".0"))
