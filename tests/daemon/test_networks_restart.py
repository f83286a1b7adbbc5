"""A daemon killed with SIGKILL and started again: user networks, embedded DNS and published
ports of running containers still work; what belonged to a container that died while the
daemon was down (its nft rule, held port, namespace) is reconciled away; nothing is left
after everything is removed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from support.daemon import Daemon, busybox_tar, docker_cli


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("wharfied needs root")
    d = Daemon(tmp_path / "d", 9)
    d.start()
    try:
        docker.APIClient(base_url=d.host).import_image_from_data(
            busybox_tar(tmp_path), repository="busybox", tag="latest", changes=['CMD ["sh"]']
        )
        yield d
    finally:
        leaked = d.teardown()
        assert not leaked, f"mounts left behind: {leaked}"
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
        assert f"wharfie_{d.bridge}" not in tables.stdout


def _ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, (p.stdout + p.stderr).decode()
    return p.stdout.decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    for _ in range(60):
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                return str(r.read().decode())
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} does not answer")


@pytest.mark.slow
def test_networks_survive_a_daemon_crash_and_are_reconciled(own_daemon: Daemon) -> None:
    d = own_daemon
    third = int(d.subnet.split(".")[2])
    _ok(docker_cli(d, "network", "create", "--subnet", f"10.218.{third}.0/24", "appnet"))
    nid = docker.APIClient(base_url=d.host).inspect_network("appnet")["Id"]
    keep_port, dead_port = _free_port(), _free_port()
    _ok(
        docker_cli(
            d,
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "appnet",
            "--network-alias",
            "www",
            "-p",
            f"{keep_port}:80",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        )
    )
    _ok(
        docker_cli(
            d,
            "run",
            "-d",
            "--name",
            "dies",
            "-p",
            f"{dead_port}:80",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        )
    )
    dies_pid = docker.APIClient(base_url=d.host).inspect_container("dies")["State"]["Pid"]
    d.stop(signal.SIGKILL)
    os.kill(dies_pid, signal.SIGKILL)  # a container that dies while the daemon is down
    d.start()
    assert _get(f"http://127.0.0.1:{keep_port}/hostname").strip()
    _ok(docker_cli(d, "run", "--rm", "--network", "appnet", "busybox", "ping", "-c1", "-W2", "www"))
    rules = subprocess.run(
        ["nft", "list", "table", "ip", f"wharfie_{d.bridge}"], capture_output=True, text=True
    ).stdout
    assert f"dport {keep_port} " in rules and f"dport {dead_port} " not in rules
    with socket.socket() as s:  # the dead container's port is free again
        s.bind(("0.0.0.0", dead_port))
    client = docker.APIClient(base_url=d.host)
    for c in client.containers(all=True):
        client.remove_container(c["Id"], force=True)
    client.remove_network(nid)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"br-{nid[:12]}" not in links
    assert not os.listdir(d.exec_root / "netns")
