"""Namespaces: pid, uts, network (and, with exec, that they are the init's).

Observed with runc 1.1.5 on the hybrid Debian 12 host (default spec, terminal false):
  `echo $$` -> 1; `ps` lists pid 1 (`sh -c ...`) and ps itself only;
  `hostname` -> the spec's hostname; /proc/net/dev lists only `lo`;
  /proc/self/ns/* of an exec'd process equal the init's /proc/<pid>/ns/* seen from the host.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.oci_runtime import Container

pytestmark = pytest.mark.root

NS_KINDS = ("pid", "net", "ipc", "uts", "mnt", "cgroup")


def test_process_is_pid_1_and_sees_only_its_own_processes(ctr: Container) -> None:
    ctr.sh("echo pid=$$; sleep 10 & usleep 200000; ps -o pid,comm; kill $!")
    res = ctr.run().check()
    assert "pid=1\n" in res.stdout
    rows = [line.split() for line in res.stdout.splitlines()[1:] if line.strip()]
    rows = [r for r in rows if r[0].isdigit()]
    pids = {int(r[0]) for r in rows}
    comms = {r[1] for r in rows}
    assert 1 in pids, res.stdout
    assert "sleep" in comms, res.stdout
    # pid 1, the background sleep and ps itself: nothing from the host.
    assert len(rows) <= 4, res.stdout
    assert max(pids) < 50, f"host pids visible in the container:\n{res.stdout}"


def test_host_pid_namespace_differs(ctr: Container) -> None:
    ctr.sh("readlink /proc/self/ns/pid")
    res = ctr.run().check()
    assert res.stdout.strip().startswith("pid:[")
    assert res.stdout.strip() != os.readlink("/proc/self/ns/pid")


def test_hostname_is_the_spec_hostname(ctr: Container) -> None:
    ctr.spec["hostname"] = "probe-host-42"
    ctr.sh("hostname; cat /proc/sys/kernel/hostname")
    res = ctr.run().check()
    assert res.stdout.split() == ["probe-host-42", "probe-host-42"]


def test_new_network_namespace_has_only_loopback(ctr: Container) -> None:
    ctr.sh("cat /proc/net/dev; echo ---; ls /sys/class/net")
    res = ctr.run().check()
    dev, _, sysfs = res.stdout.partition("---")
    ifaces = [line.split(":")[0].strip() for line in dev.splitlines() if ":" in line]
    assert ifaces == ["lo"], res.stdout
    assert sysfs.split() == ["lo"], res.stdout
    # The host has more than lo: otherwise the test could not tell.
    lines = Path("/proc/net/dev").read_text().splitlines()
    host = [line.split(":")[0].strip() for line in lines if ":" in line]
    if host == ["lo"]:
        pytest.skip("host has only lo: cannot tell a new network namespace from the host's")


def test_namespaces_are_new_and_match_from_inside_and_outside(ctr: Container) -> None:
    ctr.set_args("sleep", "1000")
    ctr.run_detached().check()
    pid = ctr.init_pid()
    outside = {k: os.readlink(f"/proc/{pid}/ns/{k}") for k in NS_KINDS}
    host = {k: os.readlink(f"/proc/self/ns/{k}") for k in NS_KINDS}
    for kind in NS_KINDS:
        assert outside[kind] != host[kind], f"{kind} namespace is the host's"
    script = "; ".join(f"echo {k}=$(readlink /proc/1/ns/{k})" for k in NS_KINDS)
    res = ctr.exec("sh", "-c", script).check()
    inside = dict(line.split("=", 1) for line in res.stdout.split())
    assert inside == outside
