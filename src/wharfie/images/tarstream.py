"""Tar streams written from a directory tree, read through directory fds.

`tree(root_fd, arcname, ...)` yields the bytes of a PAX tar of one file or directory tree
without following any symlink (they are stored as links), so a tree that is a container's
root filesystem cannot point the walk at the host. Files are streamed in chunks. With
`whiteouts=True` the tree is an overlay upper dir: 0:0 char devices become AUFS-style
`.wh.<name>` entries and opaque dirs get a `.wh..wh..opq` entry (docker's layer format);
`trusted.overlay.*` xattrs are never copied.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator

BLOCK = 512
_CHUNK = 1 << 20
_ENC = "utf-8"
_ERR = "surrogateescape"
WH_PREFIX = ".wh."
WH_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def header(ti: tarfile.TarInfo) -> bytes:
    return ti.tobuf(tarfile.PAX_FORMAT, _ENC, _ERR)


def end() -> bytes:
    return b"\0" * (2 * BLOCK)


def _xattrs(fd: int) -> dict[str, str]:
    """PAX headers for the xattrs of an open file (overlay's own are left out)."""
    out: dict[str, str] = {}
    try:
        names = os.listxattr(fd)
    except OSError:
        return out  # no xattr support on this filesystem
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            value = os.getxattr(fd, name)
        except OSError:
            continue  # removed meanwhile
        out["SCHILY.xattr." + name] = value.decode(_ENC, _ERR)
    return out


def info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    fmt = stat.S_IFMT(st.st_mode)
    if fmt == stat.S_IFDIR:
        ti.type = tarfile.DIRTYPE
    elif fmt == stat.S_IFLNK:
        ti.type = tarfile.SYMTYPE
    elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
        ti.type = tarfile.CHRTYPE if fmt == stat.S_IFCHR else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif fmt == stat.S_IFIFO:
        ti.type = tarfile.FIFOTYPE
    else:
        ti.type = tarfile.REGTYPE
        ti.size = st.st_size
    return ti


class _Walker:
    def __init__(self, whiteouts: bool) -> None:
        self.whiteouts = whiteouts
        self.links: dict[tuple[int, int], str] = {}

    def entry(self, parent_fd: int, base: str, name: str) -> Iterator[bytes]:
        """One entry `base` under `parent_fd`, stored as `name`; recurses into dirs."""
        st = os.stat(base, dir_fd=parent_fd, follow_symlinks=False)
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFSOCK:
            return  # sockets are not archived (as docker)
        if self.whiteouts and fmt == stat.S_IFCHR and st.st_rdev == 0:
            yield from self._whiteout(name)
            return
        if fmt == stat.S_IFDIR:
            yield from self._dir(parent_fd, base, name, st)
        elif fmt == stat.S_IFREG:
            yield from self._file(parent_fd, base, name, st)
        else:
            ti = info(name, st)
            if fmt == stat.S_IFLNK:
                ti.linkname = os.readlink(base, dir_fd=parent_fd)
            yield header(ti)

    def _whiteout(self, name: str) -> Iterator[bytes]:
        head, _, base = name.rpartition("/")
        ti = tarfile.TarInfo(f"{head}/{WH_PREFIX}{base}" if head else WH_PREFIX + base)
        ti.mode = 0o644
        yield header(ti)

    def _dir(self, parent_fd: int, base: str, name: str, st: os.stat_result) -> Iterator[bytes]:
        fd = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            ti = info(name, st)
            ti.pax_headers = {**ti.pax_headers, **_xattrs(fd)}
            if name not in (".", ""):
                yield header(ti)
            prefix = "" if name in (".", "") else name + "/"
            if self.whiteouts and _opaque(fd):
                yield header(_plain(prefix + WH_OPAQUE))
            with os.scandir(fd) as it:
                children = sorted(e.name for e in it)
            for child in children:
                yield from self.entry(fd, child, prefix + child)
        finally:
            os.close(fd)

    def _file(self, parent_fd: int, base: str, name: str, st: os.stat_result) -> Iterator[bytes]:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            ti = info(name, st)
            ti.type, ti.size, ti.linkname = tarfile.LNKTYPE, 0, self.links[key]
            yield header(ti)
            return
        if st.st_nlink > 1:
            self.links[key] = name
        fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
        try:
            ti = info(name, st)
            ti.pax_headers = {**ti.pax_headers, **_xattrs(fd)}
            yield header(ti)
            yield from _data(fd, ti.size)
        finally:
            os.close(fd)


def _plain(name: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = 0o644
    return ti


def _opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _data(fd: int, size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:  # the file shrank while being read: keep the header's promise
            chunk = b"\0" * min(left, _CHUNK)
        yield chunk
        left -= len(chunk)
    if size % BLOCK:
        yield b"\0" * (BLOCK - size % BLOCK)


def tree(
    parent_fd: int, base: str, arcname: str, *, whiteouts: bool = False, finish: bool = True
) -> Iterator[bytes]:
    """Tar bytes of `base` under `parent_fd` named `arcname` ("" = its contents only)."""
    walker = _Walker(whiteouts)
    yield from walker.entry(parent_fd, base, arcname)
    if finish:
        yield end()
