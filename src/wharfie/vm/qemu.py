"""QEMU and virtiofsd command lines for one container's microVM (pure, apart from lookups).

`-M microvm` with virtio-mmio devices (modern mode: vhost-user-fs refuses legacy devices), ACPI
on (the guest powers off through it), no PIC/RTC (the agent sets the clock from the host), a
PIT under TCG only (see qemu_argv),
guest RAM from a shared memfd (virtiofs needs the daemon to map it), the uncompressed kernel
booted through its PVH entry point. The agent's channel is a virtio-serial port named
"wharfie" on a unix socket the shim connects to; QMP on another (pause, resume, quit).
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass

from wharfie.errors import FailedPrecondition

VIRTIOFSD = "/usr/lib/qemu/virtiofsd"


@dataclass(frozen=True)
class VMConfig:
    kernel: str
    initramfs: str
    state_dir: str
    memory_mib: int = 512
    vcpus: int = 1
    accel: str = "tcg"
    tsc_khz: int = 0
    tap_fd: int | None = None
    mac: str | None = None
    incoming: str | None = None  # restore from this migration file
    extra_cmdline: str = ""  # appended to the kernel command line (bench/vm.py's baseline)
    fs: str = "virtiofs"  # or "9p": the share without virtiofsd (QEMU's own 9p server),
    # or "disk": the share is an ext4 image on virtio-blk (`disk`), a VM QEMU can migrate
    disk: str | None = None
    root_readonly: bool = False  # the disk's rootfs is mounted read-only in the guest


def paths(state_dir: str) -> dict[str, str]:
    from wharfie.vm.state import sock_dir

    socks = sock_dir(state_dir)
    return {
        "agent": os.path.join(socks, "agent.sock"),
        "qmp": os.path.join(socks, "qmp.sock"),
        "fs": os.path.join(socks, "fs.sock"),
        "console": os.path.join(state_dir, "console.log"),
        "share": os.path.join(state_dir, "share"),
    }


def qemu_binary() -> str:
    path = os.environ.get("WHARFIE_VM_QEMU") or shutil.which("qemu-system-x86_64")
    if not path or not os.access(path, os.X_OK):
        raise FailedPrecondition(
            "wharfie-vm: QEMU is not installed (qemu-system-x86_64 not found; scripts/setup.sh"
            " installs qemu-system-x86)"
        )
    return path


def share_kind() -> str:
    """virtiofs, or 9p when forced (WHARFIE_VM_FS=9p) or when there is no virtiofsd."""
    forced = os.environ.get("WHARFIE_VM_FS", "")
    if forced in ("virtiofs", "9p"):
        return forced
    path = os.environ.get("WHARFIE_VM_VIRTIOFSD") or VIRTIOFSD
    return "virtiofs" if os.access(path, os.X_OK) else "9p"


def virtiofsd_binary() -> str:
    path = os.environ.get("WHARFIE_VM_VIRTIOFSD") or VIRTIOFSD
    if not os.access(path, os.X_OK):
        raise FailedPrecondition(f"wharfie-vm: virtiofsd not found at {path} (qemu-system-x86)")
    return path


def tsc_khz(cpuinfo_path: str = "/proc/cpuinfo") -> int:
    """The host's TSC rate for `tsc_early_khz` (microvm has no timer to calibrate against)."""
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return int(float(line.partition(":")[2]) * 1000)
    except (OSError, ValueError):
        pass
    return 0


def cmdline(cfg: VMConfig) -> str:
    parts = ["console=ttyS0", "quiet", "reboot=t", "panic=-1", "rdinit=/init"]
    if cfg.tsc_khz:
        parts.append(f"tsc_early_khz={cfg.tsc_khz}")
    if cfg.fs == "disk":
        parts.append("wharfie.disk")
        if cfg.root_readonly:
            parts.append("wharfie.rootro")
    if cfg.extra_cmdline:
        parts.append(cfg.extra_cmdline)
    return " ".join(parts)


def qemu_argv(binary: str, cfg: VMConfig) -> list[str]:
    p = paths(cfg.state_dir)
    mem = f"{cfg.memory_mib}M"
    # Under TCG on a loaded host the guest's LAPIC timer calibration can fail ("APIC frequency
    # too slow, disabling apic timer"): without a PIT the guest then has no tick at all and
    # every sleep hangs. The PIT is the fallback tick; KVM guests calibrate reliably.
    pit = "off" if cfg.accel == "kvm" else "on"
    argv = [
        binary, "-name", os.path.basename(cfg.state_dir),
        "-M", f"microvm,acpi=on,pit={pit},pic=off,rtc=off,memory-backend=mem",
        "-accel", cfg.accel, "-cpu", "host" if cfg.accel == "kvm" else "max",
        "-m", mem, "-smp", str(cfg.vcpus),
        # guest RAM in a shared memfd: virtiofsd maps it (9p does not need it; same for both)
        "-object", f"memory-backend-memfd,id=mem,size={mem},share=on",
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-global", "virtio-mmio.force-legacy=false",
        "-kernel", cfg.kernel, "-initrd", cfg.initramfs, "-append", cmdline(cfg),
        "-serial", f"file:{p['console']}",
        "-chardev", f"socket,id=agent,path={p['agent']},server=on,wait=off",
        "-device", "virtio-serial-device",
        "-device", "virtserialport,chardev=agent,name=wharfie",
        "-qmp", f"unix:{p['qmp']},server=on,wait=off",
    ]  # fmt: skip
    if cfg.fs == "disk":
        argv += [
            "-drive", f"file={cfg.disk},if=none,id=disk0,format=raw,cache=writeback,aio=threads",
            "-device", "virtio-blk-device,drive=disk0",
        ]  # fmt: skip
    elif cfg.fs == "9p":
        argv += [
            "-fsdev", f"local,id=fs0,path={p['share']},security_model=passthrough",
            "-device", "virtio-9p-device,fsdev=fs0,mount_tag=wharfie",
        ]  # fmt: skip
    else:
        argv += [
            "-chardev", f"socket,id=fs0,path={p['fs']}",
            "-device", "vhost-user-fs-device,chardev=fs0,tag=wharfie",
        ]  # fmt: skip
    if cfg.tap_fd is not None:
        argv += ["-netdev", f"tap,id=net0,fd={cfg.tap_fd}"]
        dev = "virtio-net-device,netdev=net0"
        if cfg.mac:
            dev += f",mac={cfg.mac}"
        argv += ["-device", dev]
    if cfg.incoming:
        # paused after the load (-S): the shim connects to the agent's port before the guest
        # runs again, so nothing the guest writes in between is lost
        argv += ["-S", "-incoming", f"exec:cat {shlex.quote(cfg.incoming)}"]
    return argv


def virtiofsd_argv(binary: str, state_dir: str) -> list[str]:
    p = paths(state_dir)
    return [
        binary, f"--socket-path={p['fs']}", "-o", f"source={p['share']}", "-o", "cache=auto",
        "-o", "sandbox=namespace", "-o", "log_level=err",
    ]  # fmt: skip
