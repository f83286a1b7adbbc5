"""Network drivers as the engine uses them, and the driver object made from a record.

A bridge or macvlan network has a driver object (`wharfie.network`) made from its record;
the default bridge's is made from the daemon's configuration (`engine.core`).
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

from wharfie import network
from wharfie.engine.net.records import Network
from wharfie.errors import InvalidArgument
from wharfie.network.ipam import host_routes

# User-defined bridges default to a jumbo MTU: container-to-container TCP then runs at
# ~0.9x loopback instead of ~0.65x at 1500 (bench/network.py). Traffic leaving the host is
# unaffected: TCP takes the smaller MSS of both ends, and the host (the first hop) answers
# oversized DF packets with ICMP "fragmentation needed". `-o
# com.docker.network.driver.mtu=1500` gives Docker's default back.
USER_BRIDGE_MTU = 65520
DRIVERS = ("bridge", "macvlan", "host", "null")


class Driver(Protocol):
    """What a network driver does for the engine (bridge, macvlan; overlay later).

    `ensure()` makes the host side (idempotent: start-up and create), `attach()` gives
    a container namespace an interface and address, `detach()` takes it away, `remove()`
    deletes the host side when the network goes, `close()` frees sockets."""

    network_id: str
    ipam: network.IPAM

    def attach(
        self, container_id: str, netns_path: str, ip: str, ifname: str, default_route: bool
    ) -> network.Endpoint: ...

    def detach(self, endpoint: network.Endpoint) -> None: ...

    def remove(self) -> None: ...

    def close(self) -> None: ...


def bridge_name(nid: str) -> str:
    return "br-" + nid[:12]


def endpoint_id(network_id: str, container_id: str) -> str:
    """The EndpointID the API shows for a container on a network (stable, derived)."""
    return hashlib.sha256(f"{network_id}/{container_id}".encode()).hexdigest()


def ensure(drv: Driver) -> None:
    """Make the driver's host side, if it has one (a bridge)."""
    make = getattr(drv, "ensure", None)
    if make is not None:
        make()


def make(net: Network, masquerade: bool) -> Driver:
    """The driver object of a user-defined bridge or macvlan network."""
    cfg = net.v4
    opts = net.options
    if net.driver == "macvlan":
        mode = opts.get("macvlan_mode", "bridge")
        if mode != "bridge":
            raise InvalidArgument(f"macvlan mode {mode!r} is not supported (only bridge)")
        return network.Macvlan(
            opts.get("parent", ""), cfg.subnet, net.id, cfg.gateway or None, net.name, net.internal
        )
    v6 = net.v6
    masq = (
        masquerade
        and not net.internal
        and opts.get("com.docker.network.bridge.enable_ip_masquerade", "true") != "false"
    )
    return network.Bridge(
        bridge_name(net.id),
        cfg.subnet,
        net.id,
        cfg.gateway or None,
        net.name,
        user_defined=True,
        ip_range=cfg.ip_range or None,
        masquerade=masq,
        mtu=mtu_option(opts) or USER_BRIDGE_MTU,
        subnet6=v6.subnet if v6 else None,
        gateway6=(v6.gateway or None) if v6 else None,
    )


def mtu_option(opts: dict[str, str]) -> int:
    text = opts.get("com.docker.network.driver.mtu", "") or "0"
    try:
        mtu = int(text)
    except ValueError as e:
        raise InvalidArgument(f"invalid MTU {text!r}") from e
    if mtu and not 68 <= mtu <= 65535:
        raise InvalidArgument(f"invalid MTU {mtu}: between 68 and 65535")
    return mtu


def host_route_list() -> list[str]:
    try:
        with open("/proc/net/route") as f:
            return host_routes(f.read())
    except OSError:
        return []


def upstreams() -> list[tuple[str, int]]:
    """The host's resolvers, or WHARFIE_DNS_UPSTREAMS ("ip[:port],...", empty: none)."""
    override = os.environ.get("WHARFIE_DNS_UPSTREAMS")
    if override is not None:
        out = []
        for item in override.split(","):
            host, _, port = item.strip().partition(":")
            if host:
                out.append((host, int(port or 53)))
        return out
    try:
        with open("/etc/resolv.conf") as f:
            return network.dns.upstreams_of(f.read())
    except OSError:
        return []
