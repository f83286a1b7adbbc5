"""Subnets for user networks: default pools, overlaps, ip ranges, host routes."""

from __future__ import annotations

import pytest

from wharfie.errors import InvalidArgument
from wharfie.network.ipam import IPAM, PoolOverlap, check_overlap, host_routes, pick_subnet


def test_pick_subnet_skips_networks_and_host_routes() -> None:
    assert pick_subnet([], []) == "172.17.0.0/16"
    assert pick_subnet(["172.17.0.0/16"], ["172.18.5.0/24"]) == "172.19.0.0/16"
    taken = [f"172.{n}.0.0/16" for n in range(17, 32)]
    assert pick_subnet(taken, ["192.168.0.0/24"]) == "192.168.16.0/20"


def test_overlap_uses_dockers_wording() -> None:
    check_overlap("10.1.0.0/24", ["10.2.0.0/16"])
    with pytest.raises(PoolOverlap, match=r"^Pool overlaps with other one on this address space$"):
        check_overlap("10.1.0.128/25", ["10.1.0.0/24"])


def test_ip_range_limits_allocation_but_not_static_addresses() -> None:
    ipam = IPAM("10.5.0.0/24", None, "n", "10.5.0.128/25")
    assert ipam.allocate(set()) == "10.5.0.128"
    assert ipam.allocate({"10.5.0.128"}) == "10.5.0.129"
    assert ipam.allocate(set(), "10.5.0.7") == "10.5.0.7"
    with pytest.raises(InvalidArgument, match="not within subnet"):
        IPAM("10.5.0.0/24", None, "n", "10.6.0.0/25")


def test_host_routes_parse_proc_net_route() -> None:
    text = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    )
    assert host_routes(text) == ["192.168.0.0/24", "172.17.0.0/16"]
