"""`--storage-opt` is refused as dockerd 20.10 (overlay2) refuses it on this filesystem,
never recorded and ignored: the same commands against a private dockerd and wharfied."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Daemon, busybox_tar, docker_cli
from support.peers import DockerPeer, private_dockerd
from wharfie.engine import storageopt

pytestmark = pytest.mark.root

CASES = [
    ["create", "--storage-opt", "size=10m", "busybox", "true"],
    ["run", "--rm", "--storage-opt", "size=10m", "busybox", "true"],
    ["create", "--storage-opt", "size=abc", "busybox", "true"],
    ["create", "--storage-opt", "foo=bar", "busybox", "true"],
]


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerPeer]:
    base = tmp_path_factory.mktemp("sopeer")
    with private_dockerd(base / "d") as d:
        p = d.cli("import", "-", "busybox:latest", input=busybox_tar(base))
        assert p.returncode == 0, p.stderr
        yield d


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a[:4]))
def test_storage_opt_matches_dockerd(daemon: Daemon, peer: DockerPeer, args: list[str]) -> None:
    if storageopt.project_quota(str(daemon.data)):
        pytest.skip("the data root is xfs with project quotas: dockerd would accept a size")
    theirs = peer.cli(*args)
    before = docker_cli(daemon, "ps", "-aq").stdout
    ours = docker_cli(daemon, *args)
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr)
    assert ours.returncode != 0
    assert docker_cli(daemon, "ps", "-aq").stdout == before  # nothing half-made


def test_storage_opt_status_matches_dockerd(daemon: Daemon, peer: DockerPeer) -> None:
    import docker

    def status(host: str) -> tuple[int, str]:
        c = docker.APIClient(base_url=host)
        hc = c.create_host_config(storage_opt={"size": "10m"})
        with pytest.raises(docker.errors.APIError) as err:
            c.create_container("busybox", "true", host_config=hc)
        return err.value.response.status_code, err.value.explanation or ""

    assert status(daemon.host) == status(peer.host)


def test_project_quota_detection(tmp_path: Path) -> None:
    assert storageopt.project_quota(str(tmp_path)) is False  # ext4 or tmpfs here
    assert os.path.exists("/proc/self/mountinfo")
