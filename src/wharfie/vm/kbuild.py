"""`wharfie vm kernel build`: a small guest kernel from Debian's `linux-source-6.1`.

Debian's stock kernel works but is generic: ~60 MB of vmlinux with most drivers, and the
virtio drivers as modules the agent loads at each boot. This builds `tinyconfig` plus what
the agent and the container need, all built in (no modules): the PVH entry point QEMU
boots the ELF through, virtio-mmio devices (serial port, net, block, virtiofs, 9p, balloon),
ext4 and overlayfs, the namespaces and cgroups the agent makes, ACPI for the power-off,
SMP for `--cpus`. The result goes next to the stock kernel under
`<assets>/kernels/<release>/` with its own initramfs (the agent only), and with `--default`
becomes the kernel new VMs boot. It is not part of CI: ~6 minutes on 2 cores here.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable

from wharfie.errors import FailedPrecondition
from wharfie.vm import assets

PACKAGE = "linux-source-6.1"
BUILD_DEPS = ("flex", "bison", "bc", "libelf-dev", "make", "gcc", "xz-utils")
LOCALVERSION = "-wharfie"

# Enabled on top of tinyconfig; `make olddefconfig` then fills in what they depend on.
ENABLE = (
    "64BIT", "SMP", "PRINTK", "TTY", "SERIAL_8250", "SERIAL_8250_CONSOLE", "BLK_DEV_INITRD",
    "BINFMT_ELF", "BINFMT_SCRIPT", "PROC_FS", "PROC_SYSCTL", "SYSFS", "DEVTMPFS", "TMPFS",
    "UNIX98_PTYS", "FUTEX", "EPOLL", "SIGNALFD", "TIMERFD", "EVENTFD", "SHMEM", "AIO",
    "FILE_LOCKING", "MULTIUSER", "POSIX_TIMERS", "SYSVIPC", "POSIX_MQUEUE", "HIGH_RES_TIMERS",
    "HYPERVISOR_GUEST", "PARAVIRT", "KVM_GUEST", "PVH", "ACPI", "PCI",
    "NET", "INET", "UNIX", "PACKET", "NETDEVICES", "NET_CORE", "VIRTIO_MENU", "VIRTIO",
    "VIRTIO_MMIO", "VIRTIO_MMIO_CMDLINE_DEVICES", "VIRTIO_CONSOLE", "VIRTIO_NET",
    "VIRTIO_BLK", "VIRTIO_BALLOON", "BLOCK", "EXT4_FS", "CRYPTO_CRC32C", "FUSE_FS", "VIRTIO_FS",
    "NET_9P", "NET_9P_VIRTIO", "9P_FS", "OVERLAY_FS", "NAMESPACES", "PID_NS", "UTS_NS",
    "IPC_NS", "NET_NS", "CGROUPS", "MEMCG", "CGROUP_PIDS", "INOTIFY_USER", "FHANDLE",
)  # fmt: skip
# Must be in the final .config: without them the agent cannot run a container.
REQUIRED = (
    "PVH", "VIRTIO_MMIO", "VIRTIO_CONSOLE", "VIRTIO_NET", "VIRTIO_BLK", "VIRTIO_FS", "9P_FS",
    "EXT4_FS", "OVERLAY_FS", "DEVTMPFS", "PID_NS", "SERIAL_8250_CONSOLE", "ACPI",
)  # fmt: skip


def source_tarball() -> str | None:
    found = sorted(glob.glob(f"/usr/src/{PACKAGE}.tar.*"))
    return found[-1] if found else None


def missing_tools() -> list[str]:
    tools = {"flex": "flex", "bison": "bison", "bc": "bc", "make": "make", "gcc": "gcc"}
    out = [pkg for tool, pkg in tools.items() if shutil.which(tool) is None]
    if not os.path.exists("/usr/include/libelf.h"):  # objtool
        out.append("libelf-dev")
    return out


def install(log: Callable[[str], None]) -> None:
    pkgs = [PACKAGE, *missing_tools()]
    log(f"installing {' '.join(pkgs)} (apt-get)")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *pkgs]
    if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
        raise FailedPrecondition(f"apt-get install {' '.join(pkgs)} failed")


def config_lines(enable: tuple[str, ...] = ENABLE) -> list[str]:
    """The `scripts/config` arguments that turn tinyconfig into the guest's config."""
    args = []
    for opt in enable:
        args += ["--enable", opt]
    args += ["--disable", "MODULES", "--set-str", "LOCALVERSION", LOCALVERSION]
    args += ["--disable", "LOCALVERSION_AUTO"]
    return args


def check_config(text: str) -> list[str]:
    """The REQUIRED options the final .config lacks."""
    have = {ln.split("=", 1)[0] for ln in text.splitlines() if ln.endswith("=y")}
    return [o for o in REQUIRED if f"CONFIG_{o}" not in have]


def build(workdir: str, jobs: int, make_default: bool, log: Callable[[str], None]) -> assets.Kernel:
    tarball = source_tarball()
    if tarball is None:
        raise FailedPrecondition(
            f"no /usr/src/{PACKAGE}.tar.xz: install it with `apt-get install {PACKAGE}"
            f" {' '.join(BUILD_DEPS)}`, or run `wharfie vm kernel build --install`"
        )
    tools = missing_tools()
    if tools:
        raise FailedPrecondition(
            f"building a kernel needs {', '.join(tools)}: `apt-get install {' '.join(tools)}`"
            " or `wharfie vm kernel build --install`"
        )
    os.makedirs(workdir, exist_ok=True)
    src = os.path.join(workdir, PACKAGE)
    if not os.path.isdir(src):
        log(f"extracting {tarball} into {workdir}")
        with tarfile.open(tarball) as tf:
            tf.extractall(workdir, filter="tar")

    def run(*args: str) -> str:
        p = subprocess.run(list(args), cwd=src, capture_output=True, text=True)
        if p.returncode != 0:
            tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-15:])
            raise FailedPrecondition(f"{' '.join(args)} failed:\n{tail}")
        return p.stdout

    t0 = time.monotonic()
    run("make", "tinyconfig")
    run("scripts/config", *config_lines())
    run("make", "olddefconfig")
    with open(os.path.join(src, ".config")) as f:
        lacking = check_config(f.read())
    if lacking:
        raise FailedPrecondition(f"the kernel config lacks {', '.join(lacking)}")
    log(f"building vmlinux with {jobs} jobs (about 6 minutes on 2 cores)")
    run("make", f"-j{jobs}", "vmlinux")
    release = run("make", "-s", "kernelrelease").strip()
    log(f"built {release} in {time.monotonic() - t0:.0f} s")
    return assets.install_kernel(
        release, os.path.join(src, "vmlinux"), modules=[], make_default=make_default
    )
