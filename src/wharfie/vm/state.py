"""A wharfie-vm container's state directory: `<root>/<id>/state.json` plus the shim's sockets.

The status is never stored: `created`/`running`/`paused` come from the shim while it lives
(asked over its control socket), `stopped` once it is gone. Process identity is checked
against the start time in /proc/<pid>/stat, so a recycled pid is not mistaken for ours.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class Proc:
    pid: int
    start: int  # /proc/<pid>/stat field 22

    def alive(self) -> bool:
        return self.pid > 0 and start_time(self.pid) == self.start


@dataclass
class State:
    id: str
    bundle: str
    dir: str
    created: str = ""
    accel: str = ""
    accel_reason: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    shim: Proc | None = None
    qemu: Proc | None = None
    virtiofsd: Proc | None = None
    cgroup: dict[str, str] = field(default_factory=dict)  # the VM's host cgroup (paths)
    memory_mib: int = 0  # the VM's size, fixed for its life (`update` refuses changes)
    vcpus: int = 0

    def save(self) -> None:
        tmp = os.path.join(self.dir, f"state.json.{os.getpid()}")
        with open(tmp, "w") as f:
            json.dump(asdict(self), f)
        os.replace(tmp, os.path.join(self.dir, "state.json"))

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def sock(self, name: str) -> str:
        return os.path.join(sock_dir(self.dir), name)


SOCK_BASE = "/run/wharfie-vm-sock"


def sock_dir(state_dir: str) -> str:
    """Where a container's unix sockets live: a short path (sun_path holds 108 bytes, and
    state directories under an engine's exec root are longer than that)."""
    import hashlib

    digest = hashlib.sha256(os.path.abspath(state_dir).encode()).hexdigest()[:20]
    return os.path.join(SOCK_BASE, digest)


def start_time(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return -1
    try:
        return int(stat.rpartition(")")[2].split()[19])
    except (IndexError, ValueError):
        return -1


def proc_of(pid: int) -> Proc:
    return Proc(pid, start_time(pid))


def valid_id(cid: str) -> bool:
    return bool(_ID.match(cid)) and len(cid) <= 1024


def load(root: str, cid: str) -> State | None:
    if not valid_id(cid):
        return None
    d = os.path.join(root, cid)
    try:
        with open(os.path.join(d, "state.json")) as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return None
    procs = {k: Proc(**raw[k]) if raw.get(k) else None for k in ("shim", "qemu", "virtiofsd")}
    return State(
        id=raw["id"], bundle=raw["bundle"], dir=d, created=raw.get("created", ""),
        accel=raw.get("accel", ""), accel_reason=raw.get("accel_reason", ""),
        annotations=raw.get("annotations") or {}, cgroup=raw.get("cgroup") or {},
        memory_mib=int(raw.get("memory_mib") or 0), vcpus=int(raw.get("vcpus") or 0), **procs,
    )  # fmt: skip


def ids(root: str) -> list[str]:
    try:
        return sorted(
            n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "state.json"))
        )
    except OSError:
        return []
