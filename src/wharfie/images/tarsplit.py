"""Layer tars kept as their extracted files plus an index (like Docker's tar-split).

A pulled or loaded layer is written once, as its extracted snapshot; the tar's own bytes
other than file contents (headers, PAX records, padding, the end blocks) go to a small
index, `<content>/tarsplit/<diff hex>`, with a reference (path, size) for each regular
file's data. `reader()` reassembles the original tar byte for byte from the two (the diff
id is checked as it streams), which is what push and save need.

A layer whose extraction loses bytes (the same path twice, a path replaced by a later
entry, a whiteout or opaque dir hiding an entry of the same layer, sparse files) cannot
be reassembled: `Splitter` raises `Unsplittable` and the caller keeps the whole tar.

Index format (isal-gzip compressed): b"WTS1", total size (8 bytes BE), then records:
b"R" + len(8) + raw bytes, or b"F" + size(8) + len(4) + path (UTF-8, surrogateescape).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import struct
import tarfile
import tempfile
from collections.abc import Iterator

from wharfie.errors import InvalidArgument
from wharfie.images.tarstream import WH_OPAQUE, WH_PREFIX

MAGIC = b"WTS1"
CHUNK = 1 << 20


class Unsplittable(Exception):
    """This layer's tar cannot be rebuilt from its extracted files."""


