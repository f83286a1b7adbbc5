"""Checkpoints of running containers (dockerd's experimental `docker checkpoint`).

A checkpoint is a directory under `<container dir>/checkpoints/<name>` (or under the
`CheckpointDir` the client names) that the container's runtime fills with `checkpoint
--image-path DIR` and reads back with `restore --image-path DIR` on a start with
`?checkpoint=NAME`. dockerd's checks and wording (daemon/checkpoint.go, daemon/start.go);
its plain Go errors are `CheckpointError` here (HTTP 500).

Only `wharfie-vm` can checkpoint here (QEMU's migration stream, docs/vm.md). The others are
asked all the same, as dockerd asks runc: runc, crun and `wharfie-runtime` need CRIU, which
is not usable here, and their error is the answer.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wharfie.engine.emitter import Events
from wharfie.engine.paths import Paths
from wharfie.errors import Conflict, InvalidArgument, WharfieError

if TYPE_CHECKING:
    from wharfie.engine.model import Container
    from wharfie.monitor.client import MonitorClient, RuntimeRef

VALID_NAME = re.compile(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")
NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
NOT_EXPERIMENTAL = (
    "This experimental feature is disabled by default. Start the Docker daemon in"
    " experimental mode in order to enable it."
)


class CheckpointError(WharfieError):
    """dockerd answers these with a plain error: HTTP 500."""


class CheckpointDirForbidden(WharfieError):
    """`start --checkpoint-dir`: dockerd's 403."""


class ExperimentalOff(WharfieError):
    """The checkpoint routes of a daemon without --experimental: dockerd's 501."""


@dataclass(frozen=True)
class CreateOptions:
    checkpoint_id: str
    checkpoint_dir: str = ""
    exit: bool = False

    @classmethod
    def from_body(cls, body: Any) -> CreateOptions:
        if not isinstance(body, dict):
            raise InvalidArgument("invalid checkpoint options: expected a JSON object")
        return cls(
            checkpoint_id=str(body.get("CheckpointID") or ""),
            checkpoint_dir=str(body.get("CheckpointDir") or ""),
            exit=bool(body.get("Exit")),
        )


def checkpoint_dir(
    check_dir: str, checkpoint_id: str, ctr_name: str, default_dir: str, create: bool
) -> str:
    """moby's getCheckpointDir: the checkpoint's directory, made on create; its errors."""
    path = os.path.join(check_dir or default_dir, checkpoint_id)
    exists = os.path.exists(path)
    is_dir = os.path.isdir(path)
    if create:
        if is_dir:
            raise CheckpointError(
                f"checkpoint with name {checkpoint_id} already exists for container {ctr_name}"
            )
        if exists:
            raise CheckpointError(f"{path} exists and is not a directory")
        os.makedirs(path, mode=0o700)
    elif not exists:
        raise CheckpointError(f"checkpoint {checkpoint_id} does not exist for container {ctr_name}")
    elif not is_dir:
        raise CheckpointError(f"{path} exists and is not a directory")
    return path


class ContainerFinder(Protocol):
    def find(self, ref: str) -> Container: ...


class Checkpoints:
    def __init__(
        self,
        *,
        experimental: bool,
        index: ContainerFinder,
        paths: Paths,
        events: Events,
        runtime_ref: Callable[[str | None], RuntimeRef],
        monitor: Callable[[], MonitorClient],
    ) -> None:
        self.experimental = experimental
        self.index = index
        self.paths = paths
        self.events = events
        self.runtime_ref = runtime_ref
        self.monitor = monitor

    def _check_experimental(self) -> None:
        if not self.experimental:
            raise ExperimentalOff(NOT_EXPERIMENTAL)

    def default_dir(self, c: Container) -> str:
        return os.path.join(self.paths.container_dir(c.id), "checkpoints")

    async def create(self, ref: str, opts: CreateOptions) -> None:
        self._check_experimental()
        c = self.index.find(ref)
        if not c.running:
            raise CheckpointError(f"Container {ref} not running")
        if not VALID_NAME.match(opts.checkpoint_id):
            raise CheckpointError(
                f"Invalid checkpoint ID ({opts.checkpoint_id}), only {NAME_CHARS} are allowed"
            )
        try:
            path = checkpoint_dir(
                opts.checkpoint_dir, opts.checkpoint_id, ref, self.default_dir(c), create=True
            )
        except (CheckpointError, OSError) as exc:
            raise CheckpointError(f"cannot checkpoint container {ref}: {exc}") from exc
        try:
            await self._runtime_checkpoint(c, ref, path, opts.exit)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        self.events.emit("container", "checkpoint", c.id, c.event_attrs())

    async def _runtime_checkpoint(self, c: Container, name: str, path: str, exit_: bool) -> None:
        ref = self.runtime_ref(c.runtime or None)
        args = ["checkpoint", "--image-path", path]
        if not exit_:
            args.append("--leave-running")
        if exit_:  # the exit that follows is the checkpoint's, not a crash to restart after
            c.manual_stop = True
        rc, _, err = await self.monitor().runtime(ref, [*args, c.id])
        if rc != 0:
            if exit_:
                c.manual_stop = False
            message = _runtime_message(err) or f"{ref.name} checkpoint exited with status {rc}"
            raise CheckpointError(f"Cannot checkpoint container {name}: {message}")

    def list(self, ref: str, check_dir: str) -> list[dict[str, str]]:
        self._check_experimental()
        c = self.index.find(ref)
        base = checkpoint_dir(check_dir, "", ref, self.default_dir(c), create=False)
        return [
            {"Name": name}
            for name in sorted(os.listdir(base))
            if os.path.isdir(os.path.join(base, name))
        ]

    def delete(self, ref: str, checkpoint_id: str, check_dir: str) -> None:
        self._check_experimental()
        c = self.index.find(ref)
        path = checkpoint_dir(check_dir, checkpoint_id, ref, self.default_dir(c), create=False)
        shutil.rmtree(path)

    def restore_path(self, ref: str, checkpoint_id: str, check_dir: str) -> str | None:
        """For `start?checkpoint=`: the directory to restore from, after dockerd's checks;
        None when the container is running (the start answers 304, as dockerd's)."""
        if not self.experimental:
            raise InvalidArgument("checkpoint is only supported in experimental mode")
        c = self.index.find(ref)
        if c.paused:
            raise Conflict("cannot start a paused container, try unpause instead")
        if c.running:
            return None
        if check_dir:
            raise CheckpointDirForbidden("custom checkpointdir is not supported")
        return checkpoint_dir("", checkpoint_id, "/" + c.name, self.default_dir(c), create=False)


def _runtime_message(stderr: str) -> str:
    """The last error line a runtime wrote (runc logs JSON lines with --log; plain here)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1].removeprefix("error: ") if lines else ""
