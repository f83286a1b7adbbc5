"""Cluster networks on a wharfied swarm, driven by the real docker CLI and the Engine API:
overlay networks kept in etcd (Scope "swarm", a VNI and a subnet from the cluster's pools),
services attached to them (VIPs, task addresses), and dockerd's refusals. The shapes and
wordings are those Docker 20.10's swarm answered in network namespaces (docs/network.md)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from support.cluster import Topology, cli, wait_for
from support.daemon import docker_cli

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed"),
    pytest.mark.slow,
]

VNI = "com.docker.network.driver.overlay.vxlanid_list"


def inspect(node: object, ref: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(cli(node, "network", "inspect", ref))[0]  # type: ignore[arg-type]
    return doc


def test_overlay_network_objects_on_a_manager(net: Topology) -> None:
    m = net.add_node(busybox=True)
    # outside a swarm: dockerd's refusal
    err = cli(m, "network", "create", "-d", "overlay", "ov0", ok=False)
    assert 'This node is not a swarm manager. Use "docker swarm init"' in err
    cli(m, "swarm", "init", "--advertise-addr", m.addr)
    net.remember_etcd()

    ov1 = cli(m, "network", "create", "-d", "overlay", "ov1").strip()
    ov2 = cli(
        m, "network", "create", "-d", "overlay", "--attachable", "--subnet", "10.9.0.0/24", "ov2"
    ).strip()
    assert len(ov1) == 25 and len(ov2) == 25
    doc = inspect(m, "ov1")
    assert doc["Scope"] == "swarm" and doc["Driver"] == "overlay"
    assert doc["IPAM"] == {
        "Driver": "default",
        "Options": None,
        "Config": [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}],
    }
    assert doc["Options"] == {VNI: "4097"}
    assert (doc["Attachable"], doc["Internal"], doc["Ingress"]) == (False, False, False)
    assert doc["Labels"] is None and doc["Containers"] is None
    doc2 = inspect(m, ov2[:12])
    assert doc2["Attachable"] is True and doc2["Options"] == {VNI: "4098"}
    assert doc2["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]  # type: ignore[index]

    listed = cli(m, "network", "ls", "--filter", "scope=swarm", "--format", "{{.Name}} {{.Scope}}")
    assert sorted(listed.split("\n")[:-1]) == ["ov1 swarm", "ov2 swarm"]

    # refusals, each leaving nothing behind
    assert "network with name ov1 already exists" in cli(
        m, "network", "create", "-d", "overlay", "ov1", ok=False
    )
    assert "network with name ov1 already exists" in cli(m, "network", "create", "ov1", ok=False)
    assert "Pool overlaps with other one on this address space" in cli(
        m, "network", "create", "-d", "overlay", "--subnet", "10.9.0.0/25", "ov3", ok=False
    )
    assert "ov3" not in cli(m, "network", "ls", "--format", "{{.Name}}")

    # a service on both networks: a VIP on each, its tasks an address on each
    cli(
        m,
        "service",
        "create",
        "--name",
        "web",
        "--replicas",
        "2",
        "--network",
        "ov1",
        "--network",
        "ov2",
        "--stop-grace-period",
        "1s",
        "busybox",
        "sleep",
        "300",
    )

    def vips() -> list[dict[str, str]]:
        found = json.loads(cli(m, "service", "inspect", "web", "--format", "{{json .Endpoint}}"))
        out: list[dict[str, str]] = found.get("VirtualIPs") or []
        return out

    wait_for(lambda: len(vips()) == 2, 20, "the service's VIPs")
    by_net = {v["NetworkID"]: v["Addr"] for v in vips()}
    assert by_net[ov1].startswith("10.0.1.") and by_net[ov1].endswith("/24")
    assert by_net[ov2].startswith("10.9.0.")
    spec_nets = json.loads(
        cli(m, "service", "inspect", "web", "--format", "{{json .Spec.TaskTemplate.Networks}}")
    )
    assert sorted(n["Target"] for n in spec_nets) == sorted([ov1, ov2])
    tasks = json.loads(
        cli(m, "inspect", "--type", "task", *cli(m, "service", "ps", "-q", "web").split())
    )
    addrs = set()
    for t in tasks:
        att = {a["Network"]["ID"]: a for a in t["NetworksAttachments"]}
        assert set(att) == {ov1, ov2}
        assert att[ov1]["Network"]["DriverState"]["Options"] == {VNI: "4097"}
        assert att[ov1]["Network"]["Spec"]["Name"] == "ov1"
        addrs.update(a["Addresses"][0] for a in att.values())
    assert len(addrs) == 4 and not addrs & set(by_net.values())

    p = docker_cli(m, "network", "rm", "ov1")
    assert p.returncode != 0
    service_id = cli(m, "service", "inspect", "web", "--format", "{{.ID}}").strip()
    assert (
        f"rpc error: code = FailedPrecondition desc = network {ov1} is in use by service "
        f"{service_id}"
    ) in p.stderr.decode()

    cli(m, "service", "rm", "web")

    def removed() -> bool:
        return docker_cli(m, "network", "rm", "ov1", "ov2").returncode == 0

    wait_for(removed, 30, "the networks removed once their tasks are gone")
    assert "ov1" not in cli(m, "network", "ls", "--format", "{{.Name}}")
    # the pools' claims went with them: the next network takes the first subnet and VNI again
    cli(m, "network", "create", "-d", "overlay", "ov4")
    doc4 = inspect(m, "ov4")
    assert doc4["Options"] == {VNI: "4097"}
    assert doc4["IPAM"]["Config"][0]["Subnet"] == "10.0.1.0/24"  # type: ignore[index]
