"""The build context: a tar (plain or compressed) unpacked safely into a directory.

The daemon gets the context as a tar (the client already left out what .dockerignore
excludes). Extraction never leaves the directory (images.extract). As Docker does, the
Dockerfile and .dockerignore are removed from the context when .dockerignore names them,
so COPY cannot see them, after the Dockerfile has been read.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from typing import IO

from wharfie.errors import InvalidArgument, NotFound
from wharfie.images.extract import Extractor, open_tar
from wharfie.patterns import Matcher, read_dockerignore

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Padded:
    """A plain tar stream completed at its end: the docker CLI's context for a Dockerfile
    outside the context ends right after the last file's data (Go's reader accepts that;
    Python's stream reader wants the padding and the end blocks)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.head = stream.read(512)
        self.total = 0
        self.tail: bytes | None = None
        self.compressed = (
            self.head[:2] == b"\x1f\x8b"
            or self.head[:3] == b"BZh"
            or (self.head[:6] == b"\xfd7zXZ\x00")
        )

    def read(self, n: int = -1) -> bytes:
        if self.head:
            data, self.head = self.head, b""
        else:
            data = self.stream.read(n) if self.tail is None else b""
        if data:
            self.total += len(data)
            return data
        if self.compressed:
            return b""
        if self.tail is None:
            self.tail = b"\0" * ((512 - self.total % 512) % 512 + 1024)
        size = len(self.tail) if n < 0 else n
        out, self.tail = self.tail[:size], self.tail[size:]
        return out


def extract(stream: IO[bytes], dest: str) -> None:
    """Unpack a context tar (gzip, bzip2 and xz detected) into the empty dir `dest`."""
    fd = os.open(dest, _DIR_FLAGS)
    try:
        ex = Extractor(fd, layer=False)
        with open_tar(_Padded(stream), detect_compression=True) as tf:  # type: ignore[arg-type]
            ex.run(tf)
    except tarfile.ReadError as exc:
        if "empty file" in str(exc):
            return  # an empty body: an empty context
        raise InvalidArgument(f"invalid build context tar: {exc}") from exc
    except tarfile.TarError as exc:
        raise InvalidArgument(f"invalid build context tar: {exc}") from exc
    finally:
        os.close(fd)


def extract_archive(path: str, dest: str) -> None:
    """ADD of a local archive: its entries into `dest` (owners from the archive)."""
    fd = os.open(dest, _DIR_FLAGS)
    try:
        with open(path, "rb") as f:
            ex = Extractor(fd, layer=False)
            with open_tar(f, detect_compression=True) as tf:
                ex.run(tf)
    except tarfile.TarError as exc:
        raise InvalidArgument(f"failed to extract {os.path.basename(path)}: {exc}") from exc
    finally:
        os.close(fd)


def read_dockerfile(root: str, name: str) -> tuple[str, str]:
    """(text, name) of the Dockerfile inside the context (`name` relative to it)."""
    from wharfie.build.copier import inside

    rel = posixpath.normpath("/" + (name or "Dockerfile")).lstrip("/")
    path = inside(root, rel, follow_last=True)  # a symlink cannot point out of the context
    if not os.path.isfile(path) and not name:
        alt = inside(root, "dockerfile", follow_last=True)
        path = alt if os.path.isfile(alt) else path
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read(), rel
    except FileNotFoundError:
        raise NotFound(f"Cannot locate specified Dockerfile: {name or 'Dockerfile'}") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read the Dockerfile {rel}: {exc.strerror}") from exc


def hide_ignored(root: str, dockerfile: str) -> None:
    """Drop the Dockerfile and .dockerignore from the context if .dockerignore names them."""
    path = os.path.join(root, ".dockerignore")
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        matcher = Matcher(read_dockerignore(f.read()))
    for rel in (dockerfile, ".dockerignore"):
        full = os.path.join(root, rel)
        if os.path.isfile(full) and matcher.excluded(rel):
            os.unlink(full)
