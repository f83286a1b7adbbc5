"""IPAM and MAC derivation (pure, no root)."""

from __future__ import annotations

import pytest

from wharfie.errors import Conflict, InvalidArgument, Unavailable
from wharfie.network import IPAM, Bridge, host_veth_name, mac_for_ip


def test_gateway_defaults_to_first_host() -> None:
    ipam = IPAM("172.29.0.0/16")
    assert ipam.gateway == "172.29.0.1"
    assert (ipam.prefix_len, ipam.broadcast) == (16, "172.29.255.255")


def test_lowest_free_first_skipping_gateway() -> None:
    ipam = IPAM("10.213.0.0/24")
    assert ipam.allocate(set()) == "10.213.0.2"
    assert ipam.allocate({"10.213.0.2"}) == "10.213.0.3"
    assert ipam.allocate({"10.213.0.2", "10.213.0.4"}) == "10.213.0.3"  # a hole is reused
    assert ipam.allocate({"10.213.0.3"}) == "10.213.0.2"


def test_explicit_gateway_is_excluded_and_low_addresses_used() -> None:
    ipam = IPAM("10.213.0.0/24", gateway="10.213.0.254")
    assert ipam.gateway == "10.213.0.254"
    assert ipam.allocate(set()) == "10.213.0.1"
    used = {f"10.213.0.{i}" for i in range(1, 254)}
    with pytest.raises(Unavailable):
        ipam.allocate(used)  # .254 is the gateway, .255 the broadcast


def test_never_network_or_broadcast() -> None:
    ipam = IPAM("10.213.0.0/29")  # .0 network, .1 gateway, .2-.6 hosts, .7 broadcast
    used: set[str] = set()
    for _ in range(5):
        used.add(ipam.allocate(used))
    assert used == {f"10.213.0.{i}" for i in range(2, 7)}


def test_exhaustion_message_like_dockers() -> None:
    ipam = IPAM("10.213.0.0/30", name="bridge")
    with pytest.raises(Unavailable) as info:
        ipam.allocate({"10.213.0.2"})
    assert str(info.value) == (
        "no available IPv4 addresses on this network's address pools: bridge (10.213.0.0/30)"
    )


def test_slash_30_has_one_address() -> None:
    ipam = IPAM("10.213.0.4/30")
    assert ipam.gateway == "10.213.0.5"
    assert ipam.allocate(set()) == "10.213.0.6"
    assert not ipam.contains("10.213.0.7") and not ipam.contains("10.213.0.4")


def test_slash_30_with_gateway_on_the_last_host() -> None:
    ipam = IPAM("10.213.0.4/30", gateway="10.213.0.6")
    assert ipam.allocate(set()) == "10.213.0.5"


@pytest.mark.parametrize("subnet", ["10.213.0.0/31", "10.213.0.0/32", "fd00::/64", "nope", ""])
def test_unusable_subnets(subnet: str) -> None:
    with pytest.raises(InvalidArgument):
        IPAM(subnet)


@pytest.mark.parametrize("gateway", ["10.213.0.0", "10.213.0.255", "10.213.1.1", "x"])
def test_gateway_must_be_a_host_address(gateway: str) -> None:
    with pytest.raises(InvalidArgument):
        IPAM("10.213.0.0/24", gateway=gateway)


def test_subnet_with_host_bits_is_normalised() -> None:
    assert str(IPAM("10.213.0.9/24").subnet) == "10.213.0.0/24"


def test_preferred_address() -> None:
    ipam = IPAM("10.213.0.0/24")
    assert ipam.allocate({"10.213.0.2"}, preferred="10.213.0.77") == "10.213.0.77"
    with pytest.raises(Conflict, match="Address already in use"):
        ipam.allocate({"10.213.0.77"}, preferred="10.213.0.77")


@pytest.mark.parametrize("ip", ["10.213.0.0", "10.213.0.1", "10.213.0.255", "10.214.0.5", "bad"])
def test_preferred_address_must_be_usable(ip: str) -> None:
    with pytest.raises(InvalidArgument):
        IPAM("10.213.0.0/24").allocate(set(), preferred=ip)


def test_mac_like_dockers() -> None:
    assert mac_for_ip("172.17.0.2") == "02:42:ac:11:00:02"
    assert mac_for_ip("10.213.255.254") == "02:42:0a:d5:ff:fe"


def test_host_veth_name_fits_ifnamsiz() -> None:
    name = host_veth_name("3f2a" * 16)
    assert name == "wh3f2a3f2a3f2" and len(name) <= 15
    with pytest.raises(InvalidArgument):
        host_veth_name("")


def test_bridge_derives_its_addresses_without_touching_the_host() -> None:
    bridge = Bridge("wt0", "10.213.4.0/22")
    assert (bridge.gateway, bridge.prefix_len, bridge.subnet) == ("10.213.4.1", 22, "10.213.4.0/22")
    with pytest.raises(InvalidArgument):
        Bridge("a-name-that-is-too-long")
