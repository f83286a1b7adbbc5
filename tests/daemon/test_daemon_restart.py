"""Containers outlive wharfied: restarts, kill -9, and no half-made containers after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from support.daemon import DOCKER, Daemon, docker_cli

pytestmark = pytest.mark.root

TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"


def _ticks(d: Daemon, name: str) -> int:
    return docker_cli(d, "logs", name).stdout.decode().count("tick")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_containers_survive_daemon_restart(daemon: Daemon, name: str, sig: int) -> None:
    p = docker_cli(daemon, "run", "-d", "--name", name, "busybox", "sh", "-c", TICKER)
    assert p.returncode == 0, p.stderr
    pid = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]["Pid"]
    time.sleep(0.3)
    daemon.stop(sig)
    time.sleep(0.5)  # logs keep flowing to the monitor meanwhile
    assert os.path.exists(f"/proc/{pid}")
    daemon.start()
    state = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]
    assert state["Running"] is True
    assert state["Pid"] == pid
    before = _ticks(daemon, name)
    assert before >= 6  # including the ticks written while no daemon was running
    time.sleep(0.5)
    assert _ticks(daemon, name) > before
    stop = docker_cli(daemon, "stop", "-t", "1", name)
    assert stop.returncode == 0, stop.stderr
    assert not os.path.exists(f"/proc/{pid}")
    docker_cli(daemon, "rm", name)


def test_exit_while_daemon_is_down_is_seen(daemon: Daemon, name: str) -> None:
    p = docker_cli(daemon, "run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 1; exit 3")
    assert p.returncode == 0, p.stderr
    daemon.stop(signal.SIGKILL)
    time.sleep(1.5)
    daemon.start()
    state = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 3
    docker_cli(daemon, "rm", name)


@pytest.mark.parametrize("delay", [0.02, 0.06, 0.12])
def test_kill_9_during_run_leaves_no_half_container(daemon: Daemon, delay: float) -> None:
    label = f"crash={os.getpid()}-{delay}"
    run = subprocess.Popen(
        [DOCKER, "run", "--rm", "--label", label, "busybox", "sleep", "0.3"],
        env=daemon.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    daemon.stop(signal.SIGKILL)
    run.wait(20)
    daemon.start()
    deadline = time.monotonic() + 10
    ids: list[str] = []
    while time.monotonic() < deadline:
        ids = docker_cli(daemon, "ps", "-aq", "--no-trunc", "--filter", f"label={label}")
        ids = ids.stdout.decode().split()
        if not ids:
            break
        time.sleep(0.2)
    assert ids == []  # --rm containers are removed, running or not
    every = set(docker_cli(daemon, "ps", "-aq", "--no-trunc").stdout.decode().split())
    for parent in (daemon.data / "containers", daemon.exec_root / "containers"):
        leftovers = set(os.listdir(parent)) - every if parent.exists() else set()
        assert leftovers == set(), f"{parent}: {leftovers}"


def test_restart_policies(daemon: Daemon, name: str) -> None:
    p = docker_cli(
        daemon,
        "run",
        "-d",
        "--name",
        name,
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    )
    assert p.returncode == 0, p.stderr
    deadline = time.monotonic() + 15
    doc: dict = {}
    while time.monotonic() < deadline:
        doc = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]
        if doc["RestartCount"] == 2 and doc["State"]["Status"] == "exited":
            break
        time.sleep(0.2)
    assert doc["RestartCount"] == 2
    assert doc["State"]["ExitCode"] == 1
    docker_cli(daemon, "rm", "-f", name)


def test_always_comes_back_after_daemon_restart(daemon: Daemon, name: str) -> None:
    p = docker_cli(
        daemon, "run", "-d", "--name", name, "--restart", "always", "busybox", "sleep", "300"
    )
    assert p.returncode == 0, p.stderr
    pid = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]["Pid"]
    daemon.stop(signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)  # dies while nobody watches
    time.sleep(0.3)
    daemon.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]
        if state["Running"]:
            break
        time.sleep(0.2)
    assert state["Running"] and state["Pid"] != pid
    docker_cli(daemon, "rm", "-f", name)
