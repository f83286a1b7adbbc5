"""`wharfie-vm` at the OCI level: its CLI driven directly, with real QEMU.

Refusals that boot nothing are unmarked; the watchdog tests (a boot each) are `full`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vm_support import vm_leftovers

from support.bundle import bundle_spec, busybox_rootfs, make_bundle
from wharfie.vm import accel

pytestmark = pytest.mark.root

WHARFIE_VM = str(Path(sys.executable).parent / "wharfie-vm")


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("wharfie-vm needs root")
    rootfs = busybox_rootfs(tmp_path / "tmpl")
    return make_bundle(tmp_path / "bundle", rootfs, bundle_spec(["sh", "-c", "sleep 1000"]))


def vm(
    root: Path, *args: str, env: dict[str, str] | None = None, **kw: object
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([WHARFIE_VM, "--root", str(root), *args], capture_output=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kw)  # type: ignore[call-overload]  # fmt: skip


def test_missing_kernel_is_a_clear_error(tmp_path: Path, bundle: Path) -> None:
    root = tmp_path / "root"
    p = vm(root, "run", "-d", "--bundle", str(bundle), "c1",
           env={"WHARFIE_VM_DIR": str(tmp_path / "no-kernels")})  # fmt: skip
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "no guest kernel" in err and "scripts/setup.sh" in err and "Traceback" not in err
    assert not vm_leftovers(root)


def test_missing_qemu_is_a_clear_error(tmp_path: Path, bundle: Path) -> None:
    root = tmp_path / "root"
    p = vm(root, "run", "-d", "--bundle", str(bundle), "c1",
           env={"WHARFIE_VM_QEMU": str(tmp_path / "no-qemu")})  # fmt: skip
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "QEMU is not installed" in err and "Traceback" not in err
    assert not vm_leftovers(root)


def test_unknown_container_and_bad_bundle(tmp_path: Path, bundle: Path) -> None:
    root = tmp_path / "root"
    for args in (["state", "nope"], ["delete", "nope"], ["kill", "nope"]):
        p = vm(root, *args)
        assert p.returncode == 1 and p.stderr.decode().strip() == "container does not exist"
    p = vm(root, "run", "-d", "--bundle", str(tmp_path), "c1")
    assert p.returncode == 1 and "config.json: no such file or directory" in p.stderr.decode()
    spec = json.loads((bundle / "config.json").read_text())
    spec["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    (bundle / "config.json").write_text(json.dumps(spec))
    p = vm(root, "run", "-d", "--bundle", str(bundle), "c1")
    assert p.returncode == 1 and "host devices cannot be passed into the VM" in p.stderr.decode()
    assert not vm_leftovers(root)


def test_features_name_the_accelerator() -> None:
    out = json.loads(
        subprocess.run([WHARFIE_VM, "features"], capture_output=True, check=True).stdout
    )
    assert out["annotations"]["org.wharfie.vm.accelerator"] in ("kvm", "tcg")


def test_pvm_kvm_is_detected_unusable_without_booting(tmp_path: Path) -> None:
    flags = accel.cpu_flags(Path("/proc/cpuinfo").read_text())
    if not os.path.exists("/dev/kvm") or flags & {"vmx", "svm"}:
        pytest.skip(
            "not a PVM host: /dev/kvm absent, or the CPU has vmx/svm (a probe boot decides)"
        )
    os.environ.pop("WHARFIE_VM_ACCEL", None)
    verdict = accel.detect("/nonexistent/vmlinux", "/nonexistent/initrd", str(tmp_path))
    assert verdict.name == "tcg" and "PVM" in verdict.reason
    assert (tmp_path / "accel.json").exists()  # cached for the next VM
    assert "TCG" in verdict.warning


def _wait_status(root: Path, cid: str, want: str, timeout: float) -> str:
    until = time.monotonic() + timeout
    status = ""
    while time.monotonic() < until:
        p = vm(root, "state", cid)
        status = json.loads(p.stdout)["status"] if p.returncode == 0 else "gone"
        if status == want:
            return status
        time.sleep(0.5)
    return status


@pytest.mark.full
def test_watchdog_kills_a_stalled_guest(tmp_path: Path, bundle: Path) -> None:
    root = tmp_path / "root"
    err_path = tmp_path / "stderr"
    with open(err_path, "wb") as err:
        p = subprocess.run([WHARFIE_VM, "--root", str(root), "run", "-d", "--bundle", str(bundle),
                            "--pid-file", str(tmp_path / "pid"), "c1"], stderr=err,
                           stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=300,
                           env={**os.environ, "WHARFIE_VM_STALL_TIMEOUT": "8"})  # fmt: skip
    try:
        assert p.returncode == 0, err_path.read_text()
        state = json.loads((root / "c1" / "state.json").read_text())
        qemu_pid = state["qemu"]["pid"]
        t0 = time.monotonic()
        os.kill(qemu_pid, signal.SIGSTOP)  # the guest stops answering
        assert _wait_status(root, "c1", "stopped", 60) == "stopped"
        took = time.monotonic() - t0
        assert took < 8 + 5 + 10, took
        assert "the guest stopped answering for 8 s" in err_path.read_text()
        assert "watchdog killed QEMU" in (root / "c1" / "error").read_text()
    finally:
        vm(root, "delete", "-f", "c1")
    assert not vm_leftovers(root)


@pytest.mark.full
def test_unusable_kvm_boot_is_stopped_by_the_watchdog(tmp_path: Path, bundle: Path) -> None:
    flags = accel.cpu_flags(Path("/proc/cpuinfo").read_text())
    if not os.path.exists("/dev/kvm") or flags & {"vmx", "svm"}:
        pytest.skip("needs a PVM host, where guests stall under KVM")
    root = tmp_path / "root"
    t0 = time.monotonic()
    p = vm(root, "run", "-d", "--bundle", str(bundle), "c1",
           env={"WHARFIE_VM_ACCEL": "kvm", "WHARFIE_VM_BOOT_TIMEOUT": "10"})  # fmt: skip
    assert p.returncode == 1
    assert time.monotonic() - t0 < 40
    err = p.stderr.decode()
    assert "did not boot within 10 s (accelerator kvm); the watchdog killed QEMU" in err, err
    assert not vm_leftovers(root)


@pytest.mark.full
def test_9p_share_without_virtiofsd(tmp_path: Path) -> None:
    """No virtiofsd: the share is QEMU's own 9p server (and the agent mounts it as 9p)."""
    if os.geteuid() != 0:
        pytest.skip("wharfie-vm needs root")
    rootfs = busybox_rootfs(tmp_path / "tmpl")
    b = make_bundle(tmp_path / "b", rootfs, bundle_spec(["sh", "-c", "exit 6"]))
    root = tmp_path / "root"
    p = vm(root, "run", "--bundle", str(b), "c9",
           env={"WHARFIE_VM_VIRTIOFSD": str(tmp_path / "no-virtiofsd")})  # fmt: skip
    try:
        assert p.returncode == 6, p.stderr
        state = json.loads((root / "c9" / "state.json").read_text())
        assert state["virtiofsd"] is None
    finally:
        vm(root, "delete", "-f", "c9")
    assert not vm_leftovers(root)


