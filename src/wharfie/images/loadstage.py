"""`load` without a spool: each layer tar in an archive is extracted while the archive
streams in, before the manifest that names it has arrived (docker puts manifest.json last).

A member that looks like a layer (a tar, or gzip/zstd data) is extracted into a temp dir
under the snapshot store with a tar-split index, hashed raw (its blob name) and
uncompressed (its diff id); small members (JSON) are kept in memory, at most
SMALL_LIMIT each and SMALL_TOTAL in all (an archive of big non-layer members is refused
with a clear error before they are read, not held until memory runs out). Once the manifests
are read, `adopt` checks each staged layer against its diff id and renames its dir into
place as the snapshot of its chain. A layer that tar-split cannot rebuild (see
images.tarsplit) switches, mid-stream, to keeping its whole tar as a blob: the part
already read is rebuilt from the index and the files extracted so far, the rest streams
into the same blob, which is then extracted again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from wharfie.content import BlobWriter
from wharfie.errors import InvalidArgument
from wharfie.images.extract import extract_layer
from wharfie.images.ingest import TeeReader, chain_of, layer_tar
from wharfie.images.layers import decompress_chunks
from wharfie.images.store import ImageStore
from wharfie.images.tarsplit import Splitter, Unsplittable, write_index

CHUNK = 1 << 20
SMALL_LIMIT = 16 << 20  # one non-layer member (a config is a few KiB; a big one < 1 MiB)
SMALL_TOTAL = 64 << 20  # every non-layer member of one archive together


@dataclass
class Staged:
    raw_digest: str
    size: int
    data: bytes | None = None  # a small member
    dir: str = ""  # an extracted layer
    diff_id: str = ""
    index: bytes | None = None
    blob: BlobWriter | None = None
    adopted: str = ""  # chain id of the snapshot it became
    extracted: int = 0


def _kind(head: bytes) -> str:
    """ "gzip", "zstd", "none" for a layer-looking member, "" for anything else."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if len(head) >= 512 and (head[257:262] == b"ustar" or head[:512] == bytes(512)):
        return "none"
    return ""


class _Hashing:
    """Raw chunks of a member, hashed as they pass."""

    def __init__(self, first: bytes, src: Any) -> None:
        self.first, self.src = first, src
        self.hash = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        data = self.first
        while data:
            self.hash.update(data)
            self.size += len(data)
            yield data
            data = self.src.read(CHUNK)


