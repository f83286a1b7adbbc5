"""Consistency checks after a crash: the store, the disk, the kernel and the monitor agree.

`check(daemon, ids)` returns a list of problems (empty: consistent):

* every container the API lists has its directory; no container directory (data root or
  exec root) belongs to a container the API does not list;
* a running container's init is alive, its rootfs is mounted and the monitor keeps a
  state file for it; a container that is not running has no rootfs mount, no netns
  file, no runtime state and no cgroup left;
* no mount under the daemon's directories belongs to anything but a running container
  (rootfs, netns) or a volume;
* the daemon's bridge has exactly one veth per running bridge-mode container;
* `ids`: containers the probe created and removed leave no cgroup behind.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from support.daemon import Daemon, docker_cli

CGROUP_ROOTS = (
    "/sys/fs/cgroup/memory",
    "/sys/fs/cgroup/pids",
    "/sys/fs/cgroup/unified",
    "/sys/fs/cgroup",
)


def _mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 :][:1] not in (b"Z", b"X")


def _cgroup_dirs(cid: str) -> list[str]:
    out = []
    for root in CGROUP_ROOTS:
        path = os.path.join(root, "wharfie", cid)
        if os.path.isdir(path):
            out.append(path)
    return out


def _veths(bridge: str) -> int:
    p = subprocess.run(
        ["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True, check=False
    )
    return len([line for line in p.stdout.splitlines() if line.strip()])


def check(d: Daemon, gone_ids: set[str] | None = None) -> list[str]:
    problems: list[str] = []
    ids = docker_cli(d, "ps", "-aq", "--no-trunc").stdout.decode().split()
    docs = json.loads(docker_cli(d, "inspect", *ids).stdout) if ids else []
    known = {doc["Id"]: doc for doc in docs}
    mounts = _mounts()
    data_dirs = (
        set(os.listdir(d.data / "containers")) if (d.data / "containers").exists() else set()
    )
    exec_dirs = (
        set(os.listdir(d.exec_root / "containers"))
        if (d.exec_root / "containers").exists()
        else set()
    )
    for name, found in (("data root", data_dirs), ("exec root", exec_dirs)):
        extra = found - set(known)
        if extra:
            problems.append(f"{name}: directories of unknown containers {sorted(extra)}")
    missing = set(known) - data_dirs
    if missing:
        problems.append(f"containers without a directory: {sorted(missing)}")
    running_bridge = 0
    states = d.exec_root / "monitor-state"
    for cid, doc in known.items():
        st = doc["State"]
        rootfs = str(d.exec_root / "containers" / cid / "rootfs")
        netns = str(d.exec_root / "netns" / cid)
        if st["Running"]:
            if not _alive(int(st["Pid"])):
                problems.append(f"{cid[:12]}: running, but pid {st['Pid']} is gone")
            if rootfs not in mounts:
                problems.append(f"{cid[:12]}: running without its rootfs mounted")
            if not (states / f"{cid}.json").exists():
                problems.append(f"{cid[:12]}: running, but the monitor keeps no state for it")
            if doc["HostConfig"].get("NetworkMode") in ("bridge", "default"):
                running_bridge += 1
        else:
            if rootfs in mounts:
                problems.append(f"{cid[:12]}: {st['Status']} with its rootfs mounted")
            if netns in mounts:
                problems.append(f"{cid[:12]}: {st['Status']} with its netns mounted")
            if _cgroup_dirs(cid):
                problems.append(f"{cid[:12]}: {st['Status']} with cgroups {_cgroup_dirs(cid)}")
    base = str(d.base)
    allowed = {
        str(d.exec_root / "containers" / c / "rootfs")
        for c, doc in known.items()
        if doc["State"]["Running"]
    }
    allowed |= {
        str(d.exec_root / "netns" / c) for c, doc in known.items() if doc["State"]["Running"]
    }
    volumes = str(d.data / "volumes") + "/"
    for point in mounts:
        if point.startswith(base) and point not in allowed and not point.startswith(volumes):
            problems.append(f"leaked mount {point}")
    veths = _veths(d.bridge)
    if veths != running_bridge:
        problems.append(f"bridge {d.bridge}: {veths} veths for {running_bridge} running")
    for cid in gone_ids or set():
        if cid not in known and _cgroup_dirs(cid):
            problems.append(f"removed {cid[:12]} left cgroups {_cgroup_dirs(cid)}")
    return problems


def check_images(d: Daemon) -> list[str]:
    """The image store after a crash: every image listed inspects, and the store's own
    listings (`images`, `system df`) answer."""
    problems: list[str] = []
    listing = docker_cli(d, "images", "-aq", "--no-trunc")
    if listing.returncode != 0:
        return [f"docker images: {listing.stderr.decode(errors='replace').strip()}"]
    for image in sorted(set(listing.stdout.decode().split())):
        out = docker_cli(d, "image", "inspect", image)
        if out.returncode != 0:
            problems.append(f"image {image[:19]} listed but not inspectable: {out.stderr!r}")
    df = docker_cli(d, "system", "df")
    if df.returncode != 0:
        problems.append(f"docker system df: {df.stderr.decode(errors='replace').strip()}")
    return problems
