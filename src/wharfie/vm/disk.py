"""The root disk of a checkpointable VM: the share as an ext4 image on virtio-blk.

QEMU 7.2 cannot migrate a VM with a virtiofs device ("State blocked by non-migratable device
vhost-user-fs") nor one whose 9p export is mounted, so a VM that is to be checkpointed gets
its share — the rootfs and the engine's small files (/etc/hosts, resolv.conf, hostname) —
copied into an ext4 image instead (`mkfs.ext4 -d`, ~40 ms for busybox here), which the agent
mounts from /dev/vda. The VM's writes then live in that image, which a checkpoint copies
next to the memory stream. Directories (volumes, bind mounts) cannot be copied without
losing their sharing, so such a container is refused in this mode, with the reason.

The image lives in the bundle (`<bundle>/wharfie-vm-disk.img`), so a container that is
stopped and started again keeps what it wrote, as with the engine's writable layer; at each
start the engine's small files are copied in afresh (`refresh`, with debugfs). It goes
with the bundle when the container is removed.

A container asks for it with the annotation `org.wharfie.vm.rootfs=disk`
(`docker run --annotation org.wharfie.vm.rootfs=disk`), or every container of a runtime
with `WHARFIE_VM_ROOTFS=disk` in its environment.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from wharfie.errors import FailedPrecondition, InvalidArgument
from wharfie.vm import proto

ANNOTATION = "org.wharfie.vm.rootfs"
MIB = 1 << 20
HEADROOM = 1024 * MIB  # free space for the container's writes (the image file is sparse)


def wanted(spec: dict[str, Any]) -> bool:
    """Whether this container's share is a disk (annotation, else WHARFIE_VM_ROOTFS)."""
    value = str((spec.get("annotations") or {}).get(ANNOTATION) or "")
    value = value or os.environ.get("WHARFIE_VM_ROOTFS", "")
    if value not in ("", "share", "disk"):
        raise InvalidArgument(f"wharfie-vm: {ANNOTATION}={value!r}: expected 'disk' or 'share'")
    return value == "disk"


def check_shares(shares: list[proto.Share]) -> None:
    """Only files can be copied into the disk; a shared directory would stop being shared."""
    for s in shares:
        if os.path.isdir(s.source):
            raise InvalidArgument(
                f"wharfie-vm: {ANNOTATION}=disk (a checkpointable VM) cannot share the"
                f" directory {s.source} at {s.dest or s.name}: volumes and bind-mounted"
                " directories are shared with virtiofs, which QEMU cannot migrate"
            )


def used_bytes(root: str) -> int:
    total = 0
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            try:
                total += os.lstat(os.path.join(d, n)).st_blocks * 512
            except OSError:
                pass
    return total


def size_for(used: int) -> int:
    """The image size: what is there plus the headroom, in whole MiB (WHARFIE_VM_DISK_MB)."""
    forced = os.environ.get("WHARFIE_VM_DISK_MB")
    if forced:
        return int(forced) * MIB
    return -(-(used + used // 4 + HEADROOM) // MIB) * MIB


def build(src: str, image: str) -> None:
    """An ext4 image at `image` holding the tree at `src` (owners, modes, links kept)."""
    size = size_for(used_bytes(src))
    with open(image, "wb") as f:
        f.truncate(size)
    try:
        out = subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-d", src, "-L", "wharfie", image],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise FailedPrecondition(
            "wharfie-vm: mkfs.ext4 not found (e2fsprogs): it makes a checkpointable VM's disk"
        ) from None
    if out.returncode != 0:
        raise FailedPrecondition(f"wharfie-vm: mkfs.ext4 -d {src}: {out.stderr.strip()}")


IMAGE = "wharfie-vm-disk.img"


def image_path(bundle: str) -> str:
    return os.path.join(bundle, IMAGE)


def refresh(image: str, shares: list[proto.Share]) -> None:
    """Copy the (file) shares into an existing image again: /etc/hosts and resolv.conf
    may have changed since the last start (a new address)."""
    if not shares:
        return
    cmds = "".join(f"rm /{s.name}\nwrite {s.source} /{s.name}\n" for s in shares)
    try:
        out = subprocess.run(
            ["debugfs", "-w", "-f", "-", image], input=cmds, capture_output=True, text=True
        )
    except FileNotFoundError:
        raise FailedPrecondition("wharfie-vm: debugfs not found (e2fsprogs)") from None
    if out.returncode != 0:
        raise FailedPrecondition(f"wharfie-vm: debugfs {image}: {out.stderr.strip()}")


def copy(src: str, dst: str) -> None:
    """A sparse copy of an image (holes stay holes)."""
    out = subprocess.run(
        ["cp", "--sparse=always", "--reflink=auto", src, dst], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise FailedPrecondition(f"wharfie-vm: copying {src} to {dst}: {out.stderr.strip()}")
