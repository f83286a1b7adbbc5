"""Container state kept under the runtime's --root: one directory per container.

    <root>/<id>/state.json   what `create` recorded (pid, bundle, config, cgroup paths)
    <root>/<id>/exec.fifo    present while the container is "created": the init
                             process blocks opening it until `start` reads it

The status is never stored; it is derived from the init process and the fifo,
as the OCI spec defines it: created, running, paused or stopped.
"""

from __future__ import annotations

import os
import time

from wharfie.errors import Conflict, InvalidArgument, NotFound
from wharfie.oci import jsonio
from wharfie.oci.defaults import OCI_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/wharfie-runtime"
STATE_FILE = "state.json"
FIFO = "exec.fifo"
# Compiled seccomp programs, keyed by profile (see seccomp.compile_filter). "@" cannot
# appear in a container id, so this never collides with a container's directory.
SECCOMP_CACHE = "@cache/seccomp"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def validate_id(cid: str) -> None:
    if not cid or cid in (".", "..") or not set(cid) <= _ID_CHARS or len(cid) > 1024:
        raise InvalidArgument(f"invalid container ID format: {cid!r}")


def rfc3339_now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def proc_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (start time in ticks), or None if the process is gone.

    Stored at create so a recycled pid is never mistaken for the container.
    Zombies count as gone: the container has exited even if nobody reaped it.
    """
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        stat = os.read(fd, 4096)  # one read: the line is generated whole, < 1 KB
    except ProcessLookupError:
        return None
    finally:
        os.close(fd)
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return fields[19].decode()


class State:
    """What a container is, as recorded at create. Loaded and saved as state.json."""

    __slots__ = ("data", "dir")

    def __init__(self, state_dir: str, data: dict[str, Any]) -> None:
        self.dir = state_dir
        self.data = data

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def pid(self) -> int:
        return int(self.data.get("pid") or 0)

    @property
    def config(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.data["config"]
        return spec

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, FIFO)

    def alive(self) -> bool:
        pid, started = self.pid, self.data.get("start_time")
        return pid > 0 and started is not None and proc_start_time(pid) == started

    def status(self, frozen: bool | None = None) -> str:
        """created, running, paused or stopped; `frozen` is the cgroup's freezer state."""
        if not self.alive():
            return "stopped"
        if os.path.exists(self.fifo):
            return "created"
        if frozen:
            return "paused"
        return "running"

    def oci_state(self, status: str) -> dict[str, Any]:
        """The state object of the OCI spec, as `state` prints and hooks receive."""
        out: dict[str, Any] = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": self.pid if status != "stopped" else 0,
            "status": status,
            "bundle": self.data["bundle"],
            "rootfs": self.data["rootfs"],
            "created": self.data["created"],
            "owner": "",
        }
        if self.config.get("annotations"):
            out["annotations"] = self.config["annotations"]
        return out

    def save(self) -> None:
        tmp = os.path.join(self.dir, STATE_FILE + ".tmp")
        data = jsonio.dumps(self.data).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.dir, STATE_FILE))


def container_dir(root: str, cid: str) -> str:
    return os.path.join(root, cid)


def new_dir(root: str, cid: str) -> str:
    """Claim the state directory for `cid`; a second claim fails like runc's."""
    validate_id(cid)
    os.makedirs(root, mode=0o711, exist_ok=True)
    path = container_dir(root, cid)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        raise Conflict(f"container with given ID already exists: {cid}") from None
    return path


def load(root: str, cid: str) -> State:
    validate_id(cid)
    path = container_dir(root, cid)
    try:
        with open(os.path.join(path, STATE_FILE), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise NotFound(f"container does not exist: {cid}") from None
    return State(path, jsonio.loads(raw))


def remove_dir(path: str) -> None:
    """Remove a container's state directory (flat: state.json, the fifo, temp files)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
    os.rmdir(path)


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.exists(os.path.join(root, n, STATE_FILE)))
