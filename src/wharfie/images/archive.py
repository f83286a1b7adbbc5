"""A container's files: stat, tar and extract paths (the archive endpoints), export, diff.

`root` is the container's root filesystem on the host (its mounted overlay). Paths are
resolved *within* root: every symlink met on the way is interpreted as if root were `/`
(like moby's FollowSymlinkInScope), so a link to "/etc" means `<root>/etc`. The last
component is not followed (stat/tar of a symlink is the symlink), except for a trailing
"/" or "/.". NotFound messages read "Could not find the file <path> in container"; the
engine appends the container's name (Docker: "... in container <name>").
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat as stat_mod
from collections.abc import Iterator
from typing import IO, Any

from wharfie.errors import InvalidArgument, NotFound
from wharfie.images import present
from wharfie.images.extract import Extractor, open_tar
from wharfie.images.tarstream import end, tree

_MAX_LINKS = 40
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


def resolve(root: str, path: str, follow_last: bool = False) -> str:
    """`path` as a clean absolute path inside root with symlinks (but maybe the last)
    resolved in scope. Missing components are fine (they are returned as named)."""
    todo = [c for c in path.split("/") if c not in ("", ".")]
    done: list[str] = []
    links = 0
    while todo:
        comp = todo.pop(0)
        if comp == "..":
            if done:
                done.pop()
            continue
        host = os.path.join(root, *done, comp)
        if (todo or follow_last) and os.path.islink(host):
            links += 1
            if links > _MAX_LINKS:
                raise InvalidArgument(f"too many levels of symbolic links in {path}")
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            todo = [c for c in target.split("/") if c not in ("", ".")] + todo
            continue
        done.append(comp)
    return "/" + "/".join(done)


def _host(root: str, inside: str) -> str:
    return os.path.join(root, inside.lstrip("/")) if inside != "/" else root


def stat(root: str, path: str) -> dict[str, Any]:
    follow = path.endswith("/") or path.endswith("/.")
    inside = resolve(root, path, follow_last=follow)
    host = _host(root, inside)
    try:
        st = os.lstat(host)
    except OSError as exc:
        raise _not_found(path) from exc
    link = ""
    if stat_mod.S_ISLNK(st.st_mode):
        link = resolve(root, inside, follow_last=True)
    return {
        "name": posixpath.basename(inside) or "/",
        "size": st.st_size,
        "mode": go_file_mode(st.st_mode),
        "mtime": go_time(st.st_mtime_ns),
        "linkTarget": link,
    }


def _open_dir(root: str, inside: str) -> int:
    """An fd of the directory `inside` root, opened without following any symlink."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for comp in [c for c in inside.split("/") if c]:
            nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except OSError:
        os.close(fd)
        raise
    return fd


def tar(root: str, path: str) -> Iterator[bytes]:
    """GET archive: the file or directory at `path`, named by its basename; for a path
    ending in "/." the directory's contents only. Symlinks inside are stored as links."""
    contents_only = path.endswith("/.")
    follow = contents_only or path.endswith("/")
    inside = resolve(root, path, follow_last=follow)
    parent, base = posixpath.split(inside)
    try:
        pfd = _open_dir(root, parent)
    except OSError as exc:
        raise _not_found(path) from exc
    try:
        os.stat(base or ".", dir_fd=pfd, follow_symlinks=False)
    except OSError as exc:
        os.close(pfd)
        raise _not_found(path) from exc
    return _tar_from(pfd, base or ".", "" if contents_only or not base else base)


def _tar_from(pfd: int, base: str, arcname: str) -> Iterator[bytes]:
    try:
        yield from tree(pfd, base, arcname)
    finally:
        os.close(pfd)


def export(root: str) -> Iterator[bytes]:
    """The whole root filesystem as a tar (docker export)."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        yield from tree(fd, ".", "", finish=False)
        yield end()
    finally:
        os.close(fd)


def extract(
    root: str,
    path: str,
    stream: IO[bytes],
    *,
    no_overwrite_dir_non_dir: bool,
    copy_uid_gid: bool,
) -> None:
    """PUT archive: extract a (possibly compressed) tar into the directory at `path`."""
    inside = resolve(root, path, follow_last=True)
    try:
        fd = _open_dir(root, inside)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise InvalidArgument("extraction point is not a directory") from exc
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
