"""Pull and push against Debian's reference registry, through the docker CLI, the wharfie
CLI, docker-py and skopeo."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.daemon import Daemon, docker_cli, wharfie_cli
from support.peers import ReferenceRegistry

SKOPEO = "/usr/bin/skopeo"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceRegistry]:
    reg = ReferenceRegistry(tmp_path_factory.mktemp("registry"))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


def ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, (p.stdout + p.stderr).decode()
    return p.stdout.decode()


def test_docker_cli_push_then_pull_and_run(daemon: Daemon, registry: ReferenceRegistry,
                                           name: str) -> None:
    ref = f"{registry.addr}/{name}:v1"
    ok(docker_cli(daemon, "tag", "busybox", ref))
    out = ok(docker_cli(daemon, "push", ref))
    assert f"The push refers to repository [{registry.addr}/{name}]" in out
    assert "v1: digest: sha256:" in out
    image_id = ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", ref)).strip()
    ok(docker_cli(daemon, "rmi", ref))
    out = ok(docker_cli(daemon, "pull", ref))
    assert "Digest: sha256:" in out and f"Downloaded newer image for {ref}" in out
    assert ok(docker_cli(daemon, "inspect", "-f", "{{.Id}}", ref)).strip() == image_id
    digests = json.loads(ok(docker_cli(daemon, "inspect", "-f", "{{json .RepoDigests}}", ref)))
    assert digests and digests[0].startswith(f"{registry.addr}/{name}@sha256:")
    assert ok(docker_cli(daemon, "run", "--rm", "--network", "none", ref, "echo", "hi")) == "hi\n"
    out = ok(docker_cli(daemon, "pull", ref))
    assert f"Image is up to date for {ref}" in out
    ok(docker_cli(daemon, "rmi", ref))
