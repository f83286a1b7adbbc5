"""The engine as the swarm agent sees it (wharfie.cluster.agent.TaskEngine): task containers
are ordinary containers, found by their `com.docker.swarm.task.id` label.

A task's secrets and configs go on a tmpfs of its own under the exec root
(`<exec-root>/swarm-files/<container name>`), never on disk; each file is bind-mounted
read-only at its target. The tmpfs goes when the container does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING, Any

from wharfie import syscalls
from wharfie.cluster.agent import LocalContainer
from wharfie.cluster.secrets import TaskFile
from wharfie.errors import NotFound

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

TASK_LABEL = "com.docker.swarm.task.id"


class EngineTasks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._files_root = os.path.join(engine.config.exec_root, "swarm-files")

    def task_containers(self) -> dict[str, LocalContainer]:
        out = {}
        for c in list(self._engine.containers.values()):
            task_id = (c.config.get("Labels") or {}).get(TASK_LABEL)
            if task_id and not c.removing:
                out[str(task_id)] = LocalContainer(
                    id=c.id,
                    running=bool(c.state["Running"]) or bool(c.state["Restarting"]),
                    exit_code=int(c.state["ExitCode"]),
                    pid=int(c.state["Pid"]),
                )
        return out

    def image_present(self, ref: str) -> bool:
        try:
            self._engine.images.resolve(ref)
        except NotFound:
            return False
        return True

    async def run(
        self, name: str, body: dict[str, object], files: tuple[TaskFile, ...]
    ) -> LocalContainer:
        mounts = self._place_files(name, files) if files else []
        if mounts:
            host: dict[str, Any] = dict(body.get("HostConfig") or {})  # type: ignore[call-overload]
            host["Mounts"] = [*(host.get("Mounts") or []), *mounts]
            body = {**body, "HostConfig": host}
        try:
            created = await self._engine.ctr.create(body, name, (1, 44))
            cid = str(created["Id"])
            await self._engine.ctr.start(cid)
        except BaseException:
            self._drop_files(name)
            raise
        c = self._engine.find(cid)
        return LocalContainer(cid, True, 0, int(c.state["Pid"]))

    async def remove(self, container_id: str, grace_s: int) -> None:
        try:
            name = self._engine.find(container_id).name
            await self._engine.ctr.stop(container_id, grace_s, None)
            await self._engine.ctr.remove(container_id, force=True, volumes=False)
        except NotFound:
            return
        self._drop_files(name)

    def sweep(self) -> None:
        """Drop the file tmpfs of task containers that are gone (removed by hand)."""
        try:
            names = os.listdir(self._files_root)
        except FileNotFoundError:
            return
        live = {c.name for c in self._engine.containers.values()}
        for name in names:
            if name not in live:
                self._drop_files(name)

    def _place_files(self, name: str, files: tuple[TaskFile, ...]) -> list[dict[str, Any]]:
        directory = os.path.join(self._files_root, name)
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
            self._drop_files(name)
            raise
        return mounts

    def _drop_files(self, name: str) -> None:
        directory = os.path.join(self._files_root, name)
        if not os.path.isdir(directory):
            return
        with contextlib.suppress(OSError):
            syscalls.umount2(directory, syscalls.MNT_DETACH)
        shutil.rmtree(directory, ignore_errors=True)
