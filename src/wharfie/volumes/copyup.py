"""Copy-up: fill a new, empty volume from the image content at its mount point.

As moby's `copyExistingContents` + `copyOwnership`: every entry under `source` is
copied into `dest` with its type (file, dir, symlink, fifo, device node), owner,
mode, times and extended attributes; hard links inside the tree stay hard links;
then `dest` itself takes the owner and mode of `source`. Sparse files are not
preserved (the data is copied whole); sockets are skipped, as tar would.

Atomic as seen by containers: a marker next to `dest` (`.<name>.copyup-pending`) is made
durable before the first byte is copied and removed only when the copy is complete. A
copy interrupted by a crash leaves the marker, and the next copy-up of that volume
empties it and copies again, instead of taking the partly filled volume for a used one.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat

_CHUNK = 1 << 20


def is_empty(path: str) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


def pending_marker(dest: str) -> str:
    parent, name = os.path.split(os.path.normpath(dest))
    return os.path.join(parent, f".{name}.copyup-pending")


def copy_up(source: str, dest: str) -> bool:
    """Copy the tree under `source` into the empty dir `dest`; False if `source` is not a
    directory (nothing to copy) or `dest` is not empty (moby copies only into empty volumes).
    A copy into `dest` that a crash interrupted is discarded and done again."""
    interrupted = discard_interrupted(dest)
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        st = None
    if st is None or not stat.S_ISDIR(st.st_mode) or (not interrupted and not is_empty(dest)):
        if interrupted:
            finish_discard(dest)  # nothing to copy any more: empty, not partly filled
        return False
    marker = pending_marker(dest)
    _durable_create(marker)
    links: dict[tuple[int, int], str] = {}
    _copy_dir_contents(source, dest, links)
    _copy_meta(source, dest, st)
    os.unlink(marker)
    return True


def discard_interrupted(dest: str) -> bool:
    """If a copy into `dest` was interrupted, empty `dest` (keeping the marker, so that a
    crash now still counts as interrupted); True when it was."""
    if not os.path.exists(pending_marker(dest)):
        return False
    with os.scandir(dest) as it:
        entries = list(it)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    return True


def finish_discard(dest: str) -> None:
    """After `discard_interrupted` when no copy follows (nocopy): the volume is empty."""
    try:
        os.unlink(pending_marker(dest))
    except FileNotFoundError:
        pass


def _durable_create(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _copy_dir_contents(src: str, dst: str, links: dict[tuple[int, int], str]) -> None:
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        s = os.path.join(src, entry.name)
        d = os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        _copy_entry(s, d, st, links)


def _copy_entry(s: str, d: str, st: os.stat_result, links: dict[tuple[int, int], str]) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        os.mkdir(d, 0o700)
        _copy_dir_contents(s, d, links)
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            os.link(links[key], d)
            return
        _copy_file(s, d)
        if st.st_nlink > 1:
            links[key] = d
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(s), d)
    elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(d, mode, st.st_rdev)
    else:
        return  # sockets
    _copy_meta(s, d, st)


def _copy_file(s: str, d: str) -> None:
    with open(s, "rb") as fin, open(d, "xb") as fout:
        size = os.fstat(fin.fileno()).st_size
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(fin.fileno(), fout.fileno(), size - copied)
                if n == 0:
                    break
                copied += n
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            fin.seek(copied)
            fout.seek(copied)
            while chunk := fin.read(_CHUNK):
                fout.write(chunk)


def _copy_meta(s: str, d: str, st: os.stat_result) -> None:
    is_link = stat.S_ISLNK(st.st_mode)
    os.chown(d, st.st_uid, st.st_gid, follow_symlinks=False)
    _copy_xattrs(s, d)
    if not is_link:
        os.chmod(d, stat.S_IMODE(st.st_mode))
    os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_xattrs(s: str, d: str) -> None:
    try:
        names = os.listxattr(s, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return
        raise
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            os.setxattr(d, name, os.getxattr(s, name, follow_symlinks=False),
                        follow_symlinks=False)  # fmt: skip
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                raise
