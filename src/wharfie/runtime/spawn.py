"""Forking the container's processes straight into its cgroup.

Moving a process between cgroups (writing a pid to cgroup.procs) takes the
kernel's global cgroup_threadgroup_rwsem for writing, which waits for an RCU
grace period: 10-20 ms on these machines, more than the rest of `run`. Two
cheaper ways in, used together:

* cgroup2 (pure v2, or the hybrid "unified" hierarchy): the child is born in
  the cgroup with clone3(CLONE_INTO_CGROUP);
* cgroup v1 hierarchies: the child moves its own (only) thread by writing "0"
  to each `tasks` file, which the kernel lets skip the global lock.

On kernels without clone3 the child moves itself into the cgroup2 directory
through cgroup.procs instead (correct, only slower).
"""

from __future__ import annotations

import errno
import os

from wharfie import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class CgroupEntry:
    """How a new process gets into a container's cgroups (built from `cgroup.paths`)."""

    __slots__ = ("cgroup2", "cloned", "tasks")

    def __init__(self, paths: dict[str, str]) -> None:
        self.tasks = [p + "/tasks" for key, p in paths.items() if key]
        self.cgroup2 = paths.get("")
        self.cloned = False

    def fork(self, ns_flags: int = 0) -> int:
        """fork(), the child born in the cgroup2 directory (if any) and in new namespaces.

        Falls back to os.fork() where clone3 is missing; the namespaces are then the
        caller's to unshare (check `self.cloned`), and the cgroup2 directory is joined
        through cgroup.procs by join_self().
        """
        fd = -1 if self.cgroup2 is None else os.open(self.cgroup2, _DIR_FLAGS)
        try:
            pid = sc.clone3(ns_flags, fd) if fd >= 0 or ns_flags else os.fork()
            self.cloned = bool(ns_flags)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.E2BIG):
                raise
            pid = os.fork()
            self.cloned = False
            if pid == 0 and self.cgroup2 is not None:
                self.tasks.append(self.cgroup2 + "/cgroup.procs")
        finally:
            if fd >= 0 and pid != 0:
                os.close(fd)
        return pid

    def join_self(self) -> None:
        """In the child: move this single-threaded process into the v1 hierarchies."""
        for path in self.tasks:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, b"0")
                finally:
                    os.close(fd)
            except OSError as exc:
                raise OSError(exc.errno, f"joining cgroup {path}: {exc.strerror}") from exc


def join_namespaces(namespaces: Iterable[tuple[str, int]]) -> None:
    """setns() into each (path, CLONE_NEW* flag), in the order given (user namespace first).

    Every path is opened before the first join: joining a mount namespace changes what
    paths mean.
    """
    fds = []
    for path, flag in namespaces:
        try:
            fds.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag, path))
        except OSError as exc:
            raise OSError(exc.errno, f"open namespace {path}: {exc.strerror}") from exc
    for fd, flag, path in fds:
        try:
            sc.setns(fd, flag)
        except OSError as exc:
            raise OSError(exc.errno, f"joining namespace {path}: {exc.strerror}") from exc
        finally:
            os.close(fd)
