"""A task's secrets and configs on a tmpfs of its own (`<root>/<container name>`), never on
disk; each file is bind-mounted read-only at its target in the task's container."""

from __future__ import annotations

import errno
import logging
import os
import shutil
from typing import Any

from wharfie import syscalls
from wharfie.cluster.secrets import TaskFile

log = logging.getLogger("wharfie.cluster")


class TaskFiles:
    def __init__(self, root: str) -> None:
        self._root = root

    def place(self, name: str, files: tuple[TaskFile, ...]) -> list[dict[str, Any]]:
        """Write `files` on a new tmpfs for the container `name`; the bind mounts to add."""
        directory = os.path.join(self._root, name)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        size = sum(len(f.data) for f in files) + 64 * 1024
        flags = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
        syscalls.mount("tmpfs", directory, "tmpfs", flags, f"mode=0700,size={size}")
        mounts = []
        try:
            for i, f in enumerate(files):
                path = os.path.join(directory, str(i))
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(f.data)
                os.chown(path, f.uid, f.gid)
                os.chmod(path, f.mode)
                mounts.append(
                    {"Type": "bind", "Source": path, "Target": f.target, "ReadOnly": True}
                )
        except BaseException:
            self.drop(name)
            raise
        return mounts

    def drop(self, name: str) -> None:
        directory = os.path.join(self._root, name)
        if not os.path.isdir(directory):
            return
        try:
            syscalls.umount2(directory, syscalls.MNT_DETACH)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: not mounted (a failed place)
                log.warning("unmounting the files of task container %s: %s", name, exc)
                return  # never delete through a mount that is still there
        shutil.rmtree(directory, ignore_errors=True)

    def sweep(self, live: set[str]) -> None:
        """Drop the files of task containers that are gone (removed by hand)."""
        try:
            names = os.listdir(self._root)
        except FileNotFoundError:
            return
        for name in names:
            if name not in live:
                self.drop(name)
