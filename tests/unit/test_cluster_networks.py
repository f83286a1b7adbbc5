"""Cluster networks' pure parts: the choice of VNI, subnet and address, the in-use check and
the documents (shapes captured from Docker 20.10's swarm)."""

from __future__ import annotations

import pytest

from wharfie.cluster import networks
from wharfie.cluster.networks import (
    ClusterNetwork,
    NetworkPlane,
    PlaneEndpoint,
    PlaneService,
    PoolOverlap,
)
from wharfie.cluster.services import PublishedPort, Service, ServiceSpec, Task
from wharfie.errors import InvalidArgument, NotFound
from wharfie.network import overlay, vip


def net(**kw: object) -> ClusterNetwork:
    base: dict[str, object] = dict(
        id="n1" + "0" * 23,
        name="ov1",
        created_ns=1_700_000_000_000_000_000,
        updated_ns=1_700_000_000_000_000_000,
        subnet="10.0.1.0/24",
        gateway="10.0.1.1",
        vni=4097,
    )
    base.update(kw)
    return ClusterNetwork(**base)  # type: ignore[arg-type]


def test_vni_is_the_lowest_free_from_4097() -> None:
    assert networks.pick_vni([]) == 4097
    assert networks.pick_vni([4097, 4098, 4100]) == 4099


def test_subnet_from_the_pool_skips_ingress_and_taken() -> None:
    assert networks.choose_subnet({}, [], ["10.0.0.0/8"], 24) == (
        "10.0.1.0/24",
        "10.0.1.1",
        "",
        False,
    )
    got = networks.choose_subnet({}, ["10.0.1.0/24", "10.0.2.0/23"], ["10.0.0.0/8"], 24)
    assert got[0] == "10.0.4.0/24"


def test_user_subnet_checked() -> None:
    ipam = {"Config": [{"Subnet": "10.9.0.0/24"}]}
    assert networks.choose_subnet(ipam, [], ["10.0.0.0/8"], 24) == (
        "10.9.0.0/24",
        "10.9.0.1",
        "",
        True,
    )
    with pytest.raises(PoolOverlap, match="Pool overlaps with other one on this address space"):
        networks.choose_subnet(
            {"Config": [{"Subnet": "10.9.0.0/25"}]}, ["10.9.0.0/24"], ["10.0.0.0/8"], 24
        )
    with pytest.raises(InvalidArgument, match="Requested address is out of range"):
        networks.choose_subnet(
            {"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.8.0.1"}]}, [], [], 24
        )
    with pytest.raises(NotFound, match='plugin "foo" not found'):
        networks.choose_subnet({"Driver": "foo"}, [], [], 24)


def test_addresses_skip_gateway_and_taken_and_stay_in_range() -> None:
    n = net()
    assert networks.pick_address(n, set()) == "10.0.1.2"
    assert networks.pick_address(n, {"10.0.1.2", "10.0.1.3"}) == "10.0.1.4"
    ranged = net(ip_range="10.0.1.128/25")
    assert networks.pick_address(ranged, set()) == "10.0.1.129"
    tiny = net(subnet="10.0.1.0/30", gateway="10.0.1.1")
    with pytest.raises(Exception, match="no address left"):
        networks.pick_address(tiny, {"10.0.1.2"})


def service(nets: list[str], mode: str = "vip") -> Service:
    doc = {
        "Name": "web",
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox"},
            "Networks": [{"Target": n} for n in nets],
        },
        "EndpointSpec": {"Mode": mode},
    }
    return Service("s1", 0, 0, ServiceSpec(name="web", labels={}, doc=doc, image="busybox"))