@pytest.mark.full
def test_create_start_kill_before_start(tmp_path: Path) -> None:
    """runc's split: create boots the VM and waits; start runs the process; a signal to a
    created container ends it."""
    if os.geteuid() != 0:
        pytest.skip("wharfie-vm needs root")
    rootfs = busybox_rootfs(tmp_path / "tmpl")
    spec = bundle_spec(["sh", "-c", "nproc; exit 2"])
    spec["linux"]["resources"] = {"cpu": {"quota": 200000, "period": 100000}}
    b = make_bundle(tmp_path / "b", rootfs, spec)
    root = tmp_path / "root"
    out = tmp_path / "out"
    for cid in ("k1", "s1"):
        with open(out, "wb") as f:
            p = subprocess.run([WHARFIE_VM, "--root", str(root), "create", "--bundle", str(b),
                                cid], stdout=f, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, timeout=300)  # fmt: skip
        assert p.returncode == 0
        assert json.loads(vm(root, "state", cid).stdout)["status"] == "created"
        if cid == "k1":
            assert vm(root, "kill", cid, "TERM").returncode == 0
        else:
            assert vm(root, "start", cid).returncode == 0
        assert _wait_status(root, cid, "stopped", 120) == "stopped"
        if cid == "s1":
            assert out.read_text() == "2\n"  # two vCPUs from the cpu quota
        assert vm(root, "delete", cid).returncode == 0
    assert not vm_leftovers(root)


