"""engine/net/setup.py's NetSetup and engine/links.py's Links, built on their own: what
create checks and records, the settings a stopped container is left with, and the refusals
of connect and disconnect (nothing here makes a namespace: no root)."""

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
from wharfie.engine.links import Links
from wharfie.engine.net import EtcFiles, NetConfig, NetSetup, Networks
from wharfie.engine.paths import Paths
from wharfie.errors import InvalidArgument, NotFound, WharfieError
from wharfie.network.ipam import Forbidden


def make(index: ContainerIndex, tmp: str = "/nonexistent") -> tuple[NetSetup, Events, Links]:
    events = Events()
    paths = Paths(tmp + "/data", tmp + "/exec")
    bridge = network.Bridge("wh-test0", "172.31.0.0/16", BRIDGE_ID)
    nets = Networks(NetworkTable([user_doc()]), index, events, bridge, NetConfig(), paths)
    links = Links(index, BRIDGE_ID)
    etc = EtcFiles(paths, links, bridge.gateway, [])
    return NetSetup(nets, index, events, etc, links, paths), events, links


def new_doc(cid: str, mode: str, links: list[str] | None = None) -> dict[str, Any]:
    return {
        "Id": cid,
        "Name": "/new",
        "HostConfig": {"NetworkMode": mode, "Links": links},
        "NetworkSettings": {"Networks": {}},
    }


def test_create_refuses_what_can_never_start() -> None:
    setup, _, _ = make(index_of())
    with pytest.raises(InvalidArgument, match="port publishing and the container"):
        setup.check_create({"NetworkMode": "container:x", "PublishAllPorts": True}, {})
    with pytest.raises(InvalidArgument, match="invalid container format"):
        setup.check_create({"NetworkMode": "container:"}, {})
    with pytest.raises(InvalidArgument, match="connected to host network and bridge"):
        setup.check_create({"NetworkMode": "bridge"}, {"EndpointsConfig": {"host": {}}})
    with pytest.raises(InvalidArgument, match="network-scoped alias"):
        setup.check_create({}, {"EndpointsConfig": {"bridge": {"Aliases": ["a"]}}})
    with pytest.raises(InvalidArgument, match="user defined networks only"):
        setup.check_create(
            {}, {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "172.31.0.9"}}}}
        )
    with pytest.raises(WharfieError):  # outside the network's subnet
        setup.check_create(
            {"NetworkMode": "front"},
            {"EndpointsConfig": {"front": {"IPAMConfig": {"IPv4Address": "10.1.1.1"}}}},
        )
    # a network that does not exist yet is start's error, not create's
    setup.check_create({"NetworkMode": "later"}, {"EndpointsConfig": {"later": {}}})


def test_on_create_records_the_wanted_networks_with_the_short_id_alias() -> None:
    setup, _, _ = make(index_of())
    cid = "f" * 64
    doc = new_doc(cid, "front")
    setup.on_create(doc, {"EndpointsConfig": {"front": {"Aliases": ["www"]}, "later": {}}})
    nets = doc["NetworkSettings"]["Networks"]
    assert list(nets) == ["front", "later"]
    assert nets["front"]["NetworkID"] == USER_ID
    assert nets["front"]["Aliases"] == ["www", cid[:12]]
    assert nets["later"]["NetworkID"] == ""
    assert doc["HostConfig"]["Links"] is None
    bridged = new_doc(cid, "bridge")
    setup.on_create(bridged, {})
    assert bridged["NetworkSettings"]["Networks"]["bridge"]["Aliases"] is None
    joined = new_doc(cid, "container:other")
    setup.on_create(joined, {})
    assert joined["NetworkSettings"]["Networks"] == {}


def test_empty_settings_name_the_builtin_network() -> None:
    setup, _, _ = make(index_of())
    assert setup.empty_settings("bridge")["Networks"]["bridge"]["NetworkID"] == BRIDGE_ID
    assert setup.empty_settings("")["Networks"] == {}


def test_used_ips_are_the_containers_and_the_auxiliary_addresses() -> None:
    c = container("c1" * 32, "web", endpoints={USER_ID: endpoint(USER_ID, "c1" * 32, "10.77.0.2")})
    setup, _, _ = make(index_of(c))
    assert setup.used_ips(USER_ID) == {"10.77.0.2", "10.77.0.9"}
    assert setup.used_ips(BRIDGE_ID) == set()


