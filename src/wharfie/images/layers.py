"""Layer identity and the streams that become layers: chain ids, decompression, import."""

from __future__ import annotations

import bz2
import hashlib
import lzma
import os
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

from wharfie.errors import InvalidArgument, NotImplementedFeature

_CHUNK = 1 << 20

_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def host_arch() -> str:
    machine = os.uname().machine
    return _ARCH.get(machine, machine)


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI chain ids: chain(L1) = diff(L1); chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln))."""
    out: list[str] = []
    for diff in diff_ids:
        if not out:
            out.append(diff)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


class _Decomp(Protocol):
    def decompress(self, data: bytes) -> bytes: ...


def _gzip() -> _Decomp:
    from isal import isal_zlib  # ISA-L: several times zlib's speed

    return isal_zlib.decompressobj(16 + zlib.MAX_WBITS)


def _zstd() -> _Decomp:
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


def decompressor(kind: str) -> Callable[[], _Decomp] | None:
    """A decompressor factory for "gzip", "zstd" (None for "none")."""
    if kind == "gzip":
        return _gzip
    if kind == "zstd":
        return _zstd
    if kind == "none":
        return None
    raise NotImplementedFeature(f"unsupported layer compression {kind!r}")


def _decompressor(head: bytes) -> Callable[[], _Decomp] | None:
    if head.startswith(b"\x1f\x8b"):
        return _gzip
    if head.startswith(b"BZh"):
        return bz2.BZ2Decompressor
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return _zstd
    return None


def _read_head(stream: BinaryIO) -> bytes:
    head = b""
    while len(head) < 6:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        head += chunk
    return head


def uncompressed(stream: BinaryIO) -> Iterator[bytes]:
    """The bytes of `stream`, gunzipped/bunzipped/unxz'ed if it starts with their magic."""
    head = _read_head(stream)
    make = _decompressor(head)
    if make is None:
        yield head
        while chunk := stream.read(_CHUNK):
            yield chunk
        return
    try:
        yield from _decompress(make, head, stream)
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
        raise InvalidArgument(f"invalid compressed archive: {exc}") from exc


def decompress_chunks(kind: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Chunks of a compressed stream ("gzip", "zstd", "none"), uncompressed, as they come."""
    make = decompressor(kind)
    if make is None:
        yield from chunks
        return
    d = make()
    try:
        for data in chunks:
            while data:
                out = d.decompress(data)
                if out:
                    yield out
                rest: bytes = getattr(d, "unused_data", b"")
                if getattr(d, "eof", False) and rest:
                    d, data = make(), rest  # the next gzip member / zstd frame
                    continue
                data = b""
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        raise InvalidArgument(f"invalid {kind} layer: {exc}") from exc
    if not getattr(d, "eof", True):
        raise InvalidArgument(f"invalid {kind} layer: unexpected end of data")


def _decompress(make: Callable[[], _Decomp], head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    d = make()
    data = head
    while True:
        if data:
            out = d.decompress(data)
            if out:
                yield out
            rest: bytes = getattr(d, "unused_data", b"")
            if getattr(d, "eof", False) and rest:
                d, data = make(), rest  # next gzip member (or trailing data of a stream)
                continue
        data = stream.read(_CHUNK)
        if not data:
            break
    if not getattr(d, "eof", True):
        raise InvalidArgument("invalid compressed archive: unexpected end of data")
