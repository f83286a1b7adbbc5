"""Cluster networks' pure parts: the choice of VNI, subnet and address, the in-use check and
the documents (shapes captured from Docker 20.10's swarm)."""

from __future__ import annotations

import pytest

from wharfie.cluster import networks
from wharfie.cluster.networks import ClusterNetwork, PoolOverlap
from wharfie.cluster.services import Service, ServiceSpec, Task
from wharfie.errors import InvalidArgument, NotFound


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
