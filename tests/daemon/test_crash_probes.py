"""kill -9 of wharfied or of the monitor at random points in run, rm, commit, build and
load, each
followed by the consistency checks (support/consistency.py): the store, the disk, the
kernel's mounts, cgroups and veths, and the monitor agree; the image store lists only
whole images (check_images), and an image the killed operation left behind runs with all
its content. A fast subset runs in CI; the
long version (many random points per operation) is behind `-m full`. Copy-up has its own
probe (test_volume_copyup_kill.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from support.consistency import check, check_images
from support.daemon import DOCKER, Daemon, docker_cli
from support.monitor_pids import wait_new_worker, worker_pid

pytestmark = pytest.mark.root

OPS = ("run", "rm", "commit", "build", "load")
# Build: several steps, each a container and a layer, so a kill lands inside one.
DOCKERFILE = b"""FROM busybox
RUN echo data > /f && mkdir -p /d && seq 1 500 > /d/n
RUN seq 1 30000 > /big
RUN touch /last
"""
TARGETS = ("daemon", "monitor")


def _popen(d: Daemon, *args: str, stdin: bytes | None = None) -> subprocess.Popen[bytes]:
    env = {**d.env, "DOCKER_CONFIG": str(d.base / "docker-config"), "DOCKER_BUILDKIT": "0"}
    proc = subprocess.Popen(
        [DOCKER, *args],
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
        proc.stdin = None  # written whole: communicate() has nothing more to send
    return proc


def _id_of(d: Daemon, name: str) -> str:
    return docker_cli(d, "inspect", "--format", "{{.Id}}", name).stdout.decode().strip()


def _kill(d: Daemon, target: str) -> None:
    if target == "daemon":
        d.stop(signal.SIGKILL)
        d.start()
    else:
        old = worker_pid(d.exec_root)
        os.kill(old, signal.SIGKILL)
        wait_new_worker(d.exec_root, old)


def _settle(d: Daemon, gone: set[str], timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    problems = check(d, gone) + check_images(d)
    while problems and time.monotonic() < deadline:
        time.sleep(0.3)
        problems = check(d, gone) + check_images(d)
    return problems


def probe(d: Daemon, op: str, target: str, delay: float, seed: int = 0) -> None:
    tag = f"p{os.getpid()}{op[:2]}{int(delay * 1000)}{target[0]}{seed}"
    try:
        _probe(d, op, target, delay, tag)
    finally:
        docker_cli(d, "rm", "-f", tag)
        docker_cli(d, "rmi", f"{tag}img:latest")


def _wait_ready(d: Daemon, name: str) -> None:
    deadline = time.monotonic() + 20
    while b"ready" not in docker_cli(d, "logs", name).stdout:
        assert time.monotonic() < deadline, f"{name} did not write its files"
        time.sleep(0.05)


def _probe(d: Daemon, op: str, target: str, delay: float, tag: str) -> None:
    image = f"{tag}img:latest"
    made: set[str] = set()
    archive = d.base / f"{tag}.tar"
    if op in ("rm", "commit", "load"):
        p = docker_cli(
            d,
            "run",
            "-d",
            "--name",
            tag,
            "busybox",
            "sh",
            "-c",
            "echo data > /f; mkdir -p /d; seq 1 500 > /d/n; echo ready; sleep 300",
        )
        assert p.returncode == 0, p.stderr
        made.add(p.stdout.decode().strip())
        _wait_ready(d, tag)
    if op == "load":  # an image with content of its own, saved, then gone from the store
        for step in (["commit", tag, image], ["save", "-o", str(archive), image], ["rmi", image]):
            p = docker_cli(d, *step)
            assert p.returncode == 0, (step, p.stderr)
    args = {
        "run": ["run", "-d", "--name", tag, "busybox", "sleep", "300"],
        "rm": ["rm", "-f", tag],
        "commit": ["commit", tag, image],
        "build": ["build", "-t", image, "-"],
        "load": ["load", "-i", str(archive)],
    }[op]
    client = _popen(d, *args, stdin=DOCKERFILE if op == "build" else None)
    time.sleep(delay)
    _kill(d, target)
    _, client_err = client.communicate(timeout=60)
    cid = _id_of(d, tag)
    if cid:
        made.add(cid)
    problems = _settle(d, set())
    assert not problems, (
        f"{op}, kill -9 of the {target} after {delay:.3f}s: {problems} "
        f"(client: {client.returncode} {client_err.decode(errors='replace').strip()})"
    )
    # whatever survived works: the container can be removed, an image the operation
    # left is whole (every layer's content is there) and runs
    if op in ("commit", "build", "load") and _image_exists(d, image):
        _assert_whole(d, image, op)
    if op == "load":  # and loading it again works on the store the kill left
        p = docker_cli(d, "load", "-i", str(archive))
        assert p.returncode == 0, p.stderr
        _assert_whole(d, image, op)
        archive.unlink()
    if op == "build":  # and building it again too
        p = docker_cli(d, "build", "-t", image, "-", input=DOCKERFILE)
        assert p.returncode == 0, p.stderr
        _assert_whole(d, image, op)
    if cid:
        rm = docker_cli(d, "rm", "-f", tag)
        assert rm.returncode == 0, rm.stderr
    problems = _settle(d, made)
    assert not problems, f"after removing what {op} left: {problems}"


def _image_exists(d: Daemon, image: str) -> bool:
    return docker_cli(d, "image", "inspect", image).returncode == 0


def _assert_whole(d: Daemon, image: str, op: str) -> None:
    files = ["/f", "/d/n"] + (["/big", "/last"] if op == "build" else [])
    run = docker_cli(d, "run", "--rm", image, "sh", "-c", f"cat {' '.join(files)} | wc -l")
    want = 1 + 500 + (30000 if op == "build" else 0)
    assert run.returncode == 0 and run.stdout.strip() == str(want).encode(), (op, run)
    docker_cli(d, "rmi", image)


# A kill inside the operation: build and load take longer before they write anything.
FAST_DELAYS = {"build": (0.9, 0.6), "load": (0.25, 0.1)}
FAST = [
    (op, target, delay)
    for op in OPS
    for target, delay in zip(TARGETS, FAST_DELAYS.get(op, (0.04, 0.02)), strict=True)
]


@pytest.mark.parametrize(("op", "target", "delay"), FAST)
def test_kill_probe(daemon: Daemon, op: str, target: str, delay: float) -> None:
    probe(daemon, op, target, delay)


@pytest.mark.full
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("op", OPS)
def test_kill_probe_random(daemon: Daemon, op: str, target: str, seed: int) -> None:
    delay = random.Random(f"{op}{target}{seed}").uniform(0.0, 2.0 if op == "build" else 0.3)
    probe(daemon, op, target, round(delay, 3), seed)