def test_in_use_by_a_service_then_by_a_task() -> None:
    n = net()
    assert networks.users(n.id, [], []) == ""
    assert networks.users(n.id, [service([n.id])], []) == (
        f"rpc error: code = FailedPrecondition desc = network {n.id} is in use by service s1"
    )
    t = Task("t1", "s1", 1, "node", "running", "new", 1, 0, 0, addresses={n.id: "10.0.1.3/24"})
    assert "is in use by task t1" in networks.users(n.id, [service([])], [t])
    # swarmkit counts only tasks meant to run: not those of a removed service (`stack rm`
    # removes the services, then at once their networks), nor those being shut down
    assert networks.users(n.id, [], [t]) == ""
    stopping = Task("t2", "s1", 1, "node", "shutdown", "new", 1, 0, 0, addresses=t.addresses)
    assert networks.users(n.id, [service([])], [stopping]) == ""
    assert networks.wants_vip(service([n.id]))
    assert not networks.wants_vip(service([n.id], "dnsrr"))


def test_inspect_document_as_dockerd() -> None:
    doc = networks.render(net())
    assert doc == {
        "Name": "ov1",
        "Id": "n1" + "0" * 23,
        "Created": "2023-11-14T22:13:20Z",
        "Scope": "swarm",
        "Driver": "overlay",
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None,
            "Config": [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}],
        },
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": None,
        "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4097"},
        "Labels": None,
    }
    with_opts = networks.render(net(options={"foo": "bar"}, labels={"a": "b"}))
    assert with_opts["Options"] == {
        "com.docker.network.driver.overlay.vxlanid_list": "4097",
        "foo": "bar",
    }
    assert with_opts["Labels"] == {"a": "b"}


def test_task_attachment_as_swarmkit() -> None:
    a = networks.render_attachment(net(attachable=True, user_subnet=True), 17, "10.0.1.11/24")
    assert a["Addresses"] == ["10.0.1.11/24"]
    n = a["Network"]
    assert n["Version"] == {"Index": 17}
    assert n["Spec"]["Attachable"] is True and n["Spec"]["Scope"] == "swarm"
    assert n["Spec"]["IPAMOptions"]["Configs"] == [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}]
    assert n["DriverState"] == {
        "Name": "overlay",
        "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4097"},
    }
    plain = networks.render_attachment(net(), 17, "10.0.1.11/24")["Network"]["Spec"]
    assert "Configs" not in plain["IPAMOptions"] and "Attachable" not in plain


def test_list_filters() -> None:
    n = net(labels={"a": "b"})
    assert networks.matches({"scope": ["swarm"]}, n, True)
    assert not networks.matches({"scope": ["local"]}, n, True)
    assert networks.matches({"driver": ["overlay"], "name": ["ov"]}, n, True)
    assert networks.matches({"label": ["a=b"]}, n, True)
    assert not networks.matches({"label": ["a=c"]}, n, True)
    assert not networks.matches({"type": ["builtin"]}, n, True)


def test_pick_by_id_name_prefix() -> None:
    a, b = net(id="abc" + "0" * 22, name="x"), net(id="abd" + "0" * 22, name="y")
    assert networks.pick("y", [a, b]) is b
    assert networks.pick("abc", [a, b]) is a
    with pytest.raises(NotFound, match="network ab is ambiguous"):
        networks.pick("ab", [a, b])
    with pytest.raises(NotFound, match="network zz not found"):
        networks.pick("zz", [a, b])


# ------------------------------------------------------------------ the data plane (pure)


def endpoint(ip: str, node: str, task: str, svc: str = "s1", running: bool = True) -> PlaneEndpoint:
    return PlaneEndpoint(
        ip, node, f"192.0.2.{node[-1]}", task, svc, "web", f"web.1.{task}", running
    )


