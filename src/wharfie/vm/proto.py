"""The host side of the agent protocol, and config.json -> the agent's records (pure).

A frame is: type (1 byte), id (u32 LE), payload length (u32 LE), payload. Id 0 is the
container's process; exec processes get ids from 1. See docs/vm.md for the frame types.

The agent is a small C program, so it does not parse JSON: the host translates the OCI spec
into NUL-terminated `key=value` records it reads in one pass (`process_records`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from wharfie.errors import InvalidArgument, NotImplementedFeature

_HEAD = struct.Struct("<cII")
HEADER = _HEAD.size

# host -> guest
CONFIG = b"C"  # start a process: records
STDIN = b"I"
STDIN_EOF = b"E"
SIGNAL = b"S"  # u32 signal
WINSIZE = b"W"  # u16 rows, u16 cols
KILL_ALL = b"K"  # u32 signal, to every process of the guest
PING = b"H"
SET_TIME = b"T"  # u64 seconds, u32 nanoseconds
NET = b"N"  # re-address eth0 after a restore: "cidr|gateway|mac"
DNS_ANSWER = b"d"  # the answer to the guest's DNS query `id` (dnsrelay.py)
# guest -> host
READY = b"R"
STARTED = b"P"  # i32 guest pid
STDOUT = b"O"
STDERR = b"e"
EXITED = b"X"  # i32 exit code (128+n for signal n)
FAILED = b"F"  # utf-8 message
PONG = b"h"
DNS_QUERY = b"D"  # a DNS query the guest sent to 127.0.0.11:53; id = its tag


def frame(kind: bytes, pid: int, payload: bytes = b"") -> bytes:
    return _HEAD.pack(kind, pid, len(payload)) + payload


class Decoder:
    """Frames from a byte stream, as they complete."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, int, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER:
            kind, pid, n = _HEAD.unpack_from(self._buf)
            if len(self._buf) < HEADER + n:
                break
            out.append((kind, pid, bytes(self._buf[HEADER : HEADER + n])))
            del self._buf[: HEADER + n]
        return out


# -- mounts -------------------------------------------------------------------------------------

_FLAGS = {
    "ro": 1, "rw": 0, "nosuid": 2, "suid": 0, "nodev": 4, "dev": 0, "noexec": 8, "exec": 0,
    "sync": 16, "async": 0, "mand": 64, "dirsync": 128, "noatime": 1024, "nodiratime": 2048,
    "relatime": 1 << 21, "strictatime": 1 << 24, "bind": 4096, "rbind": 4096 | 16384,
}  # fmt: skip
_PROPAGATION = {
    "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable",
}  # fmt: skip
RDONLY = 1
_BIND_BITS = 4096 | 16384  # MS_BIND | MS_REC: the agent binds; the rest are remount flags
# runtime-spec rlimit names -> Linux resource numbers (x86-64)
_RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}  # fmt: skip


@dataclass(frozen=True)
class Share:
    """A host path the VM sees under the share as `name` (a bind mount of the spec)."""

    name: str
    source: str
    readonly: bool
    dest: str = ""  # where the container sees it


@dataclass
class MountPlan:
    records: list[str] = field(default_factory=list)
    shares: list[Share] = field(default_factory=list)


def mount_flags(options: list[str]) -> tuple[int, list[str]]:
    flags = 0
    data = []
    for opt in options:
        if opt in _FLAGS:
            flags |= _FLAGS[opt]
        elif opt not in _PROPAGATION:
            data.append(opt)
    return flags, data


