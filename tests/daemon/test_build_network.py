"""`docker build --network <user network>`: RUN steps join it and its DNS answers, as with
dockerd's classic builder (the same build is run on a private dockerd and compared)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.daemon import Daemon, busybox_tar, docker_cli
from support.peers import DockerPeer, private_dockerd

Cli = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerPeer]:
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    base = tmp_path_factory.mktemp("build-net-dockerd")
    with private_dockerd(base) as p:
        r = p.cli("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=busybox_tar(base))
        assert r.returncode == 0, r.stderr
        yield p


def _clis(daemon: Daemon, peer: DockerPeer) -> dict[str, Cli]:
    def ours(*args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
        return docker_cli(daemon, *args, **kw)  # type: ignore[arg-type]

    def theirs(*args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
        env = {**peer.env, "DOCKER_BUILDKIT": "0"}
        return subprocess.run(["docker", *args], capture_output=True, env=env, timeout=120)

    return {"wharfied": ours, "dockerd": theirs}


def test_run_steps_join_the_network_and_resolve_its_names(
    daemon: Daemon, peer: DockerPeer, name: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        f"RUN cat /etc/resolv.conf && wget -qO- http://{name}-srv:8000/index.html"
        " && wget -qO- http://web-alias:8000/index.html\n"
    )
    subnet = f"10.232.{os.getpid() % 250}.0/24"
    for who, cli in _clis(daemon, peer).items():
        assert cli("network", "create", "--subnet", subnet, name).returncode == 0
        try:
            p = cli(
                "run",
                "-d",
                "--name",
                f"{name}-srv",
                "--network",
                name,
                "--network-alias",
                "web-alias",
                "--hostname",
                "srv",
                "busybox",
                "sh",
                "-c",
                "mkdir /w && echo hello-$HOSTNAME > /w/index.html && httpd -f -p 8000 -h /w",
            )
            assert p.returncode == 0, p.stderr
            cli("exec", f"{name}-srv", "true")
            p = cli(
                "run",
                "--rm",
                "--network",
                name,
                "busybox",
                "sh",
                "-c",
                f"until wget -qO- http://{name}-srv:8000/index.html; do sleep 0.1; done",
            )
            assert p.returncode == 0, (who, p.stderr)
            built = cli("build", "--no-cache", "--network", name, str(tmp_path))
            out = built.stdout.decode()
            assert built.returncode == 0, (who, built.stdout, built.stderr)
            assert out.count("hello-srv") == 2 and "nameserver 127.0.0.11" in out, (who, out)
            bad = cli("build", "--no-cache", "--network", f"{name}-nosuch", str(tmp_path))
            assert bad.returncode == 1, who
            assert f"network {name}-nosuch not found" in (bad.stdout + bad.stderr).decode(), who
        finally:
            cli("rm", "-f", f"{name}-srv")
            cli("network", "rm", name)
    # dockerd's classic builder keeps the failed step's container (no --force-rm); we do not
    left = peer.cli("ps", "-aq").stdout.split()
    if left:
        peer.cli("rm", "-f", *[c.decode() for c in left])
    assert docker_cli(daemon, "ps", "-aq").stdout == b""
