"""IPv4 address management for one subnet (pure: the engine persists allocations).

Addresses are handed out lowest first, never the network address, the broadcast address
or the gateway. The caller passes the set already in use, so an IPAM holds no state
beyond its subnet and can be rebuilt from the metadata store at any time.
"""

from __future__ import annotations

import ipaddress

from wharfie.errors import Conflict, InvalidArgument, Unavailable

_MAX_PREFIX = 30  # a /31 or /32 leaves no address besides the gateway


class IPAM:
    def __init__(self, subnet: str, gateway: str | None = None, name: str = "bridge") -> None:
        try:
            net = ipaddress.IPv4Network(subnet, strict=False)
        except ValueError as e:
            raise InvalidArgument(f"invalid IPv4 subnet {subnet!r}: {e}") from e
        if net.prefixlen > _MAX_PREFIX:
            raise InvalidArgument(f"subnet {net} is too small: at most /{_MAX_PREFIX}")
        self.subnet = net
        self.name = name
        self._first = int(net.network_address) + 1
        self._last = int(net.broadcast_address) - 1
        self.gateway = self._gateway(gateway)

    def _gateway(self, gateway: str | None) -> str:
        if gateway is None:
            return str(ipaddress.IPv4Address(self._first))
        value = self._parse(gateway, "gateway")
        if not self._first <= value <= self._last:
            raise InvalidArgument(
                f"gateway {gateway} is not a host address of subnet {self.subnet}"
            )
        return gateway

    @property
    def prefix_len(self) -> int:
        return self.subnet.prefixlen

    @property
    def broadcast(self) -> str:
        return str(self.subnet.broadcast_address)

    def _parse(self, ip: str, what: str) -> int:
        try:
            return int(ipaddress.IPv4Address(ip))
        except ValueError as e:
            raise InvalidArgument(f"invalid IPv4 {what} {ip!r}") from e

    def contains(self, ip: str) -> bool:
        """Whether `ip` is an address a container may hold on this subnet."""
        value = self._parse(ip, "address")
        return self._first <= value <= self._last and ip != self.gateway

    def allocate(self, used: set[str], preferred: str | None = None) -> str:
        """The preferred address if given and free, else the lowest free address."""
        if preferred is not None:
            return self._take(preferred, used)
        taken = {self._parse(ip, "address in use") for ip in used}
        taken.add(self._parse(self.gateway, "gateway"))
        for value in range(self._first, self._last + 1):
            if value not in taken:
                return str(ipaddress.IPv4Address(value))
        raise Unavailable(
            "no available IPv4 addresses on this network's address pools: "
            f"{self.name} ({self.subnet})"
        )

    def _take(self, preferred: str, used: set[str]) -> str:
        if not self.contains(preferred):
            raise InvalidArgument(
                f"invalid address {preferred}: it does not belong to any of this network's "
                f"subnets ({self.subnet}) or is reserved"
            )
        ip = str(ipaddress.IPv4Address(preferred))
        if ip in used:
            raise Conflict(f"Address already in use: {ip}")
        return ip


def mac_for_ip(ip: str) -> str:
    """Docker's MAC for an IPv4 address: 02:42 followed by the four address bytes."""
    raw = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in raw)
