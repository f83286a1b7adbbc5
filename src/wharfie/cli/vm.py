"""`wharfie vm kernel ls`: the guest kernels wharfie-vm can boot on this host (docs/vm.md).

Local, like `wharfie registry`: it reads the runtime's assets, not the daemon.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wharfie.cli.context import Context

USAGE = "Usage:  wharfie vm kernel ls\n"


def cmd_kernel(ctx: Context, argv: list[str]) -> int:
    if argv[:1] not in (["ls"], ["list"]):
        sys.stderr.write(USAGE)
        return 1
    from wharfie.vm import accel, assets

    kernels = assets.kernels()
    if not kernels:
        sys.stderr.write(f"no guest kernel in {assets.assets_dir()}/kernels (scripts/setup.sh)\n")
        return 1
    print(f"{'RELEASE':<20} {'DEFAULT':<8} {'VMLINUX':>9} {'INITRAMFS':>9}  PATH")
    for k in kernels:
        sizes = [_mib(p) for p in (k.vmlinux, k.initramfs)]
        path = os.path.dirname(k.vmlinux)
        print(f"{k.release:<20} {'*' if k.default else '':<8} {sizes[0]:>9} {sizes[1]:>9}  {path}")
    verdict = accel.cached(assets.assets_dir())
    if verdict is not None:
        print(f"\naccelerator: {verdict.name} ({verdict.reason})")
    return 0


def _mib(path: str) -> str:
    try:
        return f"{os.path.getsize(path) / 2**20:.1f}MiB"
    except OSError:
        return "missing"
