"""`docker checkpoint` of VM-isolated containers through the real docker CLI (docs/vm.md).

Unmarked: one counter container checkpointed (it stops), started from the checkpoint, and
its counter goes on from where it stopped; the refusals that boot nothing. `full`: a
checkpoint with --leave-running, a refused VM whose root is shared with virtiofs.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from vm_support import vm_leftovers

from support.daemon import Daemon, docker_cli

pytestmark = pytest.mark.root

BOOT = 240.0
COUNTER = "i=0; while true; do echo n=$i; i=$((i+1)); sleep 1; done"
DISK = ("--annotation", "org.wharfie.vm.rootfs=disk")


def _root(d: Daemon) -> Path:
    return d.exec_root / "runtime" / "wharfie-vm"


def _counts(d: Daemon, name: str) -> list[int]:
    p = docker_cli(d, "logs", name)
    return [int(n) for n in re.findall(r"^n=(\d+)$", p.stdout.decode(), re.M)]


def _wait_count(d: Daemon, name: str, at_least: int, timeout: float = BOOT) -> list[int]:
    until = time.monotonic() + timeout
    counts: list[int] = []
    while time.monotonic() < until:
        counts = _counts(d, name)
        if counts and counts[-1] >= at_least:
            return counts
        time.sleep(0.5)
    raise AssertionError(f"{name}: the counter did not reach {at_least}: {counts}")


def _state(d: Daemon, name: str) -> str:
    p = docker_cli(d, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
    return p.stdout.decode().strip()


def _wait_exited(d: Daemon, name: str) -> None:
    """The checkpoint ended the VM (137, as CRIU's kill); the engine sees it just after."""
    until = time.monotonic() + 30
    while _state(d, name).split()[0] == "running" and time.monotonic() < until:
        time.sleep(0.2)
    assert _state(d, name) == "exited 137"


def _checkpoints_dir(d: Daemon, name: str) -> Path:
    cid = docker_cli(d, "inspect", "-f", "{{.Id}}", name, check=True).stdout.decode().strip()
    return d.data / "containers" / cid / "checkpoints"


def test_counter_continues_after_restore(vm_daemon: Daemon, name: str) -> None:
    d = vm_daemon
    p = docker_cli(d, "run", "-d", "--name", name, "--runtime", "wharfie-vm", *DISK,
                   "busybox", "sh", "-c", COUNTER, timeout=BOOT)  # fmt: skip
    assert p.returncode == 0, p.stderr
    try:
        _wait_count(d, name, 3)
        p = docker_cli(d, "checkpoint", "create", name, "cp1", timeout=BOOT)
        assert p.returncode == 0, p.stderr
        assert p.stdout.decode().strip() == "cp1"
        _wait_exited(d, name)
        before = _counts(d, name)
        files = sorted(os.listdir(_checkpoints_dir(d, name) / "cp1"))
        assert files == ["disk.img", "memory.img", "vm.json"]
        p = docker_cli(d, "checkpoint", "ls", name)
        assert p.returncode == 0 and p.stdout.decode().split() == ["CHECKPOINT", "NAME", "cp1"]
        # the VM is gone: nothing of it is left while the container is stopped
        assert not vm_leftovers(_root(d))

        # a damaged copy: the start fails with QEMU's reason and leaves nothing behind
        bad = _checkpoints_dir(d, name) / "bad1"
        shutil.copytree(_checkpoints_dir(d, name) / "cp1", bad)
        (bad / "memory.img").write_bytes(b"damaged")
        p = docker_cli(d, "start", "--checkpoint", "bad1", name, timeout=BOOT)
        assert p.returncode == 1
        assert "QEMU could not load the checkpoint" in p.stderr.decode(), p.stderr
        assert _state(d, name).split()[0] == "exited"
        assert not vm_leftovers(_root(d))

        p = docker_cli(d, "start", "--checkpoint", "cp1", name, timeout=BOOT)
        assert p.returncode == 0, p.stderr
        counts = _wait_count(d, name, before[-1] + 2, timeout=60)
        after = counts[len(before) :]
        # it goes on from where it stopped: the next number, not 0 (no reboot)
        assert after[:2] == [before[-1] + 1, before[-1] + 2], (before, after)

        # start --checkpoint of a running container: dockerd answers 304, nothing happens
        p = docker_cli(d, "start", "--checkpoint", "cp1", name)
        assert p.returncode == 0, p.stderr
        assert _state(d, name) == "running 0"

        for cp in ("cp1", "bad1"):
            p = docker_cli(d, "checkpoint", "rm", name, cp)
            assert p.returncode == 0, p.stderr
        assert docker_cli(d, "checkpoint", "ls", name).stdout.decode().split() == [
            "CHECKPOINT", "NAME",
        ]  # fmt: skip
    finally:
        docker_cli(d, "rm", "-f", name, timeout=60)
    assert not vm_leftovers(_root(d))


def test_checkpoint_refusals(vm_daemon: Daemon, name: str) -> None:
    """Bad input boots nothing and leaves nothing: a stopped container, an unknown
    checkpoint, a custom checkpoint dir on start, a runtime that cannot checkpoint."""
    d = vm_daemon
    # --experimental: reported as dockerd does (the docker CLI hides `checkpoint` otherwise)
    info = docker_cli(d, "info", "-f", "{{.ExperimentalBuild}}", check=True)
    assert info.stdout.decode().strip() == "true"
    p = docker_cli(d, "create", "--name", name, "--runtime", "wharfie-vm", *DISK, "busybox",
                   "sh", "-c", COUNTER)  # fmt: skip
    assert p.returncode == 0, p.stderr
    try:
        p = docker_cli(d, "checkpoint", "create", name, "cp1")
        assert p.returncode == 1
        assert f"Container {name} not running" in p.stderr.decode()
        p = docker_cli(d, "start", "--checkpoint", "nope", name)
        assert p.returncode == 1
        assert f"checkpoint nope does not exist for container /{name}" in p.stderr.decode()
        p = docker_cli(d, "start", "--checkpoint", "nope", "--checkpoint-dir", "/tmp", name)
        assert p.returncode == 1
        assert "custom checkpointdir is not supported" in p.stderr.decode()
        p = docker_cli(d, "checkpoint", "rm", name, "nope")
        assert p.returncode == 1
        assert f"checkpoint nope does not exist for container {name}" in p.stderr.decode()
        assert _state(d, name) == "created 0"
        assert not vm_leftovers(_root(d))
    finally:
        docker_cli(d, "rm", "-f", name, timeout=60)

    other = name + "r"
    p = docker_cli(d, "run", "-d", "--name", other, "busybox", "sleep", "100")
    assert p.returncode == 0, p.stderr
    try:
        p = docker_cli(d, "checkpoint", "create", other, "cp1")
        assert p.returncode == 1
        err = p.stderr.decode()
        # the runtime's own refusal, as dockerd relays runc's
        assert f"Cannot checkpoint container {other}: " in err, err
        assert 'CRIU version check failed: exec: "criu": executable file not found' in err, err
        assert not (_checkpoints_dir(d, other) / "cp1").exists()
        assert _state(d, other) == "running 0"
        p = docker_cli(d, "checkpoint", "create", other, "bad@id")
        assert p.returncode == 1
        assert (
            "Invalid checkpoint ID (bad@id), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            in p.stderr.decode()
        )
    finally:
        docker_cli(d, "rm", "-f", other, timeout=60)


@pytest.mark.full
def test_disk_root_keeps_writes_and_honours_read_only(vm_daemon: Daemon, name: str) -> None:
    """A disk-rooted VM keeps what it wrote across stop/start (as the writable layer does),
    gets a fresh /etc/hosts each start, and --read-only makes its root read-only."""
    d = vm_daemon
    script = "cat /kept 2>/dev/null || echo none; echo run >> /kept; grep -c . /etc/hosts"
    p = docker_cli(d, "run", "--name", name, "--runtime", "wharfie-vm", *DISK, "busybox",
                   "sh", "-c", script, timeout=BOOT)  # fmt: skip
    try:
        assert p.returncode == 0, p.stderr
        assert p.stdout.decode().split()[0] == "none"
        p = docker_cli(d, "start", "-a", name, timeout=BOOT)
        assert p.returncode == 0, p.stderr
        assert p.stdout.decode().split()[:1] == ["run"], p.stdout
    finally:
        docker_cli(d, "rm", "-f", name, timeout=60)
    p = docker_cli(d, "run", "--rm", "--read-only", "--runtime", "wharfie-vm", *DISK, "busybox",
                   "sh", "-c", "touch /x", timeout=BOOT)  # fmt: skip
    assert p.returncode == 1 and b"Read-only file system" in p.stderr, p.stderr
    assert not vm_leftovers(_root(d))


@pytest.mark.full
def test_leave_running_and_a_shared_root_is_refused(vm_daemon: Daemon, name: str) -> None:
    d = vm_daemon
    p = docker_cli(d, "run", "-d", "--name", name, "--runtime", "wharfie-vm", *DISK,
                   "busybox", "sh", "-c", COUNTER, timeout=BOOT)  # fmt: skip
    assert p.returncode == 0, p.stderr
    shared = name + "s"
    try:
        _wait_count(d, name, 2)
        p = docker_cli(d, "checkpoint", "create", "--leave-running", name, "cp1", timeout=BOOT)
        assert p.returncode == 0, p.stderr
        n = _counts(d, name)[-1]
        _wait_count(d, name, n + 2, timeout=60)  # still counting
        assert _state(d, name) == "running 0"
        assert docker_cli(d, "pause", name).returncode == 0
        p = docker_cli(d, "start", "--checkpoint", "cp1", name)
        assert p.returncode == 1
        assert "cannot start a paused container, try unpause instead" in p.stderr.decode()
        assert docker_cli(d, "unpause", name).returncode == 0

        p = docker_cli(d, "run", "-d", "--name", shared, "--runtime", "wharfie-vm", "busybox",
                       "sleep", "1000", timeout=BOOT)  # fmt: skip
        assert p.returncode == 0, p.stderr
        p = docker_cli(d, "checkpoint", "create", shared, "cp1", timeout=BOOT)
        assert p.returncode == 1
        err = p.stderr.decode()
        assert f"Cannot checkpoint container {shared}" in err and "rootfs=disk" in err, err
        assert not (_checkpoints_dir(d, shared) / "cp1").exists()
        assert _state(d, shared) == "running 0"
    finally:
        docker_cli(d, "rm", "-f", name, shared, timeout=60)
    assert not vm_leftovers(_root(d))


@pytest.mark.full
def test_restored_guest_takes_the_new_address(vm_daemon: Daemon, name: str) -> None:
    """Restored where its old address is taken, the guest takes the one the engine gave it
    this time (the agent re-addresses eth0) and its network works."""
    d = vm_daemon
    net = f"{name}-net"
    taker = f"{name}-t"
    assert docker_cli(d, "network", "create", "--subnet", "10.213.77.0/24", net).returncode == 0
    try:
        p = docker_cli(d, "run", "-d", "--name", name, "--network", net, "--runtime",
                       "wharfie-vm", *DISK, "busybox", "sh", "-c", COUNTER,
                       timeout=BOOT)  # fmt: skip
        assert p.returncode == 0, p.stderr
        _wait_count(d, name, 1)
        fmt = f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}'
        first = docker_cli(d, "inspect", "-f", fmt, name).stdout.decode().strip()
        assert first == "10.213.77.2"
        assert docker_cli(d, "checkpoint", "create", name, "cp1", timeout=BOOT).returncode == 0
        _wait_exited(d, name)
        p = docker_cli(d, "run", "-d", "--name", taker, "--network", net, "--ip", "10.213.77.2",
                       "busybox", "sleep", "1000")  # fmt: skip
        assert p.returncode == 0, p.stderr
        p = docker_cli(d, "start", "--checkpoint", "cp1", name, timeout=BOOT)
        assert p.returncode == 0, p.stderr
        ip = docker_cli(d, "inspect", "-f", fmt, name).stdout.decode().strip()
        assert ip and ip != "10.213.77.2"
        p = docker_cli(d, "exec", name, "sh", "-c", "ip -4 -o addr show eth0; ping -c1 -W10 "
                       + taker, timeout=BOOT)  # fmt: skip
        out = p.stdout.decode()
        assert p.returncode == 0, (out, p.stderr)
        assert f"inet {ip}/24" in out and "1 packets received" in out, out
    finally:
        docker_cli(d, "rm", "-f", name, taker, timeout=60)
        docker_cli(d, "network", "rm", net)
    assert not vm_leftovers(_root(d))
