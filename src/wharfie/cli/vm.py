"""`wharfie vm kernel ls|build`: wharfie-vm's guest kernels on this host (docs/vm.md).

Local, like `wharfie registry`: it reads the runtime's assets, not the daemon.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wharfie.cli.context import Context

USAGE = (
    "Usage:  wharfie vm kernel ls\n"
    "        wharfie vm kernel build [--install] [--default] [--jobs N] [--workdir DIR]\n"
)


def cmd_kernel(ctx: Context, argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        return _build(argv[1:])
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


def _build(argv: list[str]) -> int:
    import argparse

    from wharfie.errors import WharfieError
    from wharfie.vm import assets, kbuild

    p = argparse.ArgumentParser(prog="wharfie vm kernel build", description=kbuild.__doc__)
    p.add_argument("--install", action="store_true",
                   help=f"apt-get install {kbuild.PACKAGE} and the build tools first")  # fmt: skip
    p.add_argument("--default", action="store_true", help="make it the kernel new VMs boot")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    p.add_argument("--workdir", default=os.path.join(assets.assets_dir(), "build"))
    opts = p.parse_args(argv)

    def log(msg: str) -> None:
        sys.stderr.write(f"wharfie vm kernel build: {msg}\n")

    try:
        if opts.install and (kbuild.source_tarball() is None or kbuild.missing_tools()):
            kbuild.install(log)
        k = kbuild.build(opts.workdir, opts.jobs, opts.default, log)
    except WharfieError as exc:
        sys.stderr.write(f"wharfie vm kernel build: {exc}\n")
        return 1
    default = " (the default now)" if k.default else " (wharfie vm kernel build --default, or"
    default += "" if k.default else " WHARFIE_VM_KERNEL, picks it)"
    print(f"{k.release}: {k.vmlinux} {_mib(k.vmlinux)}{default}")
    return 0
