"""`docker update` and `docker top` go through the container's OCI runtime (`update -r`,
`ps --format json`), so they work the same under wharfie-runtime, runc and crun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support.daemon import Daemon, daemon_runtime, docker_cli

pytestmark = pytest.mark.root

RUNTIMES = ["wharfie-runtime", "runc", "crun"]


def _cgroup_dir(pid: int, controller: str) -> Path:
    """The container's cgroup for `controller` as the host sees it (v1 or v2)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup") / controller / path.lstrip("/")
    v2 = next(
        ln for ln in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ln.startswith("0::")
    )
    unified = Path("/sys/fs/cgroup/unified")
    return (unified if unified.is_dir() else Path("/sys/fs/cgroup")) / v2[3:].lstrip("/")


def _limits(pid: int) -> dict[str, str]:
    mem, pids, cpu = (_cgroup_dir(pid, c) for c in ("memory", "pids", "cpu"))
    if (mem / "memory.limit_in_bytes").exists():
        return {
            "memory": (mem / "memory.limit_in_bytes").read_text().strip(),
            "pids": (pids / "pids.max").read_text().strip(),
            "cpu": (cpu / "cpu.shares").read_text().strip(),
        }
    return {
        "memory": (mem / "memory.max").read_text().strip(),
        "pids": (mem / "pids.max").read_text().strip(),
        "cpu": (mem / "cpu.weight").read_text().strip(),
    }


def _usable(runtime: str) -> None:
    if runtime == "wharfie-runtime":
        return
    if shutil.which(runtime) is None:
        pytest.skip(f"{runtime} is not installed (scripts/setup.sh installs it)")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_update_and_top_through_the_runtime(daemon: Daemon, name: str, runtime: str) -> None:
    _usable(runtime)
    run = docker_cli(
        daemon,
        "run",
        "-d",
        "--name",
        name,
        "--runtime",
        runtime,
        "--memory",
        "96m",
        "busybox",
        "sleep",
        "300",
    )
    if run.returncode != 0 and b"cgroups in hybrid mode not supported" in run.stderr:
        pytest.skip(
            f"{runtime} refuses this hybrid cgroup host: {run.stderr.decode().strip()} "
            "(mount a v1 hugetlb hierarchy, see ../shared/bench/peers/RESULTS.md)"
        )
    assert run.returncode == 0, run.stderr
    try:
        pid = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]["Pid"]
        before = _limits(pid)
        assert before["memory"] == str(96 << 20)
        up = docker_cli(
            daemon,
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--pids-limit",
            "50",
            "--cpu-shares",
            "512",
            name,
        )
        assert up.returncode == 0, up.stderr
        assert up.stdout.decode().strip() == name
        after = _limits(pid)
        assert after["memory"] == str(64 << 20)
        assert after["pids"] == "50"
        assert after["cpu"] != before["cpu"]
        host = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["HostConfig"]
        assert (host["Memory"], host["PidsLimit"], host["CpuShares"]) == (64 << 20, 50, 512)
        top = docker_cli(daemon, "top", name)
        assert top.returncode == 0, top.stderr
        rows = top.stdout.decode().splitlines()
        assert rows[0].split()[:2] == ["UID", "PID"], rows
        assert [r.split()[1] for r in rows[1:]] == [str(pid)], rows
        assert rows[1].endswith("sleep 300"), rows
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_update_of_a_stopped_container_is_kept_for_its_next_start(
    daemon: Daemon, name: str
) -> None:
    assert docker_cli(daemon, "create", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        up = docker_cli(daemon, "update", "--memory", "48m", name)
        assert up.returncode == 0, up.stderr
        assert docker_cli(daemon, "start", name).returncode == 0
        pid = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]["Pid"]
        assert _limits(pid)["memory"] == str(48 << 20)
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_containers_run_under_the_runtime_the_suite_was_asked_for(
    daemon: Daemon, name: str
) -> None:
    """WHARFIE_TEST_RUNTIME=runc|crun runs the whole engine suite on that runtime: the test
    daemon's default runtime is the one asked for, and a container gets it."""
    info = json.loads(docker_cli(daemon, "info", "--format", "{{json .}}").stdout)
    assert info["DefaultRuntime"] == daemon_runtime()
    run = docker_cli(daemon, "run", "--name", name, "busybox", "true")
    assert run.returncode == 0, run.stderr
    try:
        inspect = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]
        assert inspect["HostConfig"]["Runtime"] == daemon_runtime()
    finally:
        docker_cli(daemon, "rm", "-f", name)
