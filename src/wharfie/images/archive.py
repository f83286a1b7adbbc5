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
import shutil
import stat as stat_mod
import threading
from collections.abc import Iterator
from typing import IO, Any

from wharfie import fsroot
from wharfie.errors import InvalidArgument, NotFound, WharfieError
from wharfie.images import present
from wharfie.images.extract import Extractor, open_tar
from wharfie.images.tarstream import end, header, info, tree

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
            return fsroot.scoped_path(fd, _lexical(path), follow=follow_last)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InvalidArgument(f"too many levels of symbolic links in {path}") from exc
            raise


def _lexical(path: str) -> str:
    """The path cleaned as Go's filepath.Join("/", path) cleans it (".." taken lexically,
    before any link is read, as dockerd does), a trailing "/" or "/." kept. A NUL byte is
    bad input (dockerd: 500 "lstat <host path>: invalid argument")."""
    if "\0" in path:
        raise InvalidArgument(f"lstat {path}: invalid argument")
    clean = posixpath.normpath("/" + path.lstrip("/"))  # (POSIX keeps a leading "//")
    if _dot(path):
        return clean.rstrip("/") + "/."
    if path.endswith("/") and clean != "/":
        return clean + "/"
    return clean


def _dot(path: str) -> bool:
    """The path ends in "." (`x/.`, `x/./`): a directory's contents (Go's Base(path) == ".")."""
    return posixpath.basename(path.rstrip("/")) == "."


def _follows(path: str) -> bool:
    """A trailing "/" or "/." names what a last symlink points at (Docker's rule)."""
    return path.endswith("/") or _dot(path)


def _name(path: str) -> str:
    """The stat name: the base of the path as given, a trailing "/." kept (Docker's)."""
    if _dot(path):
        return "."
    return posixpath.basename(posixpath.normpath("/" + path.lstrip("/"))) or "/"


def _open(root: int, path: str, flags: int = os.O_PATH) -> int:
    if _follows(path):  # "x/" names a directory (or a link to one), never a file
        flags |= os.O_DIRECTORY
    try:
        return fsroot.open_in(root, _lexical(path), flags, follow=_follows(path))
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:  # dockerd: 500, naming its host path
            raise InvalidArgument(f"lstat {path}: not a directory") from exc
        raise _not_found(path) from exc


def stat(root: Root, path: str) -> dict[str, Any]:
    """The stat header of `path` (X-Docker-Container-Path-Stat): what is inside root, read
    through one descriptor, so nothing on the host can be reported."""
    with _root_fd(root) as rfd:
        fd = _open(rfd, path)
        try:
            return _stat_of(rfd, path, fd)
        finally:
            os.close(fd)


def _stat_of(rfd: int, path: str, fd: int) -> dict[str, Any]:
    st = os.fstat(fd)
    link = ""
    if stat_mod.S_ISLNK(st.st_mode):
        inside = fsroot.scoped_path(rfd, _lexical(path), follow=False)
        try:
            link = fsroot.scoped_path(rfd, inside)
        except OSError as exc:  # dockerd's words, without its host path; 400, not its 500
            if exc.errno != errno.ELOOP:
                raise _not_found(path) from exc
            raise InvalidArgument(f"evalSymlinksInScope: too many links in {inside}") from exc
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
    return stat_and_tar(root, path)[1]


def stat_and_tar(root: Root, path: str) -> tuple[dict[str, Any], Iterator[bytes]]:
    """GET archive's header and body, both of the one object reached by one resolution
    (a swap between the two cannot make them disagree, nor reach the host)."""
    with _root_fd(root) as rfd:
        pfd, base, arcname = _tar_source(rfd, path)
        try:
            fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        except OSError as exc:
            os.close(pfd)
            raise _not_found(path) from exc
        try:
            st = _stat_of(rfd, path, fd)
        except BaseException:
            os.close(pfd)
            raise
        finally:
            os.close(fd)
    return st, _tar_from(pfd, base, arcname)


def _tar_source(rfd: int, path: str) -> tuple[int, str, str]:
    """(parent directory fd, name in it, name in the archive) of what GET `path` sends.
    The archive name is dockerd's rebase: the base of the path as given (`/etclink/` is
    sent as `etclink/...`), `.` for a trailing "/." (`./`, `./x`), `/` for the root."""
    lexical = _lexical(path)
    if lexical.endswith("/.") or lexical == "/":
        fd = _open(rfd, path, os.O_RDONLY | os.O_DIRECTORY)
        return fd, ".", "/" if lexical == "/" else "."
    if _follows(path):
        os.close(_open(rfd, path, os.O_PATH))  # NotFound, or not a directory, as stat says
        try:
            pfd, base = fsroot.open_parent(rfd, fsroot.scoped_path(rfd, lexical))
        except OSError as exc:
            raise _not_found(path) from exc
        return pfd, base, _name(path)
    try:
        pfd, base = fsroot.open_parent(rfd, lexical)
    except OSError as exc:
        raise _not_found(path) from exc
    return pfd, base, base


