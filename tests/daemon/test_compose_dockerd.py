"""`wharfie compose` against a real dockerd: the same wire contract as against wharfied
(the Docker Engine API), checked on the reference engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import busybox_tar
from support.peers import DockerPeer, private_dockerd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerPeer]:
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    base = tmp_path_factory.mktemp("compose-dockerd")
    with private_dockerd(base) as p:
        tar = busybox_tar(base)
        r = p.cli("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=tar)
        assert r.returncode == 0, r.stderr
        yield p


def compose(peer: DockerPeer, folder: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    exe = Path(sys.executable).parent / "wharfie"
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**peer.env, "WHARFIE_HOST": peer.host, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(exe), "compose", "-f", str(folder / "compose.yaml"), *args],
        capture_output=True,
        env=env,
        timeout=120,
    )


def test_web_and_client_on_dockerd(peer: DockerPeer, tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "compose.yaml").write_text(
        textwrap.dedent("""
        services:
          web:
            image: busybox
            command: ["sh", "-c", "echo hi-from-web > /i.html; exec httpd -f -p 80 -h /"]
            stop_grace_period: 1s
            healthcheck: {test: wget -q -O- http://127.0.0.1/i.html, interval: 1s}
          client:
            image: busybox
            # (not a request to web: the private dockerd runs without iptables, and the
            # host's FORWARD policy may drop bridged traffic)
            command: ["sh", "-c", "echo client-after-healthy-web"]
            depends_on: {web: {condition: service_healthy}}
        volumes: {data: {}}
    """)
    )
    try:
        up = compose(peer, folder, "-p", name, "up", "-d")
        assert up.returncode == 0, up.stderr
        err = up.stderr.decode()
        assert err.index("-web-1  Healthy") < err.index("-client-1  Started")
        r = peer.cli("wait", f"{name}-client-1", timeout=60)
        assert r.stdout.strip() == b"0", compose(peer, folder, "-p", name, "logs").stdout
        logs = compose(peer, folder, "-p", name, "logs", "client")
        assert b"client-1  | client-after-healthy-web" in logs.stdout
        again = compose(peer, folder, "-p", name, "up", "-d", "web")
        assert again.returncode == 0 and b"Recreate" not in again.stderr
        info = json.loads(peer.cli("inspect", f"{name}-web-1").stdout)[0]
        labels = info["Config"]["Labels"]
        assert labels["com.docker.compose.project"] == name
        assert labels["com.docker.compose.service"] == "web"
        assert f"{name}_default" in info["NetworkSettings"]["Networks"]
    finally:
        down = compose(peer, folder, "-p", name, "down", "-v", "-t", "1")
        assert down.returncode == 0, down.stderr
    assert (
        peer.cli("ps", "-aq", "--filter", f"label=com.docker.compose.project={name}").stdout.strip()
        == b""
    )
