"""Differential: a container joining another container's namespaces by path, runc vs ours.

Observed with runc 1.1.5: a second container given the first one's
/proc/<pid>/ns/{user,ipc,uts,net,pid,mnt} paths joins them all (user namespace included),
and sees the first one's hostname and its processes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import MakeBoth

MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


@pytest.mark.parametrize("userns", [False, True], ids=["plain", "userns"])
def test_join_another_containers_namespaces(both: MakeBoth, userns: bool) -> None:
    first = both("sleep", "1000", world_traversable=userns)
    second = both("sh", "-c", "hostname; ps -o pid,comm | grep -c sleep; id -u")
    got = {}
    for name in ("runc", "wharfie"):
        a, b = first[name], second[name]
        a.spec["hostname"] = "first"
        if userns:
            a.spec["linux"]["namespaces"].append({"type": "user"})
            a.spec["linux"]["uidMappings"] = MAP
            a.spec["linux"]["gidMappings"] = MAP
            for root, dirs, files in os.walk(a.bundle / "rootfs"):
                for n in dirs + files:
                    os.lchown(os.path.join(root, n), 100000, 100000)
            os.chown(a.bundle / "rootfs", 100000, 100000)
        a.run_detached().check()
        pid = a.init_pid()
        kinds = ["ipc", "uts", "network", "pid", "mount"] + (["user"] if userns else [])
        proc_name = {"network": "net", "mount": "mnt"}
        b.spec["linux"]["namespaces"] = [
            {"type": k, "path": f"/proc/{pid}/ns/{proc_name.get(k, k)}"} for k in kinds
        ]
        if userns:
            b.spec["linux"]["uidMappings"] = MAP
            b.spec["linux"]["gidMappings"] = MAP
        b.spec.pop("hostname", None)
        b.spec["mounts"] = []
        b.spec["linux"]["maskedPaths"] = []
        b.spec["linux"]["readonlyPaths"] = []
        b.spec["root"]["path"] = str(a.rootfs)
        b.spec["root"]["readonly"] = False
        got[name] = b.run()
    runc, ours = got["runc"], got["wharfie"]
    detail = f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    assert ours.returncode == runc.returncode, detail
    assert ours.stdout == runc.stdout, detail


@pytest.fixture
def persistent_mountns(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Factory: a mount namespace kept by a bind mount of its nsfs file (`unshare
    --mount=FILE`), a copy of the host's tree; unmounted (and so freed) afterwards."""
    holder = tmp_path / "ns"
    holder.mkdir()
    subprocess.run(["mount", "--bind", str(holder), str(holder)], check=True)
    subprocess.run(["mount", "--make-private", str(holder)], check=True)
    made: list[Path] = []

    def make(name: str) -> str:
        path = holder / name
        path.touch()
        subprocess.run(["unshare", f"--mount={path}", "--propagation", "private", "true"],
                       check=True)  # fmt: skip
        made.append(path)
        return str(path)

    try:
        yield make
    finally:
        for path in made:
            subprocess.run(["umount", str(path)], check=False)
        subprocess.run(["umount", str(holder)], check=True)


def test_joined_mount_namespace_gets_the_rootfs_the_spec_asks(
    both: MakeBoth, persistent_mountns: Callable[[str], str]
) -> None:
    """runc 1.1.5 sets up the rootfs (mounts, pivot_root, masks) in a mount namespace it
    joins by path, as in a new one: the process sees the config's mounts, not the host's."""
    script = (
        "ls /; grep -v cgroup /proc/self/mountinfo | grep -c ' / '; mount | grep -c ' on /dev/shm '"
    )
    pair = both("sh", "-c", script)
    got = {}
    for name, c in pair.items():
        nspath = persistent_mountns(name)
        for ns in c.spec["linux"]["namespaces"]:
            if ns["type"] == "mount":
                ns["path"] = nspath
        got[name] = c.run()
    runc, ours = got["runc"], got["wharfie"]
    detail = f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    assert runc.returncode == 0, detail
    assert ours.returncode == runc.returncode, detail
    assert ours.stdout == runc.stdout, detail
    assert "bin" in ours.stdout and "root" in ours.stdout
