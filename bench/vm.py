#!/usr/bin/env python3
"""wharfie-vm against bare QEMU booting the same kernel and rootfs (issue 19's targets).

* **Start overhead**: wall time of `wharfie-vm run` of a busybox bundle running `true`
  (CLI, shim, share, virtiofsd, QEMU, agent, the process, its exit, the VM's power-off), against
  QEMU + virtiofsd started directly with the same command lines and the same initramfs, whose
  agent runs `/bin/true` from the shared rootfs and powers off (`wharfie.bare=` on the kernel
  command line: no host channel). Target: ours / bare - 1 <= 10 %.
* **Memory per idle VM container**: RSS of the shim + QEMU + virtiofsd (and its sandbox child)
  with `sleep` running, against bare QEMU + virtiofsd with the same settings running `sleep`.
  Target: <= 1.1x.

* **Checkpoint and restore** (reported): a disk-rooted idle VM (`WHARFIE_VM_ROOTFS=disk`)
  is checkpointed (time, size of `memory.img` and of what `disk.img` holds) and restored (time
  until `restore -d` returns: the VM runs again).

Every installed guest kernel is measured in the same run (`--kernel` picks some): Debian's
stock one, and the small one of `wharfie vm kernel build` when it is there.

Runs are interleaved (ours, bare, bare, ours, ...) so the machine's noise falls on both. Each
boot is seconds of CPU under TCG: the default is 3 rounds. Needs root and scripts/setup.sh.

    .venv/bin/python bench/vm.py [--rounds 3] [--kernel RELEASE]... [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from benchlib import median, rotated

from support.bundle import bundle_spec, busybox_rootfs, make_bundle
from wharfie.vm import accel, assets, qemu

WHARFIE_VM = str(Path(sys.executable).parent / "wharfie-vm")
SETTLE = 3.0  # seconds of idle before memory is read


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class Bare:
    """QEMU + virtiofsd with our command lines, the agent in its bare mode."""

    def __init__(self, work: Path, rootfs: Path, kernel: assets.Kernel, accel_name: str) -> None:
        self.state = work / "bare-state"
        self.state.mkdir()
        share = self.state / "share"
        share.mkdir()
        shutil.copytree(rootfs, share / "rootfs", symlinks=True)
        self.kernel = kernel
        self.accel = accel_name
        os.makedirs(os.path.dirname(qemu.paths(str(self.state))["agent"]), exist_ok=True)

    def start(self, program: str) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
        p = qemu.paths(str(self.state))
        for key in ("fs", "agent", "qmp"):
            if os.path.exists(p[key]):
                os.unlink(p[key])
        vfsd = subprocess.Popen(qemu.virtiofsd_argv(qemu.virtiofsd_binary(), str(self.state)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        while not os.path.exists(p["fs"]):
            time.sleep(0.002)
        cfg = qemu.VMConfig(
            kernel=self.kernel.vmlinux, initramfs=self.kernel.initramfs, state_dir=str(self.state),
            memory_mib=512, vcpus=1, accel=self.accel, tsc_khz=qemu.tsc_khz(),
            extra_cmdline=f"wharfie.bare={program}",
        )  # fmt: skip
        vm = subprocess.Popen(qemu.qemu_argv(qemu.qemu_binary(), cfg),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        return vm, vfsd

    def run_true(self) -> float:
        t0 = time.perf_counter()
        vm, vfsd = self.start("/bin/true")
        vm.wait(600)
        took = time.perf_counter() - t0
        vfsd.wait(10)
        return took

    def idle_rss(self, boot_wait: float) -> int:
        vm, vfsd = self.start("/bin/sleep,600")
        time.sleep(boot_wait + SETTLE)
        pids = [vm.pid, vfsd.pid, *children(vfsd.pid)]
        rss = rss_kib(pids)
        vm.kill()
        vm.wait()
        vfsd.wait(10)
        return rss


def vm_env(kernel: assets.Kernel, **extra: str) -> dict[str, str]:
    return {**os.environ, "WHARFIE_VM_KERNEL": kernel.release, **extra}


def ours_true(root: Path, bundle: Path, n: int, kernel: assets.Kernel) -> float:
    cid = f"bench{os.getpid()}-{n}"
    t0 = time.perf_counter()
    p = subprocess.run([WHARFIE_VM, "--root", str(root), "run", "--bundle", str(bundle), cid],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=600,
                       env=vm_env(kernel))  # fmt: skip
    took = time.perf_counter() - t0
    subprocess.run([WHARFIE_VM, "--root", str(root), "delete", "-f", cid], capture_output=True)
    if p.returncode != 0:
        raise SystemExit(f"wharfie-vm run failed: {p.stderr.decode()}")
    return took


def ours_idle(root: Path, bundle: Path, kernel: assets.Kernel) -> tuple[int, float]:
    cid = f"benchidle{os.getpid()}"
    t0 = time.perf_counter()
    err = root.parent / "idle.err"
    with open(err, "wb") as errf:  # the container keeps its stdio: no pipes we would wait on
        p = subprocess.run([WHARFIE_VM, "--root", str(root), "run", "-d", "--bundle", str(bundle),
                            "--pid-file", str(root.parent / "idle.pid"), cid],
                           stdout=subprocess.DEVNULL, stderr=errf, stdin=subprocess.DEVNULL,
                           timeout=600, env=vm_env(kernel))  # fmt: skip
    boot = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"wharfie-vm run -d failed: {err.read_text()}")
    time.sleep(SETTLE)
    state = json.loads((root / cid / "state.json").read_text())
    vfsd = state["virtiofsd"]["pid"]
    pids = [state["shim"]["pid"], state["qemu"]["pid"], vfsd, *children(vfsd)]
    rss = rss_kib(pids)
    subprocess.run([WHARFIE_VM, "--root", str(root), "delete", "-f", cid], capture_output=True)
    return rss, boot


def checkpoint_restore(root: Path, bundle: Path, kernel: assets.Kernel) -> dict[str, float]:
    """Checkpoint of an idle disk-rooted VM, then its restore: seconds and MiB."""
    cid = f"benchcp{os.getpid()}"
    images = root.parent / "checkpoint"
    shutil.rmtree(images, ignore_errors=True)

    def vm(*args: str, detached: bool = False) -> float:
        t0 = time.perf_counter()
        err_path = root.parent / "cp.err"
        env = vm_env(kernel, WHARFIE_VM_ROOTFS="disk")
        with open(err_path, "wb") as err:
            p = subprocess.run([WHARFIE_VM, "--root", str(root), *args],
                               stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                               timeout=600, env=env)  # fmt: skip
        if p.returncode != 0:
            raise SystemExit(f"wharfie-vm {args[0]} failed: {err_path.read_text()}")
        return time.perf_counter() - t0

    try:
        boot = vm("run", "-d", "--bundle", str(bundle), cid)
        time.sleep(SETTLE)
        took = vm("checkpoint", "--image-path", str(images), cid)
        vm("delete", "-f", cid)
        back = vm("restore", "-d", "--image-path", str(images), "--bundle", str(bundle), cid)
    finally:
        subprocess.run([WHARFIE_VM, "--root", str(root), "delete", "-f", cid], capture_output=True)
    mem = (images / "memory.img").stat().st_size
    disk_used = (images / "disk.img").stat().st_blocks * 512
    shutil.rmtree(images, ignore_errors=True)
    return {"boot_s": boot, "checkpoint_s": took, "restore_s": back,
            "memory_img_mib": mem / 2**20, "disk_img_used_mib": disk_used / 2**20}  # fmt: skip


@dataclass
class KernelResult:
    start_s: dict[str, float]  # median of `true`: wharfie-vm, bare
    idle_rss_kib: dict[str, int]
    checkpoint: dict[str, float]

    @property
    def start_overhead(self) -> float:
        return self.start_s["wharfie-vm"] / self.start_s["bare"] - 1

    @property
    def memory_ratio(self) -> float:
        return self.idle_rss_kib["wharfie-vm"] / max(self.idle_rss_kib["bare"], 1)

    def report(self, release: str) -> str:
        t, m, c = self.start_s, self.idle_rss_kib, self.checkpoint
        return "\n".join([
            f"guest kernel {release}:",
            f"  start `true`: wharfie-vm {t['wharfie-vm']:.2f} s, bare QEMU {t['bare']:.2f} s,"
            f" overhead {self.start_overhead * 100:+.1f} % (target <= 10 %)",
            f"  idle memory: wharfie-vm {m['wharfie-vm'] / 1024:.0f} MiB, bare QEMU"
            f" {m['bare'] / 1024:.0f} MiB, ratio {self.memory_ratio:.2f}x (target <= 1.1x)",
            f"  checkpoint of an idle disk-rooted VM: {c['checkpoint_s']:.2f} s, memory.img"
            f" {c['memory_img_mib']:.0f} MiB, disk.img {c['disk_img_used_mib']:.1f} MiB used;"
            f" restore {c['restore_s']:.2f} s (its boot {c['boot_s']:.2f} s)",
        ])  # fmt: skip


def measure(work: Path, rootfs: Path, kernel: assets.Kernel, accel_name: str,
            rounds: int) -> KernelResult:  # fmt: skip
    bundle_true = make_bundle(work / "b-true", rootfs, bundle_spec(["/bin/true"]))
    bundle_idle = make_bundle(work / "b-idle", rootfs, bundle_spec(["/bin/sleep", "600"]))
    root = work / "root"
    bare = Bare(work, rootfs, kernel, accel_name)
    times: dict[str, list[float]] = {"wharfie-vm": [], "bare": []}
    for r in range(rounds):
        for who in rotated(["wharfie-vm", "bare"], r):
            t = ours_true(root, bundle_true, r, kernel) if who == "wharfie-vm" else bare.run_true()
            times[who].append(t)
            print(f"{kernel.release} round {r + 1}: {who:<10} {t:7.2f} s", flush=True)
    try:
        ours_rss, boot = ours_idle(root, bundle_idle, kernel)
        bare_rss = bare.idle_rss(boot)
    finally:
        shutil.rmtree(os.path.dirname(qemu.paths(str(bare.state))["agent"]), True)
    return KernelResult(
        start_s={"wharfie-vm": median(times["wharfie-vm"]), "bare": median(times["bare"])},
        idle_rss_kib={"wharfie-vm": ours_rss, "bare": bare_rss},
        checkpoint=checkpoint_restore(root, bundle_idle, kernel),
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kernel", action="append", default=[], help="a release (default: all)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/vm.py needs root")
    kernels = [k for k in assets.kernels() if not args.kernel or k.release in args.kernel]
    if not kernels:
        raise SystemExit(f"no guest kernel {args.kernel or ''} (scripts/setup.sh)")
    default = assets.find_kernel()
    verdict = accel.detect(default.vmlinux, default.initramfs, assets.assets_dir())
    per_kernel: dict[str, KernelResult] = {}
    for kernel in kernels:
        with tempfile.TemporaryDirectory(prefix="wharfie-vm-bench-") as tmp:
            work = Path(tmp)
            rootfs = busybox_rootfs(work / "rootfs")
            per_kernel[kernel.release] = measure(work, rootfs, kernel, verdict.name, args.rounds)
    result = {
        "accelerator": verdict.name, "rounds": args.rounds, "load_average": os.getloadavg(),
        "kernels": {
            rel: {**asdict(r), "start_overhead": r.start_overhead, "memory_ratio": r.memory_ratio}
            for rel, r in per_kernel.items()
        },
    }  # fmt: skip
    print(f"\naccelerator {verdict.name}, {args.rounds} rounds")
    for release, r in per_kernel.items():
        print(r.report(release))
    print(f"load average {os.getloadavg()[0]:.1f} (the machine is shared)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
