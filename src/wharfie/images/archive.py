"""A container's files: stat, tar and extract paths (the archive endpoints), export, diff.

`root` is the container's root filesystem on the host (its mounted overlay). Paths are
resolved *within* root: every symlink met on the way is interpreted as if root were `/`
(like moby's FollowSymlinkInScope), so a link to "/etc" means `<root>/etc`. The last
component is not followed (stat/tar of a symlink is the symlink), except for a trailing
"/" or "/.". NotFound messages read "Could not find the file <path> in container"; the
engine appends the container's name (Docker: "... in container <name>").
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat as stat_mod
from collections.abc import Iterator
from typing import IO, Any

from wharfie import fsroot
from wharfie.errors import InvalidArgument, NotFound
from wharfie.images import present
from wharfie.images.extract import Extractor, open_tar
from wharfie.images.tarstream import end, tree

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# Go os.FileMode bits
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20


def go_file_mode(st_mode: int) -> int:
    """Go's os.FileMode of a Unix st_mode."""
    mode = st_mode & 0o777
    fmt = stat_mod.S_IFMT(st_mode)
    mode |= {
        stat_mod.S_IFDIR: MODE_DIR,
        stat_mod.S_IFLNK: MODE_SYMLINK,
        stat_mod.S_IFIFO: MODE_NAMED_PIPE,
        stat_mod.S_IFSOCK: MODE_SOCKET,
        stat_mod.S_IFBLK: MODE_DEVICE,
        stat_mod.S_IFCHR: MODE_DEVICE | MODE_CHAR_DEVICE,
    }.get(fmt, 0)
    if st_mode & stat_mod.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & stat_mod.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & stat_mod.S_ISVTX:
        mode |= MODE_STICKY
    return mode


def go_time(ts_ns: int) -> str:
    """time.Time as Go marshals it (RFC3339Nano, UTC here)."""
    return present.rfc3339_ns(ts_ns)