class Staging:
    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self.members: dict[str, Staged] = {}
        self.links: dict[str, str] = {}
        self.small_total = 0

    def add(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        name = os.path.normpath(m.name).lstrip("/")
        if m.issym() or m.islnk():
            target = m.linkname if m.islnk() else os.path.join(os.path.dirname(name), m.linkname)
            self.links[name] = os.path.normpath(target).lstrip("/")
            return
        src = tf.extractfile(m) if m.isfile() else None
        if src is None:
            return
        head = src.read(min(m.size, 1024))
        kind = _kind(head)
        if kind:
            self.members[name] = self._layer(_Hashing(head, src), kind)
            return
        if m.size > SMALL_LIMIT:
            raise InvalidArgument(
                f"invalid archive: {name} is neither a layer nor small "
                f"({m.size} bytes; at most {SMALL_LIMIT >> 20} MiB)"
            )
        self.small_total += m.size
        if self.small_total > SMALL_TOTAL:
            raise InvalidArgument(
                f"invalid archive: its non-layer members take more than {SMALL_TOTAL >> 20} MiB"
            )
        data = head + src.read(m.size - len(head))
        self.members[name] = Staged(
            "sha256:" + hashlib.sha256(data).hexdigest(), len(data), data=data
        )

    def _layer(self, raw: _Hashing, kind: str) -> Staged:
        chunks = decompress_chunks(kind, iter(raw))
        tmp = tempfile.mkdtemp(dir=self.store.snapshots.root, prefix="tmp-load-")
        staged = Staged("", 0, dir=tmp)
        splitter = Splitter()
        tee = TeeReader(chunks, splitter)
        try:
            try:
                staged.extracted = extract_layer(tee, tmp, splitter.member)  # type: ignore[arg-type]
                tee.drain()
                staged.diff_id, _ = splitter.finish()
                staged.index = splitter.dump()
            except Unsplittable:
                self._as_blob(staged, splitter, chunks)
        except BaseException:
            shutil.rmtree(staged.dir, ignore_errors=True)
            if staged.blob is not None:
                staged.blob.abort()
            raise
        staged.raw_digest = "sha256:" + raw.hash.hexdigest()
        staged.size = raw.size
        return staged

    def _as_blob(self, staged: Staged, splitter: Splitter, rest: Iterator[bytes]) -> None:
        """Keep the whole tar: what was read, rebuilt, then the rest; extract it again."""
        writer = self.store.content.writer()
        staged.blob = writer
        for chunk in _rebuild(splitter, staged.dir):
            writer.write(chunk)
        writer.write(bytes(splitter.pending))
        for chunk in rest:
            writer.write(chunk)
        writer.flush()
        shutil.rmtree(staged.dir)
        staged.dir = tempfile.mkdtemp(dir=self.store.snapshots.root, prefix="tmp-load-")
        with open(writer.tmp_path, "rb") as f:
            staged.extracted = extract_layer(f, staged.dir)
        staged.diff_id = writer.digest

    def get(self, name: str) -> Staged:
        name = os.path.normpath(name).lstrip("/")
        for _ in range(10):
            if name in self.links:
                name = self.links[name]
        found = self.members.get(name)
        if found is None:
            raise InvalidArgument(f"invalid archive: {name} is missing")
        return found

    def has(self, name: str) -> bool:
        return name in self.members

    def bytes(self, name: str) -> bytes:
        found = self.get(name)
        if found.data is None:
            raise InvalidArgument(f"invalid archive: {name} is a layer, not a JSON file")
        return found.data

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.bytes(name))
        except ValueError as exc:
            raise InvalidArgument(f"invalid archive: {name}: {exc}") from exc

    def close(self) -> None:
        for s in self.members.values():
            if s.dir and not s.adopted:
                shutil.rmtree(s.dir, ignore_errors=True)
            if s.blob is not None:
                s.blob.abort()


def _rebuild(splitter: Splitter, root: str) -> Iterator[bytes]:
    from wharfie.images.tarsplit import _file_data

    for kind, value, size in splitter.records:
        if kind == "R":
            assert isinstance(value, bytes)
            yield value
        else:
            assert isinstance(value, str)
            yield from _file_data(root, value, size)


def adopt(store: ImageStore, staged: Staged, parent: str, diff_id: str) -> tuple[str, bool, int]:
    """A staged layer as the snapshot of its chain: (chain id, created?, size)."""
    if not staged.dir:
        raise InvalidArgument("invalid archive: a layer entry is not a tar")
    if staged.diff_id != diff_id:
        raise InvalidArgument(
            f"invalid archive: layer content does not match its diff id: "
            f"expected {diff_id}, got {staged.diff_id}"
        )
    chain = chain_of(parent, diff_id)
    if store.has_layer(chain):
        return chain, False, store.layer_size(chain)

    def fill(tmp: str) -> None:
        if staged.adopted:  # the same layer under a second parent: rebuild and extract
            _, chunks = layer_tar(store, diff_id, staged.adopted)
            extract_layer(TeeReader(chunks, _Null()), tmp)  # type: ignore[arg-type]
            return
        os.rmdir(tmp)
        os.rename(staged.dir, tmp)

    store.snapshots.create(chain, fill)
    if not staged.adopted:
        staged.adopted = chain
        if staged.index is not None:
            write_index(store.tarsplit_root, diff_id, staged.index)
        if staged.blob is not None and not store.content.has(diff_id):
            staged.blob.commit(diff_id, sync=False)
            staged.blob = None
    return chain, True, staged.extracted


class _Null:
    def write(self, data: bytes) -> int:
        return len(data)
