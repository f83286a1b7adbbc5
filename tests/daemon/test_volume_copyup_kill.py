"""kill -9 of wharfied while image content is copied into a new volume: after the
restart the volume is filled completely on its next use, never left partly filled."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from support.daemon import Daemon, docker_cli

pytestmark = pytest.mark.root

FILES = 3000


@pytest.fixture(scope="module")
def big_image(daemon: Daemon) -> Iterator[str]:
    """busybox plus /data with FILES small files (a copy-up that takes a while)."""
    tag = f"copyup{os.getpid()}:latest"
    src = f"mk{os.getpid()}"
    script = (
        f"mkdir -p /data/d && cd /data/d && i=0; "
        f"while [ $i -lt {FILES} ]; do echo $i > f$i; i=$((i+1)); done"
    )
    p = docker_cli(daemon, "run", "--name", src, "busybox", "sh", "-c", script, timeout=300)
    assert p.returncode == 0, p.stderr
    p = docker_cli(daemon, "commit", src, tag)
    assert p.returncode == 0, p.stderr
    docker_cli(daemon, "rm", src)
    yield tag
    docker_cli(daemon, "rmi", "-f", tag)


def _volume_data(d: Daemon, vol: str) -> str:
    return str(d.data / "volumes" / vol / "_data")


def _count(path: str) -> int:
    try:
        return sum(len(files) for _, _, files in os.walk(path))
    except OSError:
        return 0


@pytest.mark.parametrize("fraction", [0.2, 0.7])
def test_daemon_kill_during_copy_up(
    daemon: Daemon, big_image: str, name: str, fraction: float
) -> None:
    vol = name + "v"
    p = docker_cli(daemon, "volume", "create", vol)
    assert p.returncode == 0, p.stderr
    data = _volume_data(daemon, vol)
    assert daemon.proc is not None
    import subprocess

    from support.daemon import DOCKER

    env = {**daemon.env, "DOCKER_CONFIG": str(daemon.base / "docker-config")}
    runner = subprocess.Popen(
        [DOCKER, "run", "-d", "--name", name, "-v", f"{vol}:/data", big_image, "sleep", "300"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while _count(data) < FILES * fraction and time.monotonic() < deadline:
        time.sleep(0.002)
    copied = _count(data)
    daemon.stop(signal.SIGKILL)
    runner.wait(30)
    assert copied > 0, "the copy-up never started"
    killed_mid_copy = _count(data) < FILES
    daemon.start()
    try:
        # the interrupted container either exists (created, not running) or not at all;
        # whichever: a new container with the volume sees all of the image's content
        out = docker_cli(
            daemon,
            "run",
            "--rm",
            "-v",
            f"{vol}:/data",
            big_image,
            "sh",
            "-c",
            "ls /data/d | wc -l; cat /data/d/f0 /data/d/f" + str(FILES - 1),
        )
        assert out.returncode == 0, out.stderr
        lines = out.stdout.decode().split()
        assert lines == [str(FILES), "0", str(FILES - 1)], (killed_mid_copy, lines)
        assert not os.path.exists(os.path.join(os.path.dirname(data), "._data.copyup-pending"))
    finally:
        docker_cli(daemon, "rm", "-f", name)
        docker_cli(daemon, "volume", "rm", vol)
