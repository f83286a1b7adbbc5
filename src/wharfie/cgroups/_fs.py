"""Thin file operations on cgroupfs, and the errors they turn into."""

from __future__ import annotations

import errno
import os
import time

from wharfie.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotImplementedFeature,
    Unavailable,
    WharfieError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

RMDIR_ATTEMPTS = 6  # 10 ms doubling: about 0.3 s in all, like runc


def cause(err: OSError) -> str:
    """ "Device or resource busy (EBUSY)" -- the errno without the repeated path."""
    name = errno.errorcode.get(err.errno or 0, "")
    text = err.strerror or str(err)
    return f"{text} ({name})" if name else text


def write_error(field: str, value: str, path: str, err: OSError) -> WharfieError:
    """The error for a failed write, categorised by errno; chain it from `err`."""
    message = f"{field}: failed to write {value} to {path}: {cause(err)}"
    if err.errno in (errno.EINVAL, errno.ERANGE, errno.EOVERFLOW):
        return InvalidArgument(message)
    if err.errno == errno.EBUSY:
        return FailedPrecondition(message)
    if err.errno in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
        return NotImplementedFeature(message)
    return Unavailable(message)


def write_file(path: str, value: str) -> None:
    """One write(2) of `value` (cgroupfs takes each write as one command)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def read_bytes(path: str) -> bytes:
    """The whole file, with plain read(2)s (no buffered file object: cgroupfs and procfs
    files are small, and open() costs four more system calls and three objects)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = chunk = os.read(fd, 65536)
        while chunk:
            chunk = os.read(fd, 65536)
            data += chunk
        return data
    finally:
        os.close(fd)


def read_file(path: str) -> str:
    return read_bytes(path).decode()


def read_optional(path: str) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        return read_file(path)
    except FileNotFoundError:
        return None


def subdirs_depth_first(path: str) -> list[str]:
    """Every directory below `path`, children before their parents (symlinks not followed)."""
    try:
        return _subdirs(path)
    except FileNotFoundError:
        return []


def _subdirs(path: str) -> list[str]:
    """subdirs_depth_first, raising FileNotFoundError when `path` itself is missing."""
    out: list[str] = []
    for entry in list(os.scandir(path)):
        if entry.is_dir(follow_symlinks=False):
            out.extend(subdirs_depth_first(entry.path))
            out.append(entry.path)
    return out


def rmdir(path: str) -> None:
    """rmdir, done when already gone; EBUSY (dying tasks, v1 memcg) is retried briefly."""
    delay = 0.01
    for attempt in range(RMDIR_ATTEMPTS):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or attempt == RMDIR_ATTEMPTS - 1:
                raise
        time.sleep(delay)
        delay *= 2


def procs(path: str) -> list[int]:
    """Pids in cgroup.procs of `path` and every cgroup below it (empty if it is gone)."""
    pids: list[int] = []
    try:
        below = _subdirs(path)
    except FileNotFoundError:
        return pids  # no cgroup (yet): no cgroup.procs to read either
    for d in [*below, path]:
        text = read_optional(d + "/cgroup.procs")
        if text:
            pids.extend(int(p) for p in text.split())
    return pids


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.001) -> bool:
    """Poll `check()` (backing off to 10 ms) until true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
        interval = min(interval * 2, 0.01)
