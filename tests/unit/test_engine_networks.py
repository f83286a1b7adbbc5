"""engine/net: the Networks service, the network record and its document, the IPAM
config of a new network, and what the embedded DNS answers -- each built on its own with
the fakes of tests/unit/fakes_services.py (no root: no bridge is made)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fakes_services import (
    BRIDGE_ID,
    USER_ID,
    Events,
    NetworkTable,
    container,
    endpoint,
    index_of,
    user_doc,
)

from wharfie import network
from wharfie.engine.index import ContainerIndex
from wharfie.engine.net import NetConfig, Networks, ipamconfig
from wharfie.engine.net import present as show
from wharfie.engine.net.records import Subnet, from_doc
from wharfie.engine.paths import Paths
from wharfie.errors import Conflict, InvalidArgument, NotFound
from wharfie.network.ipam import Forbidden


def make(
    docs: list[dict[str, Any]] | None = None, index: ContainerIndex | None = None
) -> tuple[Networks, Events, NetworkTable]:
    table, events = NetworkTable(docs), Events()
    bridge = network.Bridge("wh-test0", "172.31.0.0/16", BRIDGE_ID)
    nets = Networks(
        table,
        index or index_of(),
        events,
        bridge,
        NetConfig(bridge_name="wh-test0", dns=["10.0.0.53"]),
        Paths("/nonexistent/data", "/nonexistent/exec"),
    )
    return nets, events, table


def test_a_stored_document_round_trips_through_the_record() -> None:
    doc = user_doc()
    assert show.document(from_doc(doc)) == doc
    six = user_doc(
        EnableIPv6=True,
        IPAM={
            "Driver": "default",
            "Options": {"foo": "bar"},
            "Config": [
                {"Subnet": "10.78.0.0/24", "Gateway": "10.78.0.1"},
                {"Subnet": "fd00:78::/64"},
            ],
        },
    )
    rec = from_doc(six)
    assert rec.v6 == Subnet("fd00:78::/64")
    assert show.document(rec) == six


def test_builtin_networks_come_from_the_configuration() -> None:
    nets, _, table = make()
    bridge = nets.find("bridge")
    assert bridge.id == BRIDGE_ID
    doc = show.document(bridge)
    assert doc["IPAM"] == {
        "Driver": "default",
        "Options": None,
        "Config": [{"Subnet": "172.31.0.0/16", "Gateway": "172.31.0.1"}],
    }
    assert doc["Created"] == "0001-01-01T00:00:00Z"
    assert doc["Options"]["com.docker.network.bridge.name"] == "wh-test0"
    assert doc["Options"]["com.docker.network.driver.mtu"] == "1500"
    host = nets.find("host")
    assert host.driver == "host"
    assert nets.find("host").id == host.id == table.settings["host_network_id"]
    assert nets.find("none").driver == "null"


def test_find_by_id_then_name_then_unique_prefix() -> None:
    other = user_doc("a2" * 32, "back")
    nets, _, _ = make([user_doc(), other])
    assert nets.find(USER_ID).name == "front"
    assert nets.find("back").id == other["Id"]
    assert nets.find("a1a1").name == "front"
    with pytest.raises(NotFound, match="ambiguous"):
        nets.find("a")
    with pytest.raises(NotFound, match="network nope not found"):
        nets.find("nope")


def test_inspect_lists_the_containers_with_endpoints() -> None:
    on = container(
        "c1" * 32,
        "web",
        running=True,
        endpoints={USER_ID: endpoint(USER_ID, "c1" * 32, "10.77.0.2")},
    )
    host = container("c2" * 32, "h", running=True, network_mode="host")
    nets, _, _ = make([user_doc()], index_of(on, host))
    out = nets.inspect("front")
    entry = out["Containers"]["c1" * 32]
    assert entry["Name"] == "web"
    assert entry["IPv4Address"] == "10.77.0.2/16"
    assert entry["IPv6Address"] == ""
    assert len(entry["EndpointID"]) == 64
    assert list(nets.inspect("host")["Containers"]) == ["c2" * 32]
    assert nets.inspect("none")["Containers"] == {}


def test_listing_filters() -> None:
    nets, _, _ = make([user_doc(), user_doc("a2" * 32, "back", Labels={})])

    def names(raw: str) -> list[str]:
        return [n["Name"] for n in nets.listing(raw)]

    assert names("") == ["bridge", "host", "none", "front", "back"]
    assert names('{"type":{"custom":true}}') == ["front", "back"]
    assert names('{"type":{"builtin":true}}') == ["bridge", "host", "none"]
    assert names('{"label":{"team=web":true}}') == ["front"]
    assert names('{"driver":{"null":true}}') == ["none"]
    assert names('{"name":{"ro":true}}') == ["front"]
    assert names('{"dangling":{"true":true}}') == ["bridge", "host", "none", "front", "back"]


def test_create_refusals_happen_before_anything_is_made() -> None:
    nets, events, table = make([user_doc()])

    def create(body: dict[str, Any]) -> Any:
        return asyncio.run(nets.create(body))

    with pytest.raises(InvalidArgument, match="name cannot be empty"):
        create({})
    with pytest.raises(Conflict, match="network with name front already exists"):
        create({"Name": "front"})
    with pytest.raises(Forbidden, match='only one instance of "host"'):
        create({"Name": "x", "Driver": "host"})
    with pytest.raises(Forbidden, match="not a swarm manager"):
        create({"Name": "x", "Driver": "overlay"})
    with pytest.raises(NotFound, match='plugin "weave" not found'):
        create({"Name": "x", "Driver": "weave"})
    with pytest.raises(InvalidArgument, match="IPv6 is not supported on macvlan"):
        create({"Name": "x", "Driver": "macvlan", "EnableIPv6": True})
    with pytest.raises(Forbidden):  # overlaps "front"
        create({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.77.0.0/16"}]}})
    assert list(table.docs) == [USER_ID]
    assert events.seen == []


def test_builtin_networks_cannot_be_removed_and_used_ones_are_kept() -> None:
    user = container(
        "c1" * 32, "web", endpoints={USER_ID: endpoint(USER_ID, "c1" * 32, "10.77.0.2")}
    )
    nets, events, table = make([user_doc()], index_of(user))
    with pytest.raises(Forbidden, match="bridge is a pre-defined network"):
        asyncio.run(nets.remove("bridge"))
    with pytest.raises(Conflict, match="has active endpoints"):
        asyncio.run(nets.remove("front"))
    assert asyncio.run(nets.prune("")) == {"NetworksDeleted": None}
    assert USER_ID in table.docs
    assert events.seen == []


def test_the_firewall_ruleset_has_every_bridge_and_published_port() -> None:
    c = container("c1" * 32, "web", running=True)
    rule = {
        "proto": "tcp",
        "host_ip": "0.0.0.0",
        "host_port": 8080,
        "container_ip": "172.31.0.2",
        "container_port": 80,
        "bridge": "wh-test0",
    }
    c.private["ports"] = [rule]
    internal = user_doc("a2" * 32, "back", Internal=True)
    internal["IPAM"]["Config"] = [{"Subnet": "10.79.0.0/24", "Gateway": "10.79.0.1"}]
    nets, _, _ = make([user_doc(), internal], index_of(c))
    rs = nets.ruleset()
    assert [(n.bridge, n.subnet, n.internal) for n in rs.networks] == [
        ("wh-test0", "172.31.0.0/16", False),
        ("br-a1a1a1a1a1a1", "10.77.0.0/24", False),
        ("br-a2a2a2a2a2a2", "10.79.0.0/24", True),
    ]
    assert [p.host_port for p in rs.ports] == [8080]
    assert rs.ipv6 is False


def test_embedded_dns_answers_names_aliases_and_addresses_on_shared_networks() -> None:
    net = {"front": {"Aliases": ["api"]}}
    web = container(
        "c1" * 32,
        "web",
        networks=net,
        endpoints={USER_ID: endpoint(USER_ID, "c1" * 32, "10.77.0.2", "fd00::2")},
    )
    db = container(
        "c2" * 32,
        "db",
        endpoints={USER_ID: endpoint(USER_ID, "c2" * 32, "10.77.0.3")},
        host_config={"Dns": ["9.9.9.9"]},
    )
    alone = container("c3" * 32, "alone", endpoints={})
    nets, _, _ = make([user_doc()], index_of(web, db, alone))
    names = nets.names
    assert names.lookup(db.id, "web") == ["10.77.0.2", "fd00::2"]
    assert names.lookup(db.id, "api.front") == ["10.77.0.2", "fd00::2"]
    assert names.lookup(web.id, "c2c2c2c2c2c2") == ["10.77.0.3"]
    assert names.lookup(web.id, "nobody") is None
    assert names.lookup(alone.id, "web") is None  # not on the network
    assert names.reverse(db.id, "10.77.0.2") == ["web.front"]
    assert names.reverse(alone.id, "10.77.0.2") is None
    assert names.own_upstreams(db.id) == [("9.9.9.9", 53)]
    assert names.own_upstreams(web.id) == [("10.0.0.53", 53)]  # the daemon's --dns


def test_ipam_config_picks_a_free_pool_and_checks_what_is_given() -> None:
    pools = [("10.200.0.0/16", 24)]
    auto = ipamconfig.subnets({}, "bridge", False, ["10.200.0.0/24"], [], pools)
    assert auto == [Subnet("10.200.1.0/24", "10.200.1.1")]
    given = ipamconfig.subnets(
        {"Config": [{"Subnet": "10.9.0.5/24", "IPRange": "10.9.0.128/25"}]},
        "bridge",
        False,
        [],
        [],
        pools,
    )
    assert given == [Subnet("10.9.0.0/24", "10.9.0.1", "10.9.0.128/25")]
    with pytest.raises(InvalidArgument, match=r"auxiliary address h=10\.10\.0\.1 is not in subnet"):
        ipamconfig.subnets(
            {"Config": [{"Subnet": "10.9.0.0/24", "AuxiliaryAddresses": {"h": "10.10.0.1"}}]},
            "bridge",
            False,
            [],
            [],
            pools,
        )
    with pytest.raises(NotFound, match="IPv6 address pool"):
        ipamconfig.subnets({}, "bridge", True, [], [], pools)
    six = ipamconfig.subnets(
        {"Config": [{"Subnet": "fd00:1::/64", "Gateway": "fd00:1::1"}]},
        "bridge",
        True,
        [],
        [],
        pools,
    )
    assert six[1] == Subnet("fd00:1::/64", "fd00:1::1")
    with pytest.raises(Forbidden, match="overlaps"):
        ipamconfig.subnets(
            {"Config": [{"Subnet": "fd00:1::/48"}]}, "bridge", True, ["fd00:1::/64"], [], pools
        )
    with pytest.raises(NotFound, match='plugin "infoblox" not found'):
        ipamconfig.subnets({"Driver": "infoblox"}, "bridge", False, [], [], pools)