def test_plane_keeps_live_endpoints_of_alive_nodes_on_my_networks() -> None:
    n, other = net(), net(id="n2" + "0" * 23, name="ov2", vni=4098, subnet="10.0.2.0/24")
    s = service([n.id, other.id])
    s.vips = {n.id: "10.0.1.2/24"}

    def task(tid: str, node: str, nid: str, ip: str, desired: str = "running") -> Task:
        return Task(tid, "s1", 1, node, desired, "assigned", 1, 0, 0, addresses={nid: ip})

    tasks = [
        (task("t1", "node1", n.id, "10.0.1.3/24"), "running"),
        (task("t2", "node2", n.id, "10.0.1.4/24"), "starting"),
        (task("t3", "node3", n.id, "10.0.1.5/24"), "running"),  # node3 is down
        (task("t4", "node2", n.id, "10.0.1.6/24"), "failed"),
        (task("t5", "node2", other.id, "10.0.2.3/24"), "running"),  # not on node1's networks
    ]
    nodes = {
        "node1": ("192.0.2.1", True),
        "node2": ("192.0.2.2", True),
        "node3": ("192.0.2.3", False),
    }
    got = networks.plane("node1", [n, other], [s], tasks, nodes)
    assert [p.network.id for p in got] == [n.id]
    eps = {e.task_id: e for e in got[0].endpoints}
    assert set(eps) == {"t1", "t2"}
    assert eps["t2"].node_addr == "192.0.2.2" and not eps["t2"].running
    assert eps["t1"].task_name == "web.1.t1"
    assert got[0].services == [PlaneService("s1", "web", "10.0.1.2")]
    # and back from a worker's answer
    assert networks.plane_from_doc(networks.plane_to_doc(got)) == got


def test_dns_records_and_vip_table() -> None:
    p = NetworkPlane(
        net(),
        [
            endpoint("10.0.1.4", "node1", "t1"),
            endpoint("10.0.1.3", "node2", "t2"),
            endpoint("10.0.1.9", "node2", "t3", running=False),
            endpoint("10.0.1.7", "node1", "r1", svc="s2"),
        ],
        [PlaneService("s1", "Web", "10.0.1.2", ("front",)), PlaneService("s2", "rr", "")],
    )
    names = networks.dns_records(p)
    assert names["web"] == ["10.0.1.2"] and names["front"] == ["10.0.1.2"]
    assert names["tasks.web"] == ["10.0.1.3", "10.0.1.4"]  # running ones only
    assert names["rr"] == ["10.0.1.7"]  # dnsrr: the tasks themselves
    assert names["web.1.t3"] == ["10.0.1.9"]
    assert networks.vip_table(p) == [("10.0.1.2", ["10.0.1.3", "10.0.1.4"])]


def test_fdb_diff() -> None:
    want = {overlay.peer("10.0.1.3", "192.0.2.2"), overlay.peer("10.0.1.4", "192.0.2.3")}
    have_fdb = {("02:42:0a:00:01:03", "192.0.2.2"), ("02:42:0a:00:01:09", "192.0.2.3")}
    have_neigh = {("10.0.1.3", "02:42:0a:00:01:03"), ("10.0.1.9", "02:42:0a:00:01:09")}
    add_fdb, del_fdb, add_neigh, del_neigh = overlay.diff(have_fdb, have_neigh, want)
    assert add_fdb == {("02:42:0a:00:01:04", "192.0.2.3")}
    assert del_fdb == {("02:42:0a:00:01:09", "192.0.2.3")}
    assert add_neigh == {("10.0.1.4", "02:42:0a:00:01:04")}
    assert del_neigh == {("10.0.1.9", "02:42:0a:00:01:09")}
    # an endpoint that moved to another node: its MAC's forwarding entry is replaced
    moved = {overlay.peer("10.0.1.3", "192.0.2.7")}
    a, d, _, _ = overlay.diff({("02:42:0a:00:01:03", "192.0.2.2")}, set(), moved)
    assert a == {("02:42:0a:00:01:03", "192.0.2.7")} and d == {("02:42:0a:00:01:03", "192.0.2.2")}
    assert overlay.diff(have_fdb, have_neigh, {overlay.peer("10.0.1.3", "192.0.2.2"),
                                               overlay.peer("10.0.1.9", "192.0.2.3")}) == (
        set(), set(), set(), set())  # fmt: skip


