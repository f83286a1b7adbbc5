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

Runs are interleaved (ours, bare, bare, ours, ...) so the machine's noise falls on both. Each
boot is seconds of CPU under TCG: the default is 3 rounds. Needs root and scripts/setup.sh.

    .venv/bin/python bench/vm.py [--rounds 3] [--json FILE]
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


def ours_true(root: Path, bundle: Path, n: int) -> float:
    cid = f"bench{os.getpid()}-{n}"
    t0 = time.perf_counter()
    p = subprocess.run([WHARFIE_VM, "--root", str(root), "run", "--bundle", str(bundle), cid],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=600)  # fmt: skip
    took = time.perf_counter() - t0
    subprocess.run([WHARFIE_VM, "--root", str(root), "delete", "-f", cid], capture_output=True)
    if p.returncode != 0:
        raise SystemExit(f"wharfie-vm run failed: {p.stderr.decode()}")
    return took


def ours_idle(root: Path, bundle: Path) -> tuple[int, float]:
    cid = f"benchidle{os.getpid()}"
    t0 = time.perf_counter()
    err = root.parent / "idle.err"
    with open(err, "wb") as errf:  # the container keeps its stdio: no pipes we would wait on
        p = subprocess.run([WHARFIE_VM, "--root", str(root), "run", "-d", "--bundle", str(bundle),
                            "--pid-file", str(root.parent / "idle.pid"), cid],
                           stdout=subprocess.DEVNULL, stderr=errf, stdin=subprocess.DEVNULL,
                           timeout=600)  # fmt: skip
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/vm.py needs root")
    kernel = assets.find_kernel()
    verdict = accel.detect(kernel.vmlinux, kernel.initramfs, assets.assets_dir())
    with tempfile.TemporaryDirectory(prefix="wharfie-vm-bench-") as tmp:
        work = Path(tmp)
        rootfs = busybox_rootfs(work / "rootfs")
        bundle_true = make_bundle(work / "b-true", rootfs, bundle_spec(["/bin/true"]))
        bundle_idle = make_bundle(work / "b-idle", rootfs, bundle_spec(["/bin/sleep", "600"]))
        root = work / "root"
        bare = Bare(work, rootfs, kernel, verdict.name)
        times: dict[str, list[float]] = {"wharfie-vm": [], "bare": []}
        for r in range(args.rounds):
            for who in rotated(["wharfie-vm", "bare"], r):
                t = ours_true(root, bundle_true, r) if who == "wharfie-vm" else bare.run_true()
                times[who].append(t)
                print(f"round {r + 1}: {who:<10} {t:7.2f} s", flush=True)
        try:
            ours_rss, boot = ours_idle(root, bundle_idle)
            bare_rss = bare.idle_rss(boot)
        finally:
            shutil.rmtree(os.path.dirname(qemu.paths(str(bare.state))["agent"]), True)
    t_ours, t_bare = median(times["wharfie-vm"]), median(times["bare"])
    result = {
        "accelerator": verdict.name,
        "kernel": kernel.release,
        "rounds": args.rounds,
        "start_s": {"wharfie-vm": t_ours, "bare": t_bare},
        "start_overhead": t_ours / t_bare - 1,
        "idle_rss_kib": {"wharfie-vm": ours_rss, "bare": bare_rss},
        "memory_ratio": ours_rss / bare_rss if bare_rss else None,
        "load_average": os.getloadavg(),
    }
    print(f"\naccelerator {verdict.name}, guest kernel {kernel.release}, {args.rounds} rounds")
    print(f"start `true`: wharfie-vm {t_ours:.2f} s, bare QEMU {t_bare:.2f} s, "
          f"overhead {result['start_overhead'] * 100:+.1f} % (target <= 10 %)")  # fmt: skip
    print(f"idle memory: wharfie-vm {ours_rss / 1024:.0f} MiB, bare QEMU {bare_rss / 1024:.0f} MiB,"
          f" ratio {result['memory_ratio']:.2f}x (target <= 1.1x)")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f} (the machine is shared)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
