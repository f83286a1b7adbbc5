"""Helpers of the wharfie-vm tests."""

from __future__ import annotations

import os
from pathlib import Path


def vm_leftovers(root: Path) -> list[str]:
    """What wharfie-vm state under `root` still exists: processes, state, sockets, mounts."""
    from wharfie.vm.state import sock_dir

    found = []
    if root.is_dir():
        for d in root.iterdir():
            found.append(f"state {d}")
            if os.path.isdir(sock_dir(str(d))):
                found.append(f"sockets {sock_dir(str(d))}")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(root).encode() in cmdline and (b"qemu" in cmdline or b"virtiofsd" in cmdline):
            found.append(f"process {pid}: {cmdline[:80]!r}")
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {ln.split()[4]}" for ln in f if str(root) in ln.split()[4]]
    return found
