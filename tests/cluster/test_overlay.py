"""Cluster networks on a wharfied swarm, driven by the real docker CLI and the Engine API:
overlay networks kept in etcd (Scope "swarm", a VNI and a subnet from the cluster's pools),
services attached to them (VIPs, task addresses), and dockerd's refusals. The shapes and
wordings are those Docker 20.10's swarm answered in network namespaces (docs/network.md)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from support.cluster import NodeDaemon, Topology, cli, wait_for
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

    def listed() -> list[str]:
        out = cli(m, "network", "ls", "--filter", "scope=swarm", "--format", "{{.Name}} {{.Scope}}")
        return sorted(out.split("\n")[:-1])

    # the ingress network is the leader's to make, as dockerd makes it at init
    want = ["ingress swarm", "ov1 swarm", "ov2 swarm"]
    wait_for(lambda: listed() == want, 20, "ingress, ov1 and ov2 listed")

    # refusals, each leaving nothing behind
    assert "network with name ov1 already exists" in cli(
        m, "network", "create", "-d", "overlay", "ov1", ok=False
    )
    assert "network with name ov1 already exists" in cli(m, "network", "create", "ov1", ok=False)
    assert "Pool overlaps with other one on this address space" in cli(
        m, "network", "create", "-d", "overlay", "--subnet", "10.9.0.0/25", "ov3", ok=False
    )
    err = cli(m, "network", "create", "-d", "overlay", "--opt", "encrypted", "ov5", ok=False)
    assert "encrypted overlay networks need IPsec ESP" in err or "not supported" in err, err
    assert "ov5" not in cli(m, "network", "ls", "--format", "{{.Name}}")
    assert "ov3" not in cli(m, "network", "ls", "--format", "{{.Name}}")
    # an unknown driver option: Docker 20.10's swarm takes it, keeps it and shows it beside
    # the VNI (checked against its dockerd in namespaces); nothing is set up for it
    cli(m, "network", "create", "-d", "overlay", "--opt", "foo=bar", "ov6")
    assert inspect(m, "ov6")["Options"] == {VNI: "4099", "foo": "bar"}
    cli(m, "network", "rm", "ov6")
    # a VNI asked for is the network's (dockerd's too)
    cli(m, "network", "create", "-d", "overlay", "--opt", f"{VNI}=5000", "ov7")
    assert inspect(m, "ov7")["Options"] == {VNI: "5000"}
    err = cli(m, "network", "create", "-d", "overlay", "--opt", f"{VNI}=5000", "ov8", ok=False)
    assert "VXLAN id 5000 is already in use by network ov7" in err
    cli(m, "network", "rm", "ov7")

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


def manager_and_worker(net: Topology) -> tuple[NodeDaemon, NodeDaemon]:
    """A swarm of two nodes with busybox: a manager and a worker."""
    m = net.add_node(busybox=True)
    w = net.add_node(busybox=True)
    cli(m, "swarm", "init", "--advertise-addr", m.addr)
    net.remember_etcd()
    token = cli(m, "swarm", "join-token", "-q", "worker").strip()
    cli(w, "swarm", "join", "--token", token, "--advertise-addr", w.addr, f"{m.addr}:2377")
    return m, w


def task_container(node: object, service: str) -> str:
    out = cli(
        node,
        "ps",
        "--filter",
        f"label=com.docker.swarm.service.name={service}",
        "--format",
        "{{.ID}}",
    ).split()
    assert len(out) == 1, out
    return out[0]


def overlay_devices(ns: str) -> list[str]:
    import subprocess

    out = subprocess.run(
        ["ip", "-n", ns, "-o", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    return [
        line.split(":")[1].strip().split("@")[0]
        for line in out.splitlines()
        if line.split(":")[1].strip().startswith(("wov", "wvx"))
    ]


@pytest.mark.full
def test_overlay_across_two_nodes(net: Topology) -> None:
    """Tasks on a manager and a worker reach each other over the overlay (TCP, and a payload
    larger than the overlay MTU); the VXLAN devices go once no task uses the network."""
    m, w = manager_and_worker(net)
    err = cli(w, "network", "create", "-d", "overlay", "nope", ok=False)
    assert "Cannot create a multi-host network from a worker node" in err
    ov = cli(m, "network", "create", "-d", "overlay", "ov").strip()
    for name, node in (("a", m), ("b", w)):
        cli(
            m,
            "service",
            "create",
            "--detach",
            "--name",
            name,
            "--network",
            "ov",
            "--constraint",
            f"node.id=={cli(node, 'info', '--format', '{{.Swarm.NodeID}}').strip()}",
            "--stop-grace-period",
            "1s",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do nc -l -p 7000 -e cat; done & wait",
        )
    wait_for(lambda: len(cli(m, "ps", "-q").split()) == 1, 60, "a's task on the manager")
    wait_for(lambda: len(cli(w, "ps", "-q").split()) == 1, 60, "b's task on the worker")
    a, b = task_container(m, "a"), task_container(w, "b")
    ip_b = json.loads(cli(w, "inspect", b, "--format", "{{json .NetworkSettings.Networks}}"))["ov"][
        "IPAddress"
    ]
    assert ip_b.startswith("10.0.1.")
    assert "wov4097" in overlay_devices(w.netns) and "wvx4097" in overlay_devices(m.netns)

    def answered() -> bool:
        p = docker_cli(m, "exec", a, "sh", "-c", f"echo hello | nc -w 2 {ip_b} 7000")
        return p.returncode == 0 and p.stdout.decode().strip() == "hello"

    wait_for(answered, 30, "a reaches b over the overlay")
    # more than the overlay MTU (1450) in one write: TCP segments at the overlay's MSS
    big = docker_cli(
        m,
        "exec",
        a,
        "sh",
        "-c",
        f"dd if=/dev/zero bs=1k count=256 2>/dev/null | nc -w 3 {ip_b} 7000 | wc -c",
    )
    assert big.stdout.decode().strip() == str(256 * 1024), big.stderr.decode()
    mtu = docker_cli(m, "exec", a, "cat", "/sys/class/net/eth1/mtu").stdout.decode().strip()
    assert mtu == "1450"

    cli(m, "service", "rm", "a", "b")
    wait_for(lambda: not overlay_devices(m.netns), 60, "the manager's overlay devices removed")
    wait_for(lambda: not overlay_devices(w.netns), 60, "the worker's overlay devices removed")
    assert ov


# Debian's python3 from the host's /usr, bind-mounted read-only into a busybox container and
# started through its ELF loader: this busybox's nc has no UDP
IN_PYTHON = ["/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/bin/python3.11"]
UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7001))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data[::-1], peer)
"""
UDP_ASK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for size in (4, 4000):  # one datagram in a frame, one fragmented at the overlay MTU
    data = (b"ping" * 1000)[:size]
    for _ in range(10):
        s.sendto(data, (sys.argv[1], 7001))
        try:
            back, peer = s.recvfrom(65535)
        except TimeoutError:
            continue
        assert back == data[::-1] and peer[0] == sys.argv[1], (len(back), peer)
        print(size, len(back))
        break