def test_restore_of_a_bad_checkpoint_leaves_nothing(tmp_path: Path, bundle: Path) -> None:
    """No checkpoint, an incomplete one, one of another QEMU, a corrupt stream: each a clear
    error, and no QEMU, state, socket or mount is left."""
    from wharfie.vm import assets, qemu, snapshot

    root = tmp_path / "root"
    cp = tmp_path / "cp"
    cp.mkdir()

    def restore() -> str:
        p = vm(root, "restore", "-d", "--image-path", str(cp), "--bundle", str(bundle), "c1")
        assert p.returncode == 1, p.stderr
        assert not vm_leftovers(root)
        err = p.stderr.decode()
        assert "Traceback" not in err
        return err

    assert f"{cp} is not a wharfie-vm checkpoint (no vm.json)" in restore()
    kernel = assets.find_kernel()
    meta = snapshot.Meta(container="c0", kernel=kernel.release, qemu="QEMU emulator 0.1",
                         memory_mib=256, vcpus=1, accel="tcg", tsc_khz=0, tty=False)  # fmt: skip
    snapshot.save_meta(str(cp), meta)
    assert "incomplete: no memory.img" in restore()
    (cp / "memory.img").write_bytes(b"not a migration stream")
    (cp / "disk.img").write_bytes(b"\0" * 4096)
    assert "the checkpoint was taken with QEMU emulator 0.1" in restore()
    real = snapshot.qemu_version(qemu.qemu_binary())
    snapshot.save_meta(str(cp), snapshot.Meta(**{**meta.__dict__, "qemu": real}))
    err = restore()
    assert "wharfie-vm: starting the VM: QEMU could not load the checkpoint: " in err, err
    assert "load of migration failed" in err, err  # QEMU's own words


@pytest.mark.full
def test_the_small_kernel_runs_a_container(tmp_path: Path) -> None:
    """`wharfie vm kernel build`'s kernel (when built here) boots a container, shared or on a
    disk: its release inside, the exit code out, the whole RAM visible."""
    from wharfie.vm import assets

    built = [k for k in assets.kernels() if k.release.endswith("-wharfie")]
    if not built or os.geteuid() != 0:
        pytest.skip("no kernel of `wharfie vm kernel build` here (not part of CI)")
    rootfs = busybox_rootfs(tmp_path / "tmpl")
    script = "uname -r; grep MemTotal /proc/meminfo; exit 5"
    b = make_bundle(tmp_path / "bundle", rootfs, bundle_spec(["sh", "-c", script]))
    root = tmp_path / "root"
    for mode in ("share", "disk"):
        env = {"WHARFIE_VM_KERNEL": built[0].release, "WHARFIE_VM_ROOTFS": mode}
        p = vm(root, "run", "--bundle", str(b), f"c{mode}", env=env, stdin=subprocess.DEVNULL)
        out = p.stdout.decode().split()
        assert p.returncode == 5, (mode, p.stdout, p.stderr)
        assert out[0] == built[0].release
        assert int(out[2]) > 480 * 1024  # of the 512 MiB default: a kernel without bulk
        assert vm(root, "delete", "-f", f"c{mode}").returncode == 0
    assert not vm_leftovers(root)