class Splitter:
    """Receives the tar's bytes in order (`write`) and the members tarfile parsed from them
    (`member`), and keeps everything but regular files' data."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.pos = 0  # bytes received
        self.done = 0  # bytes classified
        self.pending = bytearray()  # bytes [done, pos)
        self.skip_until = 0  # data of the current file ends here
        self.records: list[tuple[str, bytes | str, int]] = []
        self.paths: set[str] = set()
        self.parents: set[str] = set()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.pos += len(data)
        self.pending += data
        self._classify(self.pos)
        return len(data)

    def _classify(self, upto: int) -> None:
        """Drop file data below `skip_until`; what lies beyond waits for the next member."""
        if self.done < self.skip_until:
            cut = min(self.skip_until, self.pos) - self.done
            del self.pending[:cut]
            self.done += cut

    def _raw(self, upto: int) -> None:
        n = upto - self.done
        if n <= 0:
            return
        if n > len(self.pending):
            raise Unsplittable("tar stream ahead of the data received")
        data = bytes(self.pending[:n])
        del self.pending[:n]
        self.done = upto
        if self.records and self.records[-1][0] == "R":
            prev = self.records[-1][1]
            assert isinstance(prev, bytes)
            self.records[-1] = ("R", prev + data, 0)
        else:
            self.records.append(("R", data, 0))

    def member(self, m: tarfile.TarInfo) -> None:
        """Called by the extractor for every member, before its data is consumed."""
        self._raw(m.offset_data)
        rel = posixpath.normpath("/" + m.name.lstrip("/")).lstrip("/")
        self._check(rel, m)
        if m.isreg() and m.size > 0:
            if m.type == tarfile.GNUTYPE_SPARSE or m.sparse is not None:
                raise Unsplittable(f"sparse file {m.name!r}")
            if posixpath.basename(rel).startswith(WH_PREFIX):
                raise Unsplittable(f"whiteout {m.name!r} with data")
            self.records.append(("F", rel, m.size))
            self.skip_until = m.offset_data + m.size
            self._classify(self.pos)

    def _check(self, rel: str, m: tarfile.TarInfo) -> None:
        base = posixpath.basename(rel)
        parent = posixpath.dirname(rel)
        if base == WH_OPAQUE:
            if any(p == parent or p.startswith(parent + "/") for p in self.paths if parent):
                raise Unsplittable(f"opaque dir {parent!r} hides entries of the same layer")
            return
        if base.startswith(WH_PREFIX):
            target = posixpath.join(parent, base[len(WH_PREFIX) :])
            if target in self.paths or target in self.parents:
                raise Unsplittable(f"whiteout of {target!r} from the same layer")
            return
        if rel in self.paths and not m.isdir():
            raise Unsplittable(f"{rel!r} appears twice")
        if rel in self.parents and not m.isdir():
            raise Unsplittable(f"{rel!r} replaces a directory of the same layer")
        self.paths.add(rel)
        while parent:
            if parent in self.parents:
                break
            self.parents.add(parent)
            parent = posixpath.dirname(parent)

    def finish(self) -> tuple[str, int]:
        """After the last byte: (diff id, size)."""
        if self.done < self.skip_until:
            raise InvalidArgument("invalid tar: unexpected end of data")
        self._raw(self.pos)
        return "sha256:" + self.hash.hexdigest(), self.pos

    def dump(self) -> bytes:
        out = [MAGIC, struct.pack(">Q", self.pos)]
        for kind, value, size in self.records:
            if kind == "R":
                assert isinstance(value, bytes)
                out += [b"R", struct.pack(">Q", len(value)), value]
            else:
                assert isinstance(value, str)
                path = value.encode("utf-8", "surrogateescape")
                out += [b"F", struct.pack(">QI", size, len(path)), path]
        from isal import isal_zlib

        raw = b"".join(out)
        return bytes(isal_zlib.compress(raw, 1))


def index_path(root: str, diff_id: str) -> str:
    return os.path.join(root, diff_id.removeprefix("sha256:"))


def write_index(root: str, diff_id: str, data: bytes) -> None:
    os.makedirs(root, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, prefix="tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.rename(tmp, index_path(root, diff_id))


def _records(root: str, diff_id: str) -> tuple[int, list[tuple[str, bytes | str, int]]]:
    from isal import isal_zlib

    with open(index_path(root, diff_id), "rb") as f:
        raw = isal_zlib.decompress(f.read())
    if raw[:4] != MAGIC:
        raise InvalidArgument(f"layer index of {diff_id} is damaged")
    (total,) = struct.unpack(">Q", raw[4:12])
    pos = 12
    out: list[tuple[str, bytes | str, int]] = []
    while pos < len(raw):
        kind = raw[pos : pos + 1]
        if kind == b"R":
            (n,) = struct.unpack(">Q", raw[pos + 1 : pos + 9])
            out.append(("R", raw[pos + 9 : pos + 9 + n], 0))
            pos += 9 + n
        elif kind == b"F":
            size, n = struct.unpack(">QI", raw[pos + 1 : pos + 13])
            out.append(("F", raw[pos + 13 : pos + 13 + n].decode("utf-8", "surrogateescape"), size))
            pos += 13 + n
        else:
            raise InvalidArgument(f"layer index of {diff_id} is damaged")
    return total, out


def size_of(root: str, diff_id: str) -> int:
    from isal import isal_zlib

    with open(index_path(root, diff_id), "rb") as f:
        head = isal_zlib.decompressobj().decompress(f.read(4096), 12)
    return int(struct.unpack(">Q", head[4:12])[0])


def reader(root: str, diff_id: str, snapshot: str) -> Iterator[bytes]:
    """The layer tar rebuilt from its index and extracted files; checked against diff_id."""
    _, records = _records(root, diff_id)
    h = hashlib.sha256()
    for kind, value, size in records:
        if kind == "R":
            assert isinstance(value, bytes)
            h.update(value)
            yield value
            continue
        assert isinstance(value, str)
        for chunk in _file_data(snapshot, value, size):
            h.update(chunk)
            yield chunk
    if "sha256:" + h.hexdigest() != diff_id:
        raise InvalidArgument(
            f"layer {diff_id}: the extracted files changed; its tar can no longer be rebuilt"
        )


def _file_data(snapshot: str, rel: str, size: int) -> Iterator[bytes]:
    path = os.path.join(snapshot, rel)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InvalidArgument(f"layer file {rel!r} is missing: {exc.strerror}") from exc
    try:
        left = size
        while left > 0:
            data = os.read(fd, min(CHUNK, left))
            if not data:
                raise InvalidArgument(f"layer file {rel!r} is shorter than its tar entry")
            left -= len(data)
            yield data
    finally:
        os.close(fd)
