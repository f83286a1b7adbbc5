"""Real-time CPU options: stored, shown, refused and applied as dockerd does.

The shared test daemon has no real-time budget (as a dockerd without --cpu-rt-runtime): a
container asking for real-time time fails to start, on both, with the kernel's EINVAL for
cpu.rt_runtime_us. A daemon given a budget in its daemon.json (and a cgroup parent of its
own, so no other test's cgroups are touched) starts it with the values in its cgroup."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Daemon, busybox_tar, docker_cli
from support.filedaemon import FileDaemon
from support.peers import DockerPeer, private_dockerd

V1_CPU = Path("/sys/fs/cgroup/cpu")

pytestmark = pytest.mark.skipif(
    not (V1_CPU / "cpu.rt_runtime_us").exists(),
    reason="no cgroup v1 cpu controller with CONFIG_RT_GROUP_SCHED on this host "
    "(the create-time refusal is covered in tests/unit/test_rtsched.py)",
)


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerPeer]:
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    base = tmp_path_factory.mktemp("rt-dockerd")
    with private_dockerd(base) as p:
        r = p.cli("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=busybox_tar(base))
        assert r.returncode == 0, r.stderr
        yield p


def test_inspect_shows_the_values(daemon: Daemon, peer: DockerPeer, name: str) -> None:
    args = (
        "create",
        "--name",
        name,
        "--cpu-rt-runtime",
        "5000",
        "--cpu-rt-period",
        "10000",
        "busybox",
        "true",
    )
    fmt = "{{.HostConfig.CpuRealtimeRuntime}} {{.HostConfig.CpuRealtimePeriod}}"
    theirs = peer.cli(*args)
    ours = docker_cli(daemon, *args)
    assert theirs.returncode == ours.returncode == 0, (theirs.stderr, ours.stderr)
    assert (
        peer.cli("inspect", "-f", fmt, name).stdout
        == docker_cli(daemon, "inspect", "-f", fmt, name).stdout
        == b"5000 10000\n"
    )
    peer.cli("rm", name)
    docker_cli(daemon, "rm", name)


def test_without_a_budget_start_fails_with_einval(
    daemon: Daemon, peer: DockerPeer, name: str
) -> None:
    args = ("run", "--name", name, "--cpu-rt-runtime", "950000", "busybox", "true")
    theirs, ours = peer.cli(*args), docker_cli(daemon, *args)
    assert theirs.returncode == ours.returncode == 125
    for p in (theirs, ours):
        err = p.stderr.decode().lower()
        assert "cpu.rt_runtime_us" in err and "invalid argument" in err, err
    state = "{{.State.Status}} {{.State.ExitCode}}"
    assert (
        peer.cli("inspect", "-f", state, name).stdout
        == docker_cli(daemon, "inspect", "-f", state, name).stdout
        == b"created 128\n"
    )
    peer.cli("rm", name)
    docker_cli(daemon, "rm", name)


def test_runtime_above_period_is_refused_at_create(
    daemon: Daemon, peer: DockerPeer, name: str
) -> None:
    args = (
        "create",
        "--name",
        name,
        "--cpu-rt-runtime",
        "2000",
        "--cpu-rt-period",
        "1000",
        "busybox",
        "true",
    )
    theirs, ours = peer.cli(*args), docker_cli(daemon, *args)
    message = b"cpu real-time runtime cannot be higher than cpu real-time period"
    assert theirs.returncode == ours.returncode == 1
    assert message in theirs.stderr and message in ours.stderr
    # no container was made by either
    assert peer.cli("inspect", name).returncode == docker_cli(daemon, "inspect", name).returncode


def test_a_daemon_budget_lets_containers_run_real_time(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("wharfied needs root")
    parent = f"wharfie-rt-{os.getpid()}"
    d = FileDaemon(tmp_path / "w", 6)
    d.start({"cgroup-parent": f"/{parent}", "cpu-rt-period": 1000000, "cpu-rt-runtime": 100000})
    try:
        import docker

        docker.APIClient(base_url=d.host).import_image_from_data(
            busybox_tar(tmp_path), repository="busybox", tag="latest"
        )
        p = docker_cli(d, "run", "-d", "--cpu-rt-runtime", "50000", "busybox", "sleep", "60")
        assert p.returncode == 0, p.stderr
        cid = p.stdout.decode().strip()
        assert (V1_CPU / parent / "cpu.rt_runtime_us").read_text().strip() == "100000"
        assert (V1_CPU / parent / cid / "cpu.rt_runtime_us").read_text().strip() == "50000"
        over = docker_cli(d, "run", "--rm", "--cpu-rt-runtime", "200000", "busybox", "true")
        assert over.returncode == 125 and b"cpu.rt_runtime_us" in over.stderr
    finally:
        leaked = d.teardown()
        for ctrl in Path("/sys/fs/cgroup").iterdir():
            if (ctrl / parent).is_dir():
                for child in (ctrl / parent).iterdir():
                    if child.is_dir():
                        child.rmdir()
                (ctrl / parent).rmdir()
    assert not leaked