def _tar_from(pfd: int, base: str, arcname: str) -> Iterator[bytes]:
    try:
        if arcname not in (".", "/"):
            yield from tree(pfd, base, arcname)
            return
        # a directory's contents under "./" or "/": its own entry first, as dockerd's
        yield header(info(arcname, os.stat(base, dir_fd=pfd, follow_symlinks=False)))
        prefix = "./" if arcname == "." else "/"
        with os.scandir(pfd) as it:
            children = sorted(e.name for e in it)
        for child in children:
            yield from tree(pfd, child, prefix + child, finish=False)
        yield end()
    finally:
        os.close(pfd)


# dockerd's init layer (moby daemon/initlayer): what the engine provides to every container
# (the /etc files it binds, a /.dockerenv marker, the mount points of /dev, /proc, /sys),
# as empty files and directories (0755). It is the top lower layer of a container's root,
# below the container's own layer, so none of it is ever in `docker diff` nor in a commit,
# and `docker export` and `docker cp` show it as dockerd's do.
INIT_LAYER: tuple[tuple[str, str], ...] = (
    ("dev", "dir"),
    ("dev/pts", "dir"),
    ("dev/shm", "dir"),
    ("proc", "dir"),
    ("sys", "dir"),
    (".dockerenv", "file"),
    ("etc", "dir"),
    ("etc/resolv.conf", "file"),
    ("etc/hosts", "file"),
    ("etc/hostname", "file"),
    ("dev/console", "file"),
    ("etc/mtab", "/proc/mounts"),
)
_INIT_FILES = frozenset("/" + name for name, kind in INIT_LAYER if kind != "dir")
_INIT_TREES = ("/dev", "/proc", "/sys")  # mount points in every container: never its diff


def make_init_layer(path: str) -> str:
    """The init layer at `path`, made once (built aside, then renamed into place)."""
    if os.path.isdir(path):
        return path
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        os.mkdir(tmp, 0o755)
        for name, kind in INIT_LAYER:
            where = os.path.join(tmp, name)
            if kind == "dir":
                os.mkdir(where, 0o755)
            elif kind == "file":
                os.close(os.open(where, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o755))
            else:
                os.symlink(kind, where)
        os.rename(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.isdir(path):  # made meanwhile by another caller
            return path
        raise WharfieError(f"init layer {path}: {exc}") from exc
    return path


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
            fd = fsroot.open_in(rfd, _lexical(path), os.O_RDONLY | os.O_DIRECTORY)
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
    exist in a lower layer are modifications (0), the rest additions (1). What dockerd's
    init layer holds (see INIT_LAYER) is left out, and so is a directory that changed only
    by it (its metadata still the lower's)."""
    out: list[dict[str, Any]] = []
    _changes(upper, "", lowers, out)
    out.sort(key=lambda c: c["Path"])
    return out


def _hidden(path: str) -> bool:
    return path in _INIT_FILES or any(path == t or path.startswith(t + "/") for t in _INIT_TREES)


def _changes(upper: str, rel: str, lowers: list[str], out: list[dict[str, Any]]) -> bool:
    """Append the changes under `rel`; whether any was hidden (an init-layer entry)."""
    hid = False
    with os.scandir(os.path.join(upper, rel) if rel else upper) as it:
        entries = list(it)
    for entry in entries:
        child = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        if stat_mod.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            out.append({"Path": "/" + child, "Kind": 2})
            continue
        if _hidden("/" + child):
            hid = True
            continue
        lower = _lower(lowers, child)
        mark = len(out)
        out.append({"Path": "/" + child, "Kind": 0 if lower else 1})
        if stat_mod.S_ISDIR(st.st_mode):
            only_init = _changes(upper, child, lowers, out) and len(out) == mark + 1
            if only_init and lower is not None and _same_meta(st, lower):
                del out[mark]  # copied up only for what the engine put there
    return hid


def _lower(lowers: list[str], child: str) -> os.stat_result | None:
    for low in lowers:
        try:
            return os.lstat(os.path.join(low, child))
        except OSError:
            continue
    return None


def _same_meta(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_mode, a.st_uid, a.st_gid) == (b.st_mode, b.st_uid, b.st_gid)