def test_connect_and_disconnect_refusals() -> None:
    host = container("c1" * 32, "h", network_mode="host")
    none = container("c2" * 32, "n", network_mode="none")
    on = container("c3" * 32, "on", networks={"front": {"NetworkID": USER_ID}})
    setup, events, _ = make(index_of(host, none, on))
    front = setup.networks.find("front")
    with pytest.raises(InvalidArgument, match="sharing network namespace"):
        asyncio.run(setup.connect(host, front, {}))
    with pytest.raises(InvalidArgument, match="private \\(none\\) mode"):
        asyncio.run(setup.connect(none, front, {}))
    with pytest.raises(Forbidden, match="endpoint with name on already exists"):
        asyncio.run(setup.connect(on, front, {}))
    with pytest.raises(InvalidArgument, match="connected to host network"):
        asyncio.run(setup.connect(on, setup.networks.find("host"), {}))
    with pytest.raises(WharfieError, match="is not connected to network bridge"):
        asyncio.run(setup.disconnect(on, setup.networks.find("bridge"), False))
    asyncio.run(setup.disconnect(on, setup.networks.find("bridge"), True))  # forced: quiet
    assert events.seen == []


def test_a_stopped_container_connects_by_recording_the_wish() -> None:
    c = container("c1" * 32, "web", networks={"bridge": {"NetworkID": BRIDGE_ID}})
    setup, _, _ = make(index_of(c))
    asyncio.run(setup.connect(c, setup.networks.find("front"), {"Aliases": ["x"]}))
    wanted = c.doc["NetworkSettings"]["Networks"]["front"]
    assert wanted["Aliases"] == ["x", c.id[:12]]
    assert wanted["IPAddress"] == ""
    asyncio.run(setup.disconnect(c, setup.networks.find("front"), False))
    assert list(c.doc["NetworkSettings"]["Networks"]) == ["bridge"]


def test_links_are_recorded_resolved_and_forgotten() -> None:
    db = container(
        "d" * 64,
        "db",
        running=True,
        config={"Env": ["PASS=x", "PATH=/bin"], "ExposedPorts": {"5432/tcp": {}}},
        endpoints={BRIDGE_ID: endpoint(BRIDGE_ID, "d" * 64, "172.31.0.5")},
    )
    index = index_of(db)
    setup, _, links = make(index)
    doc = new_doc("e" * 64, "bridge", ["db:pg"])
    doc["Config"] = {"Env": ["PG_NAME=mine"]}
    doc["State"] = {"Running": False}
    setup.on_create(doc, {})
    assert doc["HostConfig"]["Links"] == ["/db:/new/pg"]
    from wharfie.engine.model import Container

    web = Container.from_stored(
        {**doc, "Created": "2024-01-01T00:00:00Z", "Path": "sh", "Args": []}
    )
    index.add(web)
    assert links.hosts_lines(web) == "172.31.0.5\tpg d" + "d" * 11 + " db\n"
    env = links.environment(web)
    assert "PG_PORT=tcp://172.31.0.5:5432" in env
    assert "PG_ENV_PASS=x" in env and not any(e.startswith("PG_ENV_PATH") for e in env)
    assert env[-1] == "PG_NAME=mine"  # its own value wins
    with pytest.raises(InvalidArgument, match="could not get container for nope"):
        setup.on_create(new_doc("f" * 64, "bridge", ["nope"]), {})
    with pytest.raises(InvalidArgument, match="host type networking"):
        setup.on_create(new_doc("f" * 64, "host", ["db"]), {})
    db.state.running = False
    with pytest.raises(WharfieError, match="Cannot link to a non running container: /db AS"):
        links.environment(web)
    index.drop(db)
    links.forget(db.id, db.name)  # dangling, as dockerd's link index, until a restart
    assert web.doc["HostConfig"]["Links"] == ["/db:/new/pg"]
    with pytest.raises(WharfieError, match="Cannot link to a non running container: /db AS"):
        links.environment(web)
    with pytest.raises(NotFound):
        links.remove_link("/new/pg")
    links.restored()  # the daemon's start-up drops links to containers that are gone
    assert web.private["links"] == []
    assert web.doc["HostConfig"]["Links"] is None