"""


@pytest.mark.full
@pytest.mark.skipif(not os.path.exists(IN_PYTHON[1]), reason="no python3.11 to bind-mount")
def test_udp_between_containers_on_two_nodes(net: Topology) -> None:
    """Standalone containers on an attachable overlay, one on each node, exchange UDP: a
    datagram and its answer, and one larger than the overlay MTU (fragmented). (It found a
    race: an agent round gave back a standalone container's address claimed while it ran.)"""
    m, w = manager_and_worker(net)
    cli(m, "network", "create", "-d", "overlay", "--attachable", "ov")
    mount = ["-v", "/usr:/usr:ro"]
    cli(w, "run", "-d", "--name", "echo", "--network", "ov", *mount, "busybox",
        *IN_PYTHON, "-c", UDP_ECHO)  # fmt: skip
    cli(m, "run", "-d", "--name", "ask", "--network", "ov", *mount, "busybox",
        "/bin/busybox", "sleep", "600")  # fmt: skip
    ip = cli(w, "inspect", "echo", "--format", "{{.NetworkSettings.Networks.ov.IPAddress}}")

    def answered() -> bool:
        p = docker_cli(m, "exec", "ask", *IN_PYTHON, "-c", UDP_ASK, ip.strip())
        got = p.stdout.decode().split()
        assert p.returncode == 0 and got == ["4", "4", "4000", "4000"], (got, p.stderr[-300:])
        return True

    wait_for(answered, 60, "UDP answered across the overlay")
    cli(m, "rm", "-f", "ask")
    cli(w, "rm", "-f", "echo")
    wait_for(lambda: not overlay_devices(w.netns), 30, "the worker's overlay devices removed")
    wait_for(lambda: not overlay_devices(m.netns), 30, "the manager's overlay devices removed")


def lookup(node: object, container: str, name: str) -> list[str]:
    p = docker_cli(node, "exec", container, "nslookup", name, "127.0.0.11")  # type: ignore[arg-type]
    out = p.stdout.decode()
    answers = out.split("Name:", 1)[1] if "Name:" in out else ""
    return sorted(line.split()[-1] for line in answers.splitlines() if line.startswith("Address"))


@pytest.mark.full
def test_service_vip_balancing_and_dns(net: Topology) -> None:
    """A 3-replica service on two nodes: its name resolves to its VIP, tasks.<name> to its
    tasks, and 100 connections to the VIP reach every task evenly; scaled to 1, only that task
    answers; a dnsrr service's name resolves to its tasks."""
    m, _ = manager_and_worker(net)
    cli(m, "network", "create", "-d", "overlay", "ov")
    serve = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
    cli(
        m, "service", "create", "--detach", "--name", "web", "--replicas", "3",
        "--network", "ov", "--stop-grace-period", "1s", "busybox", "sh", "-c", serve,
    )  # fmt: skip
    cli(
        m, "service", "create", "--detach", "--name", "rr", "--replicas", "2",
        "--endpoint-mode", "dnsrr", "--network", "ov", "--stop-grace-period", "1s",
        "busybox", "sh", "-c", serve,
    )  # fmt: skip
    cli(
        m, "service", "create", "--detach", "--name", "client", "--network", "ov",
        "--constraint", "node.role==manager", "--stop-grace-period", "1s",
        "busybox", "sleep", "600",
    )  # fmt: skip

    def running(service: str) -> int:
        out = cli(m, "service", "ps", service, "--filter", "desired-state=running",
                  "--format", "{{.CurrentState}}")  # fmt: skip
        return sum(1 for line in out.splitlines() if line.startswith("Running"))

    wait_for(lambda: running("web") == 3 and running("rr") == 2 and running("client") == 1,
             90, "the services running")  # fmt: skip
    client = task_container(m, "client")
    vip = json.loads(cli(m, "service", "inspect", "web", "--format", "{{json .Endpoint}}"))
    vip_addr = vip["VirtualIPs"][0]["Addr"].split("/")[0]
    tasks = json.loads(
        cli(
            m,
            "inspect",
            "--type",
            "task",
            *cli(m, "service", "ps", "-q", "--filter", "desired-state=running", "web").split(),
        )
    )
    task_ips = sorted(t["NetworksAttachments"][0]["Addresses"][0].split("/")[0] for t in tasks)
    nodes_used = {t["NodeID"] for t in tasks}
    assert len(nodes_used) == 2, nodes_used  # the tasks behind the VIP are on both nodes

    wait_for(lambda: lookup(m, client, "web") == [vip_addr], 30, "web resolves to its VIP")
    wait_for(lambda: lookup(m, client, "tasks.web") == task_ips, 30, "tasks.web")
    rr_tasks = json.loads(
        cli(
            m,
            "inspect",
            "--type",
            "task",
            *cli(m, "service", "ps", "-q", "--filter", "desired-state=running", "rr").split(),
        )
    )
    rr_ips = sorted(t["NetworksAttachments"][0]["Addresses"][0].split("/")[0] for t in rr_tasks)
    wait_for(lambda: lookup(m, client, "rr") == rr_ips, 30, "a dnsrr name resolves to its tasks")

    def answers(n: int) -> dict[str, int]:
        # busybox's wget crashes in this image: HTTP by hand over nc, the body's last line
        get = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {vip_addr} 80 | tail -n 1"
        p = docker_cli(m, "exec", client, "sh", "-c", f"for i in $(seq {n}); do {get}; done")
        counts: dict[str, int] = {}
        for line in p.stdout.decode().split():
            counts[line] = counts.get(line, 0) + 1
        return counts

    wait_for(lambda: len(answers(3)) == 3, 30, "the VIP reaches the three tasks")
    counts = answers(100)
    print(f"VIP answers over {len(nodes_used)} nodes: {counts}")
    assert len(counts) == 3 and sum(counts.values()) == 100
    # each an even share (100/3), +-20 %
    assert all(100 / 3 * 0.8 <= v <= 100 / 3 * 1.2 for v in counts.values()), counts

    cli(m, "service", "scale", "--detach", "web=1")
    wait_for(lambda: running("web") == 1 and len(answers(6)) == 1, 60, "only one task answers")


@pytest.mark.full
def test_stack_deploy_on_its_default_network(net: Topology, tmp_path: object) -> None:
    """`docker stack deploy` makes `<stack>_default` (an overlay) and attaches its services,
    which reach each other by service name."""
    from pathlib import Path

    m = net.add_node(busybox=True)
    cli(m, "swarm", "init", "--advertise-addr", m.addr)
    net.remember_etcd()
    compose = Path(str(tmp_path)) / "stack.yml"
    compose.write_text(
        'version: "3.8"\n'
        "services:\n"
        "  api:\n"
        "    image: busybox\n"
        '    command: ["sh", "-c", "while true; do nc -l -p 7000 -e echo pong; done"]\n'
        "    stop_grace_period: 1s\n"
        "  front:\n"
        "    image: busybox\n"
        '    command: ["sleep", "600"]\n'
        "    stop_grace_period: 1s\n"
    )
    cli(m, "stack", "deploy", "-c", str(compose), "st")
    doc = inspect(m, "st_default")
    assert doc["Driver"] == "overlay" and doc["Scope"] == "swarm"
    assert doc["Labels"] == {"com.docker.stack.namespace": "st"}
    wait_for(lambda: len(cli(m, "ps", "-q").split()) == 2, 60, "both services' tasks run")
    front = task_container(m, "st_front")

    def pong() -> bool:
        p = docker_cli(m, "exec", front, "sh", "-c", "nc -w 2 api 7000 </dev/null")
        return p.stdout.decode().strip() == "pong"

    wait_for(pong, 30, "front reaches api by its service alias")
    cli(m, "stack", "rm", "st")
    wait_for(
        lambda: "st_default" not in cli(m, "network", "ls", "--format", "{{.Name}}"),
        60,
        "the stack's network removed with it",
    )


@pytest.mark.full
def test_standalone_containers_on_attachable_networks(net: Topology) -> None:
    """`docker run --network` joins an attachable overlay on a worker, with an address from
    the cluster, and reaches a service on the manager by its name; a non-attachable one is
    refused in dockerd's words; the worker's devices go with the container."""
    m, w = manager_and_worker(net)
    cli(m, "network", "create", "-d", "overlay", "--attachable", "ova")
    cli(m, "network", "create", "-d", "overlay", "ovn")
    cli(
        m, "service", "create", "--detach", "--name", "srv", "--network", "ova",
        "--constraint", "node.role==manager", "--stop-grace-period", "1s", "busybox",
        "sh", "-c", "trap 'exit 0' TERM; while true; do nc -l -p 7000 -e cat; done & wait",
    )  # fmt: skip
    err = cli(w, "run", "--rm", "--network", "ovn", "busybox", "true", ok=False)
    assert (
        "Could not attach to network ovn: rpc error: code = PermissionDenied desc = network "
        "ovn not manually attachable"
    ) in err
    cli(w, "run", "-d", "--name", "lone", "--network", "ova", "busybox", "sleep", "600")
    ip = cli(w, "inspect", "lone", "--format", "{{.NetworkSettings.Networks.ova.IPAddress}}")
    assert ip.strip().startswith("10.0.1.")
    doc = json.loads(cli(w, "network", "inspect", "ova"))[0]
    assert doc["Scope"] == "swarm" and "lone" in [c["Name"] for c in doc["Containers"].values()]

    def echoed() -> bool:
        p = docker_cli(w, "exec", "lone", "sh", "-c", "echo hi | nc -w 2 srv 7000")
        return p.stdout.decode().strip() == "hi"

    wait_for(echoed, 60, "the standalone container reaches the service through its VIP")
    cli(w, "rm", "-f", "lone")
    wait_for(lambda: not overlay_devices(w.netns), 30, "the worker's overlay devices removed")


@pytest.mark.full
def test_a_dead_nodes_endpoints_vanish(net: Topology) -> None:
    """kill -9 a worker's wharfied and cut its link: once its liveness lapses, the manager's
    VXLAN device forgets its endpoints and `tasks.<service>` no longer names its task."""
    import signal
    import subprocess

    m, w = manager_and_worker(net)
    cli(m, "network", "create", "-d", "overlay", "ov")
    cli(
        m, "service", "create", "--detach", "--name", "web", "--replicas", "2",
        "--replicas-max-per-node", "1", "--network", "ov", "--stop-grace-period", "1s",
        "busybox", "sleep", "600",
    )  # fmt: skip
    cli(
        m, "service", "create", "--detach", "--name", "client", "--network", "ov",
        "--constraint", "node.role==manager", "--stop-grace-period", "1s",
        "busybox", "sleep", "600",
    )  # fmt: skip
    wait_for(lambda: len(cli(m, "ps", "-q").split()) == 2, 60, "web.1 and client on the manager")
    wait_for(lambda: len(cli(w, "ps", "-q").split()) == 1, 60, "web.2 on the worker")
    client = task_container(m, "client")
    wait_for(lambda: len(lookup(m, client, "tasks.web")) == 2, 30, "tasks.web names both")
    worker_ip = json.loads(
        cli(w, "inspect", cli(w, "ps", "-q").strip(), "--format",
            "{{json .NetworkSettings.Networks.ov.IPAddress}}")
    )  # fmt: skip

    def remote_entries() -> list[str]:
        out = subprocess.run(
            ["bridge", "-n", m.netns, "fdb", "show", "dev", "wvx4097"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return [line for line in out.splitlines() if f"dst {w.addr}" in line]

    assert remote_entries(), "the worker's endpoint is programmed on the manager"
    w.stop(signal.SIGKILL)
    subprocess.run(["ip", "-n", w.netns, "link", "set", "eth0", "down"], check=True)
    wait_for(lambda: not remote_entries(), 30, "the dead worker's endpoints forgotten")
    assert worker_ip not in lookup(m, client, "tasks.web")


@pytest.mark.full
def test_overlay_survives_a_daemon_restart_and_leaves_nothing(net: Topology) -> None:
    """kill -9 the worker's wharfied and start it again: its task keeps its overlay
    connectivity and the devices are reconciled, not remade; `swarm leave` then removes every
    overlay device of the node."""
    import signal

    m, w = manager_and_worker(net)
    cli(m, "network", "create", "-d", "overlay", "ov")
    for name, role in (("a", "manager"), ("b", "worker")):
        cli(
            m, "service", "create", "--detach", "--name", name, "--network", "ov",
            "--constraint", f"node.role=={role}", "--stop-grace-period", "1s", "busybox",
            "sh", "-c", "trap 'exit 0' TERM; while true; do nc -l -p 7000 -e cat; done & wait",
        )  # fmt: skip
    wait_for(lambda: len(cli(m, "ps", "-q").split()) == 1, 60, "a on the manager")
    wait_for(lambda: len(cli(w, "ps", "-q").split()) == 1, 60, "b on the worker")
    a = task_container(m, "a")

    def reaches(src_node: object, src: str, name: str) -> bool:
        p = docker_cli(src_node, "exec", src, "sh", "-c", f"echo hi | nc -w 2 {name} 7000")  # type: ignore[arg-type]
        return p.stdout.decode().strip() == "hi"

    wait_for(lambda: reaches(m, a, "b"), 30, "a reaches b")
    w.stop(signal.SIGKILL)
    assert reaches(m, a, "b"), "the data plane does not depend on the daemon"
    w.start()

    def b_reaches_a() -> bool:
        # under load the restart may outlast the worker's liveness: its task is then replaced
        # (a new container, a new address), which must be reachable all the same
        now = cli(w, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=b").split()
        return len(now) == 1 and reaches(w, now[0], "a")

    wait_for(b_reaches_a, 60, "b reaches a after the restart")
    wait_for(lambda: reaches(m, a, "b"), 30, "a reaches b after the restart")
    assert sorted(overlay_devices(w.netns)) == ["wov4097", "wvx4097"]

    cli(w, "swarm", "leave", "--force")
    wait_for(lambda: not overlay_devices(w.netns), 30, "the worker's overlay devices removed")


@pytest.mark.full
def test_routing_mesh_answers_on_a_node_without_tasks(net: Topology) -> None:
    """`--publish 8080:80` (ingress mode) answers on the manager's address although the only
    task runs on the worker, from another node and from the manager itself; its table goes
    with the service."""
    import subprocess

    m, w = manager_and_worker(net)
    wait_for(lambda: "ingress" in cli(m, "network", "ls", "--format", "{{.Name}}"), 20,
             "the ingress network made by the leader")  # fmt: skip
    ingress = inspect(m, "ingress")
    assert ingress["Ingress"] is True and ingress["Options"] == {VNI: "4096"}
    serve = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
    cli(
        m, "service", "create", "--detach", "--name", "web", "--publish", "8080:80",
        "--constraint", "node.role==worker", "--stop-grace-period", "1s",
        "busybox", "sh", "-c", serve,
    )  # fmt: skip
    err = cli(m, "service", "create", "--name", "dup", "-p", "8080:80", "busybox", ok=False)
    assert "port '8080' is already in use by service 'web'" in err
    wait_for(lambda: len(cli(w, "ps", "-q").split()) == 1, 60, "web's task on the worker")
    hostname = cli(w, "ps", "-q").strip()[:12]
    endpoint = json.loads(cli(m, "service", "inspect", "web", "--format", "{{json .Endpoint}}"))
    assert endpoint["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}
    ]
    assert [v["NetworkID"] for v in endpoint["VirtualIPs"]] == [ingress["Id"]]

    def fetch(ns: str) -> str:
        get = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {m.addr} 8080 | tail -n 1"
        p = subprocess.run(
            ["nsenter", f"--net=/run/netns/{ns}", "busybox", "sh", "-c", get],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        return p.stdout.strip()

    wait_for(lambda: fetch(w.netns) == hostname, 30, "the manager's port reached from the worker")
    assert fetch(m.netns) == hostname  # and from the manager itself

    def tables(ns: str) -> str:
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{ns}", "nft", "list", "tables"],
            capture_output=True,
            text=True,
        ).stdout

    assert "wharfie_ingress" in tables(m.netns)
    cli(m, "service", "rm", "web")
    wait_for(lambda: "wharfie_ingress" not in tables(m.netns), 30, "the mesh's table removed")
    wait_for(lambda: not overlay_devices(m.netns), 30, "the ingress devices removed")
