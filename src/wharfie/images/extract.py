"""Safe tar extraction into a directory, through directory fds.

Every entry is created relative to an fd of its parent directory, and parents are opened
with O_NOFOLLOW: an entry whose path crosses a symlink is refused, ".." never leaves the
root, absolute names are made relative, and hardlink targets must lie inside the tree.
Two modes share the code: a *layer* (docker's AUFS whiteouts become overlay whiteouts:
".wh.x" -> 0:0 char device "x", ".wh..wh..opq" -> trusted.overlay.opaque=y; ownership
from the tar) and an *archive* PUT (ownership from the tar or root's, no whiteouts).
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable
from typing import IO

from wharfie.errors import InvalidArgument
from wharfie.images.tarstream import OPAQUE_XATTR, WH_OPAQUE, WH_PREFIX

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def clean_name(name: str) -> str:
    """The entry's path relative to the root ("" for the root); InvalidArgument if it escapes."""
    rel = posixpath.normpath("/" + name.lstrip("/"))
    raw = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if raw == ".." or raw.startswith("../"):
        raise InvalidArgument(f"invalid tar entry {name!r}: path escapes the destination")
    return rel.lstrip("/")


class Extractor:
    """Extracts tar members into the directory open as `root_fd` (not closed here)."""

    def __init__(
        self,
        root_fd: int,
        *,
        layer: bool,
        owner: tuple[int, int] | None = None,
        no_overwrite_dir_non_dir: bool = False,
    ) -> None:
        self.layer = layer
        self.owner = owner  # None: the tar's uid/gid
        self.no_overwrite = no_overwrite_dir_non_dir
        self._fds: dict[str, int] = {"": root_fd}
        self._dir_times: list[tuple[str, int]] = []
        self.size = 0  # bytes of regular file data

    # -- directory fds ---------------------------------------------------------------

    def _dir(self, rel: str, create: bool = True) -> int:
        fd = self._fds.get(rel)
        if fd is not None:
            return fd
        parent, _, base = rel.rpartition("/")
        pfd = self._dir(parent, create)
        try:
            fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(base, 0o755, dir_fd=pfd)
            fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                msg = f"{rel}: not a directory (symlinks are not followed)"
                raise InvalidArgument(msg) from exc
            raise
        self._fds[rel] = fd
        return fd

    def _forget(self, rel: str) -> None:
        for key in [k for k in self._fds if k == rel or k.startswith(rel + "/")]:
            os.close(self._fds.pop(key))

    def close(self) -> None:
        for rel, fd in self._fds.items():
            if rel:
                os.close(fd)
        self._fds = {"": self._fds[""]}

    # -- members -----------------------------------------------------------------------

    def run(
        self, tf: tarfile.TarFile, on_member: Callable[[tarfile.TarInfo], None] | None = None
    ) -> None:
        try:
            for member in tf:
                if on_member is not None:
                    on_member(member)
                self.member(tf, member)
            self.finish()
        except tarfile.TarError as exc:
            raise InvalidArgument(f"invalid tar: {exc}") from exc
        finally:
            self.close()

    def finish(self) -> None:
        for rel, mtime in reversed(self._dir_times):
            fd = self._fds.get(rel)
            if fd is None:
                continue
            os.utime(fd, (mtime, mtime))
        self._dir_times = []

    def member(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        rel = clean_name(m.name)
        if not rel:
            if m.isdir() and self.layer:
                self._meta_fd(self._fds[""], m)
                self._dir_times.append(("", int(m.mtime)))
            return
        parent, _, base = rel.rpartition("/")
        if self.layer and base.startswith(WH_PREFIX):
            self._whiteout(parent, base, m)
            return
        pfd = self._dir(parent)
        self._make_room(pfd, rel, base, m)
        self._create(tf, pfd, parent, base, m)

    def _whiteout(self, parent: str, base: str, m: tarfile.TarInfo) -> None:
        pfd = self._dir(parent)
        if base == WH_OPAQUE:
            os.setxattr(pfd, OPAQUE_XATTR, b"y")
            return
        if base.startswith(WH_PREFIX + WH_PREFIX):
            return  # other AUFS metadata (.wh..wh.plnk, ...)
        name = base[len(WH_PREFIX) :]
        rel = f"{parent}/{name}" if parent else name
        self._remove(pfd, rel, name)
        os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
        os.chown(name, *self._ids(m), dir_fd=pfd, follow_symlinks=False)

    def _make_room(self, pfd: int, rel: str, base: str, m: tarfile.TarInfo) -> None:
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        is_dir = stat.S_ISDIR(st.st_mode)
        if is_dir and m.isdir():
            return
        if self.no_overwrite and is_dir != m.isdir():
            what = "directory" if is_dir else "non-directory"
            raise InvalidArgument(
                f"cannot overwrite {what} {'/' + rel!r} with "
                f"{'directory' if m.isdir() else 'non-directory'} {m.name!r}"
            )
        if m.islnk() and clean_name(m.linkname) == rel:
            return  # hardlink to itself: keep the file
        self._remove(pfd, rel, base)

    def _remove(self, pfd: int, rel: str, base: str) -> None:
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            self._forget(rel)
            shutil.rmtree(base, dir_fd=pfd)
        else:
            os.unlink(base, dir_fd=pfd)

    def _ids(self, m: tarfile.TarInfo) -> tuple[int, int]:
        return self.owner if self.owner is not None else (m.uid, m.gid)

    def _create(
        self, tf: tarfile.TarFile, pfd: int, parent: str, base: str, m: tarfile.TarInfo
    ) -> None:
        rel = f"{parent}/{base}" if parent else base
        if m.isdir():
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
            except FileExistsError:
                pass
            fd = self._dir(rel)
            self._meta_fd(fd, m)
            self._dir_times.append((rel, int(m.mtime)))
        elif m.isreg():
            self._file(tf, pfd, base, m)
        elif m.issym():
            os.symlink(m.linkname, base, dir_fd=pfd)
            os.chown(base, *self._ids(m), dir_fd=pfd, follow_symlinks=False)
            os.utime(base, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)
        elif m.islnk():
            self._hardlink(pfd, base, m)
        elif m.ischr() or m.isblk() or m.isfifo():
            self._node(pfd, base, m)
        else:
            raise InvalidArgument(f"tar entry {m.name!r}: unsupported type {m.type!r}")

    def _file(self, tf: tarfile.TarFile, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        src = tf.extractfile(m)
        if src is None:
            raise InvalidArgument(f"tar entry {m.name!r}: no data")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(base, flags, 0o600, dir_fd=pfd)
        try:
            left = m.size
            while left > 0:
                chunk = src.read(min(left, _CHUNK))
                if not chunk:
                    raise InvalidArgument(f"invalid tar: unexpected end of data in {m.name!r}")
                os.write(fd, chunk)
                left -= len(chunk)
            self._meta_fd(fd, m)
            os.utime(fd, (m.mtime, m.mtime))
        finally:
            os.close(fd)
        self.size += m.size

    def _meta_fd(self, fd: int, m: tarfile.TarInfo) -> None:
        os.fchown(fd, *self._ids(m))
        os.fchmod(fd, m.mode & 0o7777)  # after chown, which clears setuid/setgid
        for key, value in m.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                _setxattr(fd, key[len("SCHILY.xattr.") :], value.encode("utf-8", "surrogateescape"))

    def _hardlink(self, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        target = clean_name(m.linkname)
        if not target:
            raise InvalidArgument(f"invalid hardlink {m.name!r} -> {m.linkname!r}")
        tparent, _, tbase = target.rpartition("/")
        try:
            tfd = self._dir(tparent, create=False)
            os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError as exc:
            raise InvalidArgument(f"hardlink {m.name!r}: target {m.linkname!r} not found") from exc

    def _node(self, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        kind = stat.S_IFIFO if m.isfifo() else stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
        os.chown(base, *self._ids(m), dir_fd=pfd, follow_symlinks=False)
        os.chmod(base, m.mode & 0o7777, dir_fd=pfd)
        os.utime(base, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)


def _setxattr(fd: int, name: str, value: bytes) -> None:
    try:
        os.setxattr(fd, name, value)
    except OSError as exc:
        if exc.errno != errno.EOPNOTSUPP:
            raise OSError(exc.errno, f"setxattr {name}: {exc.strerror}") from exc
        # the filesystem has no xattrs of this namespace: the entry is kept without it


def open_tar(stream: IO[bytes], detect_compression: bool = False) -> tarfile.TarFile:
    """A streaming reader (`r|`, or `r|*` to accept gzip/bz2/xz); names kept as bytes-safe."""
    if detect_compression:
        return tarfile.open(
            fileobj=stream, mode="r|*", encoding="utf-8", errors="surrogateescape", bufsize=_CHUNK
        )
    return tarfile.open(
        fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape", bufsize=_CHUNK
    )


def extract_layer(
    stream: IO[bytes], dest: str, on_member: Callable[[tarfile.TarInfo], None] | None = None
) -> int:
    """Extract a layer tar into the empty dir `dest`; returns its data size in bytes.
    `on_member(m)` sees each member before its data is read (tar-split uses it)."""
    fd = os.open(dest, _DIR_FLAGS)
    try:
        ex = Extractor(fd, layer=True)
        with open_tar(stream) as tf:
            ex.run(tf, on_member)
        return ex.size
    except tarfile.TarError as exc:
        raise InvalidArgument(f"invalid tar: {exc}") from exc
    finally:
        os.close(fd)