def test_vip_ruleset_rendering() -> None:
    script = vip.render([("10.0.1.2", ["10.0.1.5", "10.0.1.3"]), ("10.0.1.6", ["10.0.1.7"]),
                         ("10.0.1.8", [])])  # fmt: skip
    assert script.startswith("table ip wharfie_vip {}\ndelete table ip wharfie_vip\n")
    assert "ip daddr 10.0.1.2 dnat to numgen inc mod 2 map { 0 : 10.0.1.3, 1 : 10.0.1.5 }" in script
    assert "ip daddr 10.0.1.6 dnat to 10.0.1.7\n" in script
    assert "ip daddr 10.0.1.8 ip protocol tcp reject with tcp reset" in script
    assert vip.render([]) == "table ip wharfie_vip {}\ndelete table ip wharfie_vip\n"


def test_ingress_ruleset_rendering() -> None:
    script = vip.render_ingress(
        "wov4096", [("tcp", 8080, 80, ["10.0.0.6", "10.0.0.5"]), ("udp", 53, 53, [])]
    )
    rule = (
        "fib daddr type local tcp dport 8080 dnat to "
        "numgen inc mod 2 map { 0 : 10.0.0.5, 1 : 10.0.0.6 }:80"
    )
    assert script.count(rule) == 2  # prerouting (arriving) and output (the node itself)
    assert 'oifname "wov4096" ct status dnat masquerade' in script
    assert "fib daddr type local udp dport 53 reject" in script
    assert vip.render_ingress("wov4096", []) == (
        "table ip wharfie_ingress {}\ndelete table ip wharfie_ingress\n"
    )


def test_the_mesh_in_every_nodes_plane() -> None:
    ingress = net(id="in" + "0" * 23, name="ingress", vni=4096, subnet="10.0.0.0/24",
                  gateway="10.0.0.1", ingress=True)  # fmt: skip
    s = service([])
    s.spec.ports = [networks_port("ingress", 8080, 80)]
    t = Task("t1", "s1", 1, "node2", "running", "assigned", 1, 0, 0,
             addresses={ingress.id: "10.0.0.5/24"})  # fmt: skip
    nodes = {"node1": ("192.0.2.1", True), "node2": ("192.0.2.2", True)}
    on_ingress = {"node1": "10.0.0.2/24", "node2": "10.0.0.3/24"}
    (p,) = networks.plane("node1", [ingress], [s], [(t, "running")], nodes, (), on_ingress)
    assert p.local_ip == "10.0.0.2/24"
    assert [(pp.published, pp.target, pp.backends) for pp in p.ports] == [(8080, 80, ("10.0.0.5",))]
    assert {e.ip for e in p.endpoints} == {"10.0.0.5", "10.0.0.2", "10.0.0.3"}
    assert networks.dns_records(p) == {}
    assert networks.task_networks(s, ingress.id) == [ingress.id]


def networks_port(mode: str, published: int, target: int) -> PublishedPort:
    return PublishedPort("tcp", target, published, mode)


def test_stale_overlay_devices_are_those_of_vnis_not_kept() -> None:
    links = ["lo", "eth0", "wov4097", "wvx4097", "wov4098", "wvx4098", "wovx", "wt1234", "wvx9"]
    assert overlay.stale(links, {4097}) == ["wvx4098", "wvx9", "wov4098"]
    assert overlay.stale(links, {4097, 4098, 9}) == []
    assert overlay.stale(["wov4096"], set()) == ["wov4096"]


def test_a_requested_vni_is_the_first_of_the_list_when_a_vxlan_header_holds_it() -> None:
    key = networks.VNI_OPTION
    assert networks.requested_vni({key: "5000"}) == 5000
    assert networks.requested_vni({key: "5000,5001"}) == 5000
    assert networks.requested_vni({key: "abc"}) is None
    assert networks.requested_vni({key: str(1 << 24)}) is None
    assert networks.requested_vni({key: "0"}) is None
    assert networks.requested_vni({"foo": "bar"}) is None
