"""wharfied --registry-mirror HOST=URL: pulls of HOST come from the mirror; an unreachable
mirror falls through to the registry itself. Uses a wharfied of its own (flags)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_distribution import ok, unique_image

from support.daemon import Daemon, docker_cli
from support.peers import ReferenceRegistry


class FlaggedDaemon(Daemon):
    def __init__(self, base: Path, index: int, flags: list[str]) -> None:
        super().__init__(base, index)
        self.flags = flags

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "wharfie.daemon",
            "-H",
            self.host,
            "--data-root",
            str(self.data),
            "--exec-root",
            str(self.exec_root),
            "--bridge",
            self.bridge,
            "--bip",
            self.subnet,
            "--no-masquerade",
            "--pidfile",
            str(self.base / "wharfied.pid"),
            *self.flags,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self.wait_ready()


@pytest.fixture
def regs(tmp_path: Path) -> Iterator[tuple[ReferenceRegistry, ReferenceRegistry]]:
    upstream = ReferenceRegistry(tmp_path / "upstream")
    mirror = ReferenceRegistry(tmp_path / "mirror")
    upstream.start()
    mirror.start()
    try:
        yield upstream, mirror
    finally:
        upstream.stop()
        mirror.stop()


def test_pull_through_mirror_and_fallback(
    tmp_path: Path, daemon: Daemon, name: str, regs: tuple[ReferenceRegistry, ReferenceRegistry]
) -> None:
    upstream, mirror = regs
    # the image exists only in the mirror, under the same repository path
    unique_image(daemon, f"{mirror.addr}/{name}:v1")
    ok(docker_cli(daemon, "push", f"{mirror.addr}/{name}:v1"))
    ok(docker_cli(daemon, "rmi", f"{mirror.addr}/{name}:v1"))
    d = FlaggedDaemon(
        tmp_path / "own",
        6,
        [
            "--registry-mirror",
            f"{upstream.addr}=http://127.0.0.1:1",  # down: skipped
            "--registry-mirror",
            f"{upstream.addr}={mirror.url}",
        ],
    )
    d.start()
    try:
        ref = f"{upstream.addr}/{name}:v1"
        out = ok(docker_cli(d, "pull", ref))
        assert f"Downloaded newer image for {ref}" in out
        assert ok(docker_cli(d, "images", "--format", "{{.Repository}}:{{.Tag}}")).split() == [ref]
        # not in the upstream registry, and not in any mirror: the upstream's error
        p = docker_cli(d, "pull", f"{upstream.addr}/{name}-missing:v1")
        assert p.returncode == 1 and b"manifest unknown" in p.stderr, p.stderr
        p = docker_cli(d, "pull", "--platform", "linux/amd64", ref)
        assert p.returncode == 0, p.stderr
    finally:
        assert not d.teardown()
