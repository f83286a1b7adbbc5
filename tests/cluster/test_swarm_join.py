"""A swarm of wharfied nodes, each in its own network namespace: 3 managers and 2 workers
joined with the real docker CLI, then failures: a worker lost, the leader lost (its wharfied and
its etcd member killed with SIGKILL), and bad joins that must leave nothing behind.
Wordings are dockerd's (docs/wire/swarm-dockerd-20.10.txt)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import pytest

from support.cluster import NodeDaemon, Topology, cli, wait_for
from support.daemon import docker_cli

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed"),
    pytest.mark.slow,
]


def rows(node: NodeDaemon) -> dict[str, tuple[str, str]]:
    """node id -> (status, manager status) as `docker node ls` shows them."""
    out = cli(node, "node", "ls", "--format", "{{.ID}}|{{.Status}}|{{.ManagerStatus}}")
    return {i: (s, m) for i, s, m in (line.split("|") for line in out.split())}


def node_id(node: NodeDaemon) -> str:
    return str(json.loads(cli(node, "info", "--format", "{{json .Swarm}}"))["NodeID"])


def test_three_managers_two_workers_and_failures(net: Topology) -> None:
    m0 = net.add_node()
    cli(m0, "swarm", "init", "--advertise-addr", m0.addr)
    worker_token = cli(m0, "swarm", "join-token", "-q", "worker").strip()
    manager_token = cli(m0, "swarm", "join-token", "-q", "manager").strip()
    remote = f"{m0.addr}:2377"
    managers, workers = [m0], []
    for _ in range(2):
        m = net.add_node()
        out = cli(m, "swarm", "join", "--advertise-addr", m.addr, "--token", manager_token, remote)
        assert "This node joined a swarm as a manager." in out
        managers.append(m)
    for _ in range(2):
        w = net.add_node()
        out = cli(w, "swarm", "join", "--advertise-addr", w.addr, "--token", worker_token, remote)
        assert "This node joined a swarm as a worker." in out
        workers.append(w)
    net.remember_etcd()
    ids = {n.addr: node_id(n) for n in managers + workers}
    wait_for(lambda: len(rows(m0)) == 5, 15, "5 nodes listed")
    wait_for(lambda: all(s == "Ready" for s, _ in rows(m0).values()), 15, "every node ready")
    table = rows(m0)
    assert sorted(m for _, m in table.values()) == ["", "", "Leader", "Reachable", "Reachable"]
    assert table[ids[m0.addr]][1] == "Leader"
    for m in managers[1:]:  # every manager answers for the cluster
        assert len(rows(m)) == 5
    assert "Worker nodes can't be used to view or modify cluster state" in cli(
        workers[0], "node", "ls", ok=False
    )
    winfo = json.loads(cli(workers[0], "info", "--format", "{{json .Swarm}}"))
    assert (winfo["LocalNodeState"], winfo["ControlAvailable"]) == ("active", False)
    assert winfo["RemoteManagers"]

    # bad joins: dockerd's words, and nothing written to the cluster
    spare = net.add_node()
    bad_secret = worker_token[:-25] + "0" * 25
    assert "A valid join token is necessary to join this cluster" in cli(
        spare,
        "swarm",
        "join",
        "--advertise-addr",
        spare.addr,
        "--token",
        bad_secret,
        remote,
        ok=False,
    )
    other_digest = "SWMTKN-1-" + "1" * 50 + "-" + worker_token.split("-")[-1]
    assert "remote CA does not match fingerprint. Expected:" in cli(
        spare,
        "swarm",
        "join",
        "--advertise-addr",
        spare.addr,
        "--token",
        other_digest,
        remote,
        ok=False,
    )
    assert "invalid join token" in cli(
        spare,
        "swarm",
        "join",
        "--advertise-addr",
        spare.addr,
        "--token",
        "SWMTKN-1-abc",
        remote,
        ok=False,
    )
    assert len(rows(m0)) == 5 and not (spare.data / "swarm").exists()
    assert json.loads(cli(spare, "info", "--format", "{{json .Swarm}}"))["LocalNodeState"] == (
        "inactive"
    )

    # a worker lost: down within the lease's time
    lost = workers[1]
    lost.stop(signal.SIGKILL)
    took = wait_for(lambda: rows(m0)[ids[lost.addr]][0] == "Down", 20, "the lost worker down")
    print(f"worker lost -> Down in {took:.1f}s")
    assert "is not down" not in cli(m0, "node", "rm", ids[lost.addr])

    # the leader lost: its wharfied and its etcd member killed
    for pid in m0.etcd_pids():
        os.kill(pid, signal.SIGKILL)
    m0.stop(signal.SIGKILL)
    start = time.monotonic()

    def new_leader() -> bool:
        try:
            t = rows(managers[1])
        except AssertionError:
            return False
        return any(m == "Leader" for i, (_, m) in t.items() if i != ids[m0.addr])

    wait_for(new_leader, 30, "another manager leads")
    cli(managers[1], "node", "update", "--label-add", "after=failover", ids[managers[2].addr])
    print(f"leader lost -> write accepted in {time.monotonic() - start:.1f}s")
    labels = json.loads(cli(managers[2], "node", "inspect", "self"))[0]["Spec"]["Labels"]
    assert labels == {"after": "failover"}
    wait_for(
        lambda: rows(managers[1])[ids[m0.addr]] == ("Down", "Unreachable"), 20, "old leader down"
    )


def test_promote_and_demote(net: Topology) -> None:
    m0 = net.add_node()
    cli(m0, "swarm", "init", "--advertise-addr", m0.addr)
    token = cli(m0, "swarm", "join-token", "-q", "worker").strip()
    w = net.add_node()
    cli(w, "swarm", "join", "--advertise-addr", w.addr, "--token", token, f"{m0.addr}:2377")
    wid = node_id(w)
    assert "promoted to a manager in the swarm" in cli(m0, "node", "promote", wid)
    wait_for(lambda: rows(m0)[wid] == ("Ready", "Reachable"), 30, "the promoted node reachable")
    net.remember_etcd()
    assert w.etcd_pids(), "the promoted node runs no etcd member"
    wait_for(lambda: docker_cli(w, "node", "ls").returncode == 0, 20, "it answers for the cluster")
    assert len(rows(w)) == 2
    # the first manager can now be demoted: the cluster keeps a manager
    assert "demoted in the swarm" in cli(w, "node", "demote", node_id(m0))
    wait_for(lambda: rows(w)[node_id(m0)][1] == "", 30, "the first manager demoted")
    wait_for(lambda: not m0.etcd_pids(), 20, "its etcd member gone")
    assert "Worker nodes can't be used" in cli(m0, "node", "ls", ok=False)
    wait_for(lambda: rows(w)[node_id(m0)][0] == "Ready", 20, "the demoted node ready as a worker")
    err = cli(w, "node", "demote", wid, ok=False)
    assert "attempting to demote the last manager of the swarm" in err


@pytest.mark.full
def test_services_heal_when_a_worker_and_then_the_leader_are_lost(net: Topology) -> None:
    managers = [net.add_node(busybox=True) for _ in range(3)]
    m0 = managers[0]
    cli(m0, "swarm", "init", "--advertise-addr", m0.addr)
    mtoken = cli(m0, "swarm", "join-token", "-q", "manager").strip()
    wtoken = cli(m0, "swarm", "join-token", "-q", "worker").strip()
    for m in managers[1:]:
        cli(m, "swarm", "join", "--advertise-addr", m.addr, "--token", mtoken, f"{m0.addr}:2377")
    worker = net.add_node(busybox=True)
    cli(
        worker,
        "swarm",
        "join",
        "--advertise-addr",
        worker.addr,
        "--token",
        wtoken,
        f"{m0.addr}:2377",
    )
    net.remember_etcd()
    wait_for(lambda: len(rows(m0)) == 4, 20, "4 nodes")
    cli(
        m0, "service", "create", "--detach", "--name", "heal", "--replicas", "8",
        "--stop-grace-period", "1s", "busybox", "sleep", "600",
    )  # fmt: skip

    def running_by_node(m: NodeDaemon) -> dict[str, int]:
        import docker

        api = docker.APIClient(base_url=m.host, version="1.44", timeout=30)
        tasks = api.tasks(filters={"service": "heal", "desired-state": "running"})
        counts: dict[str, int] = {}
        for t in tasks:
            if t["Status"]["State"] == "running":
                counts[t["NodeID"]] = counts.get(t["NodeID"], 0) + 1
        return counts

    def total(m: NodeDaemon) -> int:
        return sum(running_by_node(m).values())

    wait_for(lambda: total(m0) == 8, 60, "8 running")
    assert len(running_by_node(m0)) == 4  # spread over every node
    # the worker is lost: its tasks run elsewhere
    worker.stop(signal.SIGKILL)
    start = time.monotonic()
    wait_for(lambda: total(m0) == 8 and len(running_by_node(m0)) == 3, 60, "8 running on 3 nodes")
    print(f"worker lost -> 8 running again in {time.monotonic() - start:.1f}s")
    # the leader is lost (wharfied and etcd): another leads, and a scale is accepted
    for pid in m0.etcd_pids():
        os.kill(pid, signal.SIGKILL)
    m0.stop(signal.SIGKILL)
    start = time.monotonic()
    m1 = managers[1]
    wait_for(
        lambda: docker_cli(m1, "service", "scale", "--detach", "heal=4").returncode == 0,
        60,
        "scale accepted",
    )
    print(f"leader lost -> scale accepted in {time.monotonic() - start:.1f}s")
    wait_for(lambda: total(m1) == 4, 60, "4 running")
    cli(m1, "service", "rm", "heal")
