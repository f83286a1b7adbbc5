"""Isolation and limits, through the docker CLI against wharfied."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from support.daemon import Daemon, docker_cli, sleeper

pytestmark = pytest.mark.root


def test_memory_limit_kills_with_oom(daemon: Daemon, name: str) -> None:
    p = docker_cli(
        daemon,
        "run",
        "--name",
        name,
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    )
    try:
        assert p.returncode == 137, p.stderr
        state = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]
        assert state["OOMKilled"] is True
        assert state["ExitCode"] == 137
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_pids_limit_holds(daemon: Daemon) -> None:
    p = docker_cli(
        daemon,
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 30); do sleep 30 & echo $i; done",
    )
    started = [int(n) for n in p.stdout.decode().split()]
    assert b"can't fork" in p.stderr
    assert 0 < max(started) < 10  # the shell itself is one of the 10


def test_no_host_processes(daemon: Daemon) -> None:
    p = docker_cli(daemon, "run", "--rm", "busybox", "ps", "-o", "pid,comm")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().strip().splitlines()[1:]
    assert [ln.split()[0] for ln in lines] == ["1"]
    assert str(os.getpid()) not in p.stdout.decode().split()


def test_network_none_has_only_lo(daemon: Daemon) -> None:
    p = docker_cli(daemon, "run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().split() == ["lo"]


def test_read_only_rootfs(daemon: Daemon) -> None:
    p = docker_cli(daemon, "run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert p.returncode == 1
    assert b"Read-only file system" in p.stderr
    ok = docker_cli(
        daemon,
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    )
    assert ok.returncode == 0, ok.stderr


def test_bridge_reachable_from_host_and_peers(daemon: Daemon, name: str) -> None:
    sleeper(daemon, name)
    try:
        ip = docker_cli(daemon, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name)
        addr = ip.stdout.decode().strip()
        assert addr.startswith(daemon.subnet.rsplit(".", 1)[0])
        from_peer = docker_cli(daemon, "run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", addr)
        assert from_peer.returncode == 0, from_peer.stdout + from_peer.stderr
        host = subprocess.run(["busybox", "ping", "-c", "1", "-W", "2", addr], capture_output=True)
        assert host.returncode == 0, host.stdout + host.stderr
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_rm_leaves_nothing(daemon: Daemon, name: str) -> None:
    p = docker_cli(daemon, "run", "-d", "--name", name, "busybox", "sleep", "300")
    cid = p.stdout.decode().strip()
    pid = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]["Pid"]
    assert pid > 0
    assert docker_cli(daemon, "rm", "-f", name).returncode == 0
    assert not os.path.exists(f"/proc/{pid}")
    with open("/proc/self/mountinfo") as f:
        assert cid not in f.read()
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        assert not os.path.exists(f"/sys/fs/cgroup/{hierarchy}/wharfie/{cid}")
    assert not os.path.exists(daemon.exec_root / "netns" / cid)
    assert not (daemon.data / "containers" / cid).exists()
