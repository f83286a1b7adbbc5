"""Which accelerator QEMU gets: KVM when it really works, else TCG (with a warning).

A /dev/kvm is not proof of a usable KVM: on PVM hosts (a software, paravirtual KVM, with no
vmx/svm in the CPU) stock guest kernels stall or QEMU stops with "emulation failure". So:

1. `WHARFIE_VM_ACCEL=kvm|tcg` forces a choice (tests, and users who know);
2. no openable /dev/kvm -> TCG;
3. /dev/kvm without vmx/svm in the CPU flags -> TCG (the PVM signature);
4. otherwise one probe boot of the guest kernel under KVM (the agent powers off at once when
   the command line says `wharfie.probe`); no clean power-off within the time limit -> TCG.

The answer is cached per host kernel, CPU flags and guest kernel in `<assets>/accel.json`,
so only the first VM on a host pays for the probe.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass

PROBE_TIMEOUT = 20.0
WARNING = (
    "wharfie-vm: KVM is not usable on this host ({reason}); VM-isolated containers run under"
    " QEMU's TCG emulation, many times slower than with KVM"
)


@dataclass(frozen=True)
class Accel:
    name: str  # "kvm" or "tcg"
    reason: str

    @property
    def warning(self) -> str:
        return "" if self.name == "kvm" else WARNING.format(reason=self.reason)


def cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def static_verdict(kvm_ok: bool, flags: set[str]) -> Accel | None:
    """The answer without booting anything, when there is one (pure)."""
    if not kvm_ok:
        return Accel("tcg", "no usable /dev/kvm")
    if not flags & {"vmx", "svm"}:
        return Accel(
            "tcg",
            "/dev/kvm is a software KVM (PVM: the CPU has no vmx/svm) on which stock guest"
            " kernels stall",
        )
    return None


def _kvm_openable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def detect(kernel: str, initramfs: str, cache_dir: str, probe: bool = True) -> Accel:
    forced = os.environ.get("WHARFIE_VM_ACCEL", "")
    if forced in ("kvm", "tcg"):
        return Accel(forced, f"forced by WHARFIE_VM_ACCEL={forced}")
    flags = cpu_flags(_read("/proc/cpuinfo"))
    kvm_ok = _kvm_openable()
    key = hashlib.sha256(
        f"{platform.release()}|{kvm_ok}|{sorted(flags)}|{kernel}".encode()
    ).hexdigest()[:16]
    cache = os.path.join(cache_dir, "accel.json")
    try:
        with open(cache) as f:
            rec = json.load(f)
        if rec.get("key") == key:
            return Accel(str(rec["name"]), str(rec["reason"]))
    except (OSError, ValueError, KeyError):
        pass
    verdict = static_verdict(kvm_ok, flags)
    if verdict is None:
        if not probe:
            return Accel("kvm", "not probed yet")
        verdict = probe_kvm(kernel, initramfs)
    try:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f"{cache}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"key": key, **asdict(verdict)}, f)
        os.replace(tmp, cache)
    except OSError:
        pass  # not cached: the next VM decides again
    return verdict


def probe_kvm(kernel: str, initramfs: str) -> Accel:
    """Boot the guest kernel under KVM to the agent and back (it powers off at once)."""
    from wharfie.vm.qemu import qemu_binary, tsc_khz

    argv = [
        qemu_binary(), "-M", "microvm,acpi=on,pit=off,pic=off,rtc=off", "-accel", "kvm",
        "-cpu", "host", "-m", "128M", "-nodefaults", "-no-user-config", "-nographic",
        "-no-reboot", "-kernel", kernel, "-initrd", initramfs, "-serial", "stdio", "-append",
        f"console=ttyS0 reboot=t panic=-1 tsc_early_khz={tsc_khz()} rdinit=/init wharfie.probe",
    ]  # fmt: skip
    try:
        out = subprocess.run(
            argv, capture_output=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return Accel("tcg", f"a probe boot under KVM did not finish in {PROBE_TIMEOUT:.0f} s")
    except OSError as exc:
        return Accel("tcg", f"the probe boot could not start QEMU: {exc}")
    if b"wharfie-probe-ok" in out.stdout:
        return Accel("kvm", "a probe boot under KVM succeeded")
    tail = (out.stderr or out.stdout).decode(errors="replace").strip().splitlines()[-1:]
    return Accel("tcg", f"a probe boot under KVM failed: {tail[0] if tail else out.returncode}")


def cached(cache_dir: str) -> Accel | None:
    """The last verdict, without probing (for `docker info` and inspect)."""
    forced = os.environ.get("WHARFIE_VM_ACCEL", "")
    if forced in ("kvm", "tcg"):
        return Accel(forced, f"forced by WHARFIE_VM_ACCEL={forced}")
    try:
        with open(os.path.join(cache_dir, "accel.json")) as f:
            rec = json.load(f)
        return Accel(str(rec["name"]), str(rec["reason"]))
    except (OSError, ValueError, KeyError):
        return static_verdict(_kvm_openable(), cpu_flags(_read("/proc/cpuinfo")))
