"""Checkpoints of a VM container: QEMU's migration stream to a file, and the root disk.

A checkpoint is a directory (runc's `--image-path`), portable to another host with the same
guest kernel release and the same QEMU version:

* `memory.img`: QEMU's migration stream: guest RAM (zero pages elided) and device state;
* `disk.img`: the VM's ext4 root disk at the same instant (sparse);
* `vm.json`: what the VM must be restored with: kernel release, QEMU version, RAM, vCPUs,
  accelerator, the NIC's MAC and address, whether it has a terminal.

Only VMs whose share is a disk (`disk.py`) can be checkpointed: QEMU refuses to migrate a
virtiofs device, or a mounted 9p export.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

from wharfie.errors import FailedPrecondition, InvalidArgument, NotFound
from wharfie.vm import hostio

FORMAT = 1
MEMORY, DISK, META = "memory.img", "disk.img", "vm.json"


@dataclass(frozen=True)
class Meta:
    container: str
    kernel: str  # the guest kernel's release
    qemu: str  # `qemu-system-x86_64 --version`'s first line
    memory_mib: int
    vcpus: int
    accel: str
    tsc_khz: int
    tty: bool
    mac: str = ""
    net: str = ""  # the agent's net record the guest was configured with
    created: str = ""
    format: int = FORMAT


def save_meta(directory: str, meta: Meta) -> None:
    tmp = os.path.join(directory, META + ".tmp")
    with open(tmp, "w") as f:
        json.dump(asdict(meta), f, indent=1)
    os.replace(tmp, os.path.join(directory, META))


def load_meta(directory: str) -> Meta:
    path = os.path.join(directory, META)
    try:
        with open(path) as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise NotFound(
            f"wharfie-vm: {directory} is not a wharfie-vm checkpoint (no {META})"
        ) from None
    except ValueError as exc:
        raise InvalidArgument(f"wharfie-vm: {path}: {exc}") from exc
    if raw.get("format") != FORMAT:
        raise InvalidArgument(f"wharfie-vm: {path}: unknown checkpoint format {raw.get('format')}")
    known = {f.name for f in fields(Meta)}
    meta = Meta(**{k: v for k, v in raw.items() if k in known})
    for name in (MEMORY, DISK):
        if not os.path.isfile(os.path.join(directory, name)):
            raise NotFound(f"wharfie-vm: checkpoint {directory} is incomplete: no {name}")
    return meta


def qemu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout.splitlines() or ["?"])[0].strip()


def migrate_to_file(qmp: str, dest: str, timeout: float = 600.0) -> None:
    """Stream the (stopped) VM's state into `dest` through `exec:cat`; raise if it fails."""
    tmp = dest + ".part"
    hostio.qmp(qmp, "migrate", {"uri": f"exec:cat > {shlex.quote(tmp)}"})
    until = time.monotonic() + timeout
    while True:
        info = hostio.qmp(qmp, "query-migrate")
        status = info.get("status")
        if status == "completed":
            break
        if status in ("failed", "cancelled"):
            raise FailedPrecondition(
                f"wharfie-vm: QEMU's migration to {dest} {status}: {info.get('error-desc', '')}"
            )
        if time.monotonic() > until:
            hostio.qmp(qmp, "migrate_cancel")
            raise FailedPrecondition(f"wharfie-vm: the migration to {dest} took over {timeout} s")
        time.sleep(0.02)
    os.replace(tmp, dest)


def wait_incoming(
    qmp: str, alive: Callable[[], bool], log_tail: Callable[[], str], timeout: float = 600.0
) -> None:
    """Wait until QEMU (started with -S -incoming) has loaded the state; it stays paused."""
    until = time.monotonic() + timeout
    while True:
        if not alive():
            raise FailedPrecondition(f"QEMU could not load the checkpoint: {log_tail()}")
        try:
            status = hostio.qmp(qmp, "query-status", timeout=10).get("status")
        except (hostio.HostIOError, OSError) as exc:  # not listening yet, or exiting
            if time.monotonic() > until:
                raise FailedPrecondition(f"loading the checkpoint: {exc}") from exc
            time.sleep(0.02)
            continue
        if status in ("paused", "postmigrate", "running"):
            return
        if time.monotonic() > until:
            raise FailedPrecondition(f"loading the checkpoint took over {timeout} s")
        time.sleep(0.02)
