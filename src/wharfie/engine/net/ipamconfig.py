"""A new network's IPAM configuration, checked and completed (pure, given what is taken).

`subnets(ipam, driver, ipv6, taken, routes, pools)` turns the request's `IPAM` into the
record's subnets: a free pool subnet when none is given, the user's subnet (gateway,
range and auxiliary addresses checked) otherwise, and one IPv6 subnet when asked for.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from wharfie import network
from wharfie.engine.net.records import Subnet
from wharfie.errors import InvalidArgument, NotFound, WharfieError
from wharfie.network.ipam import Forbidden, check_overlap, pick_subnet


def subnets(
    ipam: dict[str, Any],
    driver: str,
    ipv6: bool,
    taken: list[str],
    routes: list[str],
    pools: list[tuple[str, int]],
) -> list[Subnet]:
    """`taken`: every subnet other networks have; `routes`: the host's routed subnets;
    `pools`: the daemon's default address pools."""
    if (ipam.get("Driver") or "default") != "default":
        raise NotFound(f'plugin "{ipam.get("Driver")}" not found')
    configs = [dict(c) for c in ipam.get("Config") or [] if c]
    v6 = [c for c in configs if ":" in str(c.get("Subnet") or "")]
    v4 = _v4([c for c in configs if c not in v6], driver, taken, routes, pools)
    if len(v6) > 1:
        raise Forbidden("bridge driver doesn't support multiple subnets")
    if not v6:
        if ipv6:
            raise NotFound(
                "could not find an available, non-overlapping IPv6 address pool among "
                "the defaults to assign to the network"
            )
        return v4
    return [*v4, _v6(v6[0], taken)]


def _v6(cfg: dict[str, Any], taken: list[str]) -> Subnet:
    try:
        net = ipaddress.IPv6Network(str(cfg["Subnet"]), strict=False)
    except ValueError as e:
        raise InvalidArgument(f"Invalid subnet {cfg['Subnet']} : {e}") from e
    for other in taken:
        if ":" in other and net.overlaps(ipaddress.IPv6Network(other, strict=False)):
            raise Forbidden("Pool overlaps with other one on this address space")
    gateway = ""
    if cfg.get("Gateway"):
        gateway = str(cfg["Gateway"])
        try:
            inside = ipaddress.IPv6Address(gateway) in net
        except ValueError as e:
            raise InvalidArgument(f"invalid gateway {gateway}") from e
        if not inside:
            raise WharfieError(
                f"failed to allocate gateway ({gateway}): Requested address is out of range"
            )
    network.ipam.IPAM6(str(net), gateway or None)
    return Subnet(str(net), gateway)


def _v4(
    configs: list[dict[str, Any]],
    driver: str,
    taken_all: list[str],
    routes: list[str],
    pools: list[tuple[str, int]],
) -> list[Subnet]:
    taken = [t for t in taken_all if ":" not in t]
    if not configs:
        subnet = pick_subnet(taken, routes, pools)
        net = ipaddress.IPv4Network(subnet)
        return [Subnet(subnet, str(net.network_address + 1))]
    if len(configs) > 1:
        raise InvalidArgument("only one IPv4 subnet per network is supported")
    cfg = configs[0]
    if not cfg.get("Subnet"):
        raise InvalidArgument("IPAM config needs a Subnet")
    try:
        net = ipaddress.IPv4Network(str(cfg["Subnet"]), strict=False)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {cfg['Subnet']}: {e}") from e
    if driver == "bridge":
        check_overlap(str(net), taken)
    network.IPAM(str(net), cfg.get("Gateway") or None, "", cfg.get("IPRange") or None)
    aux = {str(k): str(v) for k, v in (cfg.get("AuxiliaryAddresses") or {}).items()}
    for host, ip in aux.items():
        try:
            inside = ipaddress.IPv4Address(ip) in net
        except ValueError as e:
            raise InvalidArgument(f"invalid auxiliary address {host}={ip}") from e
        if not inside:
            raise InvalidArgument(f"auxiliary address {host}={ip} is not in subnet {net}")
    return [
        Subnet(
            str(net),
            str(cfg.get("Gateway") or net.network_address + 1),
            str(cfg["IPRange"]) if cfg.get("IPRange") else "",
            aux,
        )
    ]