def plan_mounts(mounts: list[dict[str, Any]]) -> MountPlan:
    """The spec's mounts as the agent's records, and the host paths to share for binds."""
    plan = MountPlan()
    for m in mounts:
        dest = str(m.get("destination") or "")
        if not dest.startswith("/"):
            raise InvalidArgument(f"mounts: destination {dest!r} is not an absolute path")
        kind = str(m.get("type") or "")
        options = [str(o) for o in m.get("options") or []]
        flags, data = mount_flags(options)
        if kind == "bind" or "bind" in options or "rbind" in options:
            name = f"m{len(plan.shares)}"
            ro = bool(flags & RDONLY)
            plan.shares.append(Share(name, str(m.get("source") or ""), ro, dest))
            plan.records.append(f"mount=bind|{name}|{dest}|{flags & ~_BIND_BITS}|")
            continue
        if kind == "proc":
            continue  # the agent mounts /proc from inside the container's pid namespace
        if kind == "devpts":
            # the guest's own ptys: the agent's terminals must be visible in the container
            plan.records.append(f"mount=gbind|/dev/pts|{dest}|0|")
            continue
        if kind == "tmpfs" and dest == "/dev":
            kind, data = "devtmpfs", []  # the guest's device nodes (the VM is the boundary)
        if kind in ("cgroup", "cgroup2"):
            kind, data = "cgroup2", []
        source = str(m.get("source") or kind)
        for part in (kind, source, dest, ",".join(data)):
            if "|" in part or "\0" in part:
                raise InvalidArgument(f"mounts: {dest}: unsupported character in {part!r}")
        plan.records.append(f"mount={kind}|{source}|{dest}|{flags & ~_BIND_BITS}|{','.join(data)}")
    return plan


# -- the process --------------------------------------------------------------------------------


def process_records(process: dict[str, Any]) -> list[str]:
    """Records of a process: args, env, cwd, user, terminal, rlimits."""
    args = [str(a) for a in process.get("args") or []]
    if not args:
        raise InvalidArgument("process.args must not be empty")
    recs = [f"arg={a}" for a in args]
    recs += [f"env={e}" for e in process.get("env") or []]
    recs.append(f"cwd={process.get('cwd') or '/'}")
    user = process.get("user") or {}
    recs.append(f"uid={int(user.get('uid') or 0)}")
    recs.append(f"gid={int(user.get('gid') or 0)}")
    recs += [f"group={int(g)}" for g in user.get("additionalGids") or []]
    if process.get("terminal"):
        recs.append("tty=1")
        size = process.get("consoleSize") or {}
        if size.get("height"):
            recs += [f"rows={int(size['height'])}", f"cols={int(size['width'])}"]
    for rl in process.get("rlimits") or []:
        num = _RLIMITS.get(str(rl.get("type")))
        if num is None:
            raise InvalidArgument(f"process.rlimits: unknown type {rl.get('type')!r}")
        recs.append(f"rlimit={num} {int(rl['soft'])} {int(rl['hard'])}")
    for r in recs:
        if "\0" in r:
            raise InvalidArgument(f"process: NUL byte in {r.split('=', 1)[0]}")
    return recs


def encode_records(recs: list[str]) -> bytes:
    return b"".join(r.encode() + b"\0" for r in recs)


# -- what a VM cannot do ------------------------------------------------------------------------


def check_supported(spec: dict[str, Any]) -> None:
    """Refuse the spec features a VM cannot honour, naming the field (before anything starts)."""
    linux = spec.get("linux") or {}
    devices = linux.get("devices") or []
    if devices:
        path = devices[0].get("path", "?")
        raise NotImplementedFeature(
            f"wharfie-vm: linux.devices ({path}): host devices cannot be passed into the VM"
        )
    for ns in linux.get("namespaces") or []:
        if ns.get("path") and ns.get("type") != "network":
            raise NotImplementedFeature(
                f"wharfie-vm: linux.namespaces: joining the {ns.get('type')} namespace at"
                f" {ns['path']} is not possible from inside a VM"
            )
    if (spec.get("process") or {}).get("args") is None:
        raise InvalidArgument("process.args must not be empty")


def resources(spec: dict[str, Any]) -> tuple[int, int]:
    """(memory MiB, vCPUs) of the VM from linux.resources; defaults 512 MiB and 1 vCPU."""
    res = (spec.get("linux") or {}).get("resources") or {}
    mem = (res.get("memory") or {}).get("limit") or 0
    mib = max(128, -(-int(mem) // (1 << 20))) if mem and int(mem) > 0 else 512
    cpu = res.get("cpu") or {}
    vcpus = 1
    quota, period = cpu.get("quota"), cpu.get("period")
    if quota and period and int(quota) > 0:
        vcpus = max(1, -(-int(quota) // int(period)))
    elif cpu.get("cpus"):
        vcpus = _count_cpus(str(cpu["cpus"]))
    return mib, vcpus


def _count_cpus(cpus: str) -> int:
    n = 0
    for part in cpus.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi) - int(lo) + 1 if hi else 1
    return max(1, n)
