"""cgroups: memory limit and the OOM killer, pids limit, membership, host-side files.

Observed with runc 1.1.5 on the hybrid host (v1 controllers, empty cgroup2 at unified):
  memory limit = swap = 32 MiB, `x=$(head -c 100000000 /dev/zero | tr "\\0" a)` -> the
  shell is OOM-killed, `runc run` exits 137 with nothing on stdout;
  /sys/fs/cgroup/memory/<cgroupsPath>/memory.limit_in_bytes = memory.memsw.limit_in_bytes
  = 33554432;
  pids limit 10: a child shell starting 20 background sleeps gets "sh: can't fork:
  Resource temporarily unavailable" after 8 of them (9 processes in the container);
  /proc/self/cgroup: every line ends in "/" with a cgroup namespace, and in
  /wharfie-test/<id> without one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.oci_runtime import Container, cgroup_file

pytestmark = pytest.mark.root

MIB = 1024 * 1024
ALLOCATE_100MB = 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived ${#x}'


def test_memory_limit_oom_kills_the_process(ctr: Container) -> None:
    ctr.spec["linux"]["resources"]["memory"] = {"limit": 32 * MIB, "swap": 32 * MIB}
    ctr.sh(ALLOCATE_100MB)
    res = ctr.run(timeout=60)
    assert res.returncode == 137, res.describe()
    assert "survived" not in res.stdout


def test_allocation_succeeds_without_memory_limit(ctr: Container) -> None:
    ctr.sh(ALLOCATE_100MB.replace("100000000", "40000000"))
    res = ctr.run(timeout=60).check()
    assert "survived 40000000" in res.stdout


def test_memory_limit_is_written_to_the_cgroup(ctr: Container) -> None:
    ctr.spec["linux"]["resources"]["memory"] = {"limit": 32 * MIB, "swap": 32 * MIB}
    ctr.set_args("sleep", "1000")
    ctr.run_detached().check()
    limit = cgroup_file("memory", ctr.cgroup_path, "memory.limit_in_bytes", "memory.max")
    assert int(limit.read_text()) == 32 * MIB
    if limit.name == "memory.limit_in_bytes":
        memsw = limit.with_name("memory.memsw.limit_in_bytes")
        if memsw.exists():
            assert int(memsw.read_text()) == 32 * MIB
    else:
        assert limit.with_name("memory.swap.max").read_text().strip() == "0"


PIDS_PROBE = (
    "sh -c 'for i in $(seq 20); do sleep 5 & echo started; done' >/dev/shm/log 2>/dev/shm/err;"
    " n=0; while read l; do n=$((n+1)); done </dev/shm/log;"
    " p=0; for x in /proc/[0-9]*; do p=$((p+1)); done;"
    " echo started=$n procs=$p"
)


def parse_pids_probe(out: str) -> tuple[int, int]:
    line = next(line for line in out.splitlines() if line.startswith("started="))
    started, procs = (int(part.split("=")[1]) for part in line.split())
    return started, procs


def test_pids_limit_stops_forks(ctr: Container) -> None:
    ctr.spec["linux"]["resources"]["pids"] = {"limit": 10}
    ctr.sh(PIDS_PROBE)
    res = ctr.run().check()
    started, procs = parse_pids_probe(res.stdout)
    assert 1 <= started < 20, res.describe()
    assert procs <= 10, res.describe()
    pids_max = cgroup_file("pids", ctr.cgroup_path, "pids.max", "pids.max")
    assert not pids_max.exists()  # `run` cleaned its cgroup up


def test_no_pids_limit_allows_all_forks(ctr: Container) -> None:
    ctr.sh(PIDS_PROBE)
    res = ctr.run().check()
    started, procs = parse_pids_probe(res.stdout)
    assert started == 20, res.describe()
    assert procs >= 21


def cgroup_lines(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        out.append((controllers, path))
    return out


def test_cgroup_namespace_shows_root(ctr: Container) -> None:
    assert {"type": "cgroup"} in ctr.spec["linux"]["namespaces"]
    ctr.sh("cat /proc/self/cgroup")
    res = ctr.run().check()
    lines = cgroup_lines(res.stdout)
    assert lines, res.stdout
    assert {path for _, path in lines} == {"/"}, res.stdout


STANDARD_CONTROLLERS = {"memory", "pids", "freezer", "cpu", "cpuacct", "blkio", "devices"}


def controller_paths(lines: list[tuple[str, str]]) -> dict[str, str]:
    """{controller: path} for the v1 controllers in STANDARD_CONTROLLERS (or v2 as "")."""
    out = {}
    for ctrls, path in lines:
        for c in ctrls.split(","):
            if c in STANDARD_CONTROLLERS:
                out[c] = path
        if ctrls == "" and not any(c for c, _ in lines):  # pure cgroup v2 host
            out[""] = path
    return out


def test_cgroup_membership_without_cgroup_namespace(ctr: Container) -> None:
    ctr.spec["linux"]["namespaces"] = [
        ns for ns in ctr.spec["linux"]["namespaces"] if ns["type"] != "cgroup"
    ]
    ctr.sh("cat /proc/self/cgroup")
    res = ctr.run().check()
    paths = controller_paths(cgroup_lines(res.stdout))
    assert paths, res.stdout
    assert set(paths.values()) == {ctr.cgroup_path}, res.stdout


def test_init_is_in_the_configured_cgroup_on_the_host(ctr: Container) -> None:
    ctr.set_args("sleep", "1000")
    ctr.run_detached().check()
    pid = ctr.init_pid()
    procs = cgroup_file("pids", ctr.cgroup_path, "cgroup.procs", "cgroup.procs")
    assert str(pid) in procs.read_text().split()
    host_view = controller_paths(cgroup_lines(Path(f"/proc/{pid}/cgroup").read_text()))
    assert host_view
    assert set(host_view.values()) == {ctr.cgroup_path}, host_view