def _not_found(path: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container")


Root = str | int  # a root directory, by path or by an open descriptor


@contextlib.contextmanager
def _root_fd(root: Root) -> Iterator[int]:
    if isinstance(root, int):
        yield root
        return
    fd = fsroot.open_root(root)
    try:
        yield fd
    finally:
        os.close(fd)


def resolve(root: Root, path: str, follow_last: bool = False) -> str:
    """`path` as a clean absolute path inside root with symlinks (but maybe the last)
    resolved in scope. Missing components are fine (they are returned as named). A name
    to report; to reach the file, open it with `fsroot.open_in`."""
    with _root_fd(root) as fd:
        try:
            return fsroot.scoped_path(fd, path, follow=follow_last)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InvalidArgument(f"too many levels of symbolic links in {path}") from exc
            raise


def _follows(path: str) -> bool:
    """A trailing "/" or "/." names what a last symlink points at (Docker's rule)."""
    return path.endswith("/") or path.endswith("/.")


def _name(path: str) -> str:
    """The stat name: the base of the path as given, a trailing "/." kept (Docker's)."""
    if path.endswith("/.") or path == ".":
        return "."
    return posixpath.basename(posixpath.normpath("/" + path)) or "/"


def _open(root: int, path: str, flags: int = os.O_PATH) -> int:
    try:
        return fsroot.open_in(root, path, flags, follow=_follows(path))
    except OSError as exc:
        if exc.errno == errno.ENOTDIR and path.endswith("/"):
            raise InvalidArgument(f"not a directory: {path}") from exc
        raise _not_found(path) from exc


def stat(root: Root, path: str) -> dict[str, Any]:
    """The stat header of `path` (X-Docker-Container-Path-Stat): what is inside root, read
    through one descriptor, so nothing on the host can be reported."""
    with _root_fd(root) as rfd:
        fd = _open(rfd, path)
        try:
            st = os.fstat(fd)
            link = ""
            if stat_mod.S_ISLNK(st.st_mode):
                inside = fsroot.scoped_path(rfd, path, follow=False)
                try:
                    link = fsroot.scoped_path(rfd, inside)
                except OSError:  # a loop: report the link's own text, in scope
                    link = posixpath.normpath(
                        posixpath.join(posixpath.dirname(inside), os.readlink("", dir_fd=fd))
                    )
        finally:
            os.close(fd)
    return {
        "name": _name(path),
        "size": st.st_size,
        "mode": go_file_mode(st.st_mode),
        "mtime": go_time(st.st_mtime_ns),
        "linkTarget": link,
    }


def tar(root: Root, path: str) -> Iterator[bytes]:
    """GET archive: the file or directory at `path`, named by its basename; for a path
    ending in "/." the directory's contents only. Symlinks inside are stored as links.
    The parent is opened (in scope) before this returns, so a missing path fails here."""
    contents_only = path.endswith("/.")
    with _root_fd(root) as rfd:
        if contents_only or not fsroot.components(path):
            fd = _open(rfd, path, os.O_RDONLY | os.O_DIRECTORY)
            return _tar_from(fd, ".", "")
        if _follows(path):
            fd = _open(rfd, path, os.O_PATH)
            try:
                pfd, base = fsroot.open_parent(rfd, fsroot.scoped_path(rfd, path))
            finally:
                os.close(fd)
        else:
            try:
                pfd, base = fsroot.open_parent(rfd, path)
            except OSError as exc:
                raise _not_found(path) from exc
        try:
            os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except OSError as exc:
            os.close(pfd)
            raise _not_found(path) from exc
        return _tar_from(pfd, base, base)


def _tar_from(pfd: int, base: str, arcname: str) -> Iterator[bytes]:
    try:
        yield from tree(pfd, base, arcname)
    finally:
        os.close(pfd)


def export(root: Root) -> Iterator[bytes]:
    """The whole root filesystem as a tar (docker export)."""
    with _root_fd(root) as rfd:
        fd = os.open(".", _DIR_FLAGS, dir_fd=rfd)
    try:
        yield from tree(fd, ".", "", finish=False)
        yield end()
    finally:
        os.close(fd)


def extract(
    root: Root,
    path: str,
    stream: IO[bytes],
    *,
    no_overwrite_dir_non_dir: bool,
    copy_uid_gid: bool,
) -> None:
    """PUT archive: extract a (possibly compressed) tar into the directory at `path`."""
    with _root_fd(root) as rfd:
        try:
            fd = fsroot.open_in(rfd, path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            if exc.errno == errno.ENOTDIR:
                raise InvalidArgument("extraction point is not a directory") from exc
            if exc.errno == errno.ELOOP:
                raise InvalidArgument(f"too many levels of symbolic links in {path}") from exc
            raise _not_found(path) from exc
    try:
        ex = Extractor(
            fd,
            layer=False,
            owner=None if copy_uid_gid else (0, 0),
            no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
        )
        with open_tar(stream, detect_compression=True) as tf:
            ex.run(tf)
    except (OSError, EOFError) as exc:
        raise InvalidArgument(f"extract archive into {path}: {exc}") from exc
    finally:
        os.close(fd)


def changes(upper: str, lowers: list[str]) -> list[dict[str, Any]]:
    """docker diff from an overlay upper dir: whiteouts are deletions (2), entries that
    exist in a lower layer are modifications (0), the rest additions (1)."""
    out: list[dict[str, Any]] = []
    _changes(upper, "", lowers, out)
    out.sort(key=lambda c: c["Path"])
    return out


def _changes(upper: str, rel: str, lowers: list[str], out: list[dict[str, Any]]) -> None:
    with os.scandir(os.path.join(upper, rel) if rel else upper) as it:
        entries = list(it)
    for entry in entries:
        child = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        if stat_mod.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            out.append({"Path": "/" + child, "Kind": 2})
            continue
        in_lower = any(os.path.lexists(os.path.join(low, child)) for low in lowers)
        out.append({"Path": "/" + child, "Kind": 0 if in_lower else 1})
        if stat_mod.S_ISDIR(st.st_mode):
            _changes(upper, child, lowers, out)
