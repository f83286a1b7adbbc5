"""IPv4 address management for one subnet (pure: the engine persists allocations).

Addresses are handed out lowest first, never the network address, the broadcast address
or the gateway. The caller passes the set already in use, so an IPAM holds no state
beyond its subnet and can be rebuilt from the metadata store at any time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from wharfie.errors import Conflict, InvalidArgument, Unavailable

_MAX_PREFIX = 30  # a /31 or /32 leaves no address besides the gateway


class IPAM:
    def __init__(
        self,
        subnet: str,
        gateway: str | None = None,
        name: str = "bridge",
        ip_range: str | None = None,
    ) -> None:
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
        self._pool = (self._first, self._last)
        if ip_range:
            self._pool = self._range(ip_range)

    def _range(self, ip_range: str) -> tuple[int, int]:
        try:
            r = ipaddress.IPv4Network(ip_range, strict=False)
        except ValueError as e:
            raise InvalidArgument(f"invalid ip-range {ip_range!r}: {e}") from e
        if not r.subnet_of(self.subnet):
            raise InvalidArgument(f"ip-range {r} is not within subnet {self.subnet}")
        return max(self._first, int(r.network_address)), min(self._last, int(r.broadcast_address))

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
        for value in range(self._pool[0], self._pool[1] + 1):
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


class IPAM6:
    """IPv6 addresses of one subnet, as Docker hands them out: the gateway is the first
    host address (`::1`) unless given, containers get the lowest free one after it."""

    def __init__(self, subnet: str, gateway: str | None = None, name: str = "bridge") -> None:
        try:
            net = ipaddress.IPv6Network(subnet, strict=False)
        except ValueError as e:
            raise InvalidArgument(f"invalid IPv6 subnet {subnet!r}: {e}") from e
        if net.prefixlen > 126:
            raise InvalidArgument(f"subnet {net} is too small: at most /126")
        self.subnet = net
        self.name = name
        self._first = int(net.network_address) + 1
        self._last = int(net.broadcast_address)
        if gateway is None:
            self.gateway = str(ipaddress.IPv6Address(self._first))
        else:
            if not self._first <= self._parse(gateway, "gateway") <= self._last:
                raise InvalidArgument(f"no matching subnet for gateway {gateway}")
            self.gateway = str(ipaddress.IPv6Address(gateway))

    @property
    def prefix_len(self) -> int:
        return self.subnet.prefixlen

    def _parse(self, ip: str, what: str) -> int:
        try:
            return int(ipaddress.IPv6Address(ip))
        except ValueError as e:
            raise InvalidArgument(f"invalid IPv6 {what} {ip!r}") from e

    def contains(self, ip: str) -> bool:
        value = self._parse(ip, "address")
        return self._first <= value <= self._last and value != self._parse(self.gateway, "")

    def allocate(self, used: set[str], preferred: str | None = None) -> str:
        """The preferred address if free (Docker's errors otherwise), else the lowest free."""
        if preferred is not None:
            if not self.contains(preferred):
                raise InvalidArgument(
                    f"Invalid address {preferred}: It does not belong to any of this "
                    "network's subnets"
                )
            ip = str(ipaddress.IPv6Address(preferred))
            if ip in {str(ipaddress.IPv6Address(u)) for u in used}:
                raise Conflict("Address already in use")
            return ip
        taken = {self._parse(ip, "address in use") for ip in used}
        taken.add(self._parse(self.gateway, "gateway"))
        value = self._first
        while value in taken:
            value += 1
        if value > self._last:
            raise Unavailable(
                "no available IPv6 addresses on this network's address pools: "
                f"{self.name} ({self.subnet})"
            )
        return str(ipaddress.IPv6Address(value))

    def from_mac(self, mac: str) -> str:
        """dockerd's address on the default bridge's `--fixed-cidr-v6` (at least 48 host
        bits): the subnet with the MAC as the host part."""
        if self.subnet.prefixlen > 80:
            raise Forbidden(
                f"Cannot self generate an IPv6 address on network {self.name}: At least 48 "
                "host bits are needed."
            )
        host = int(mac.replace(":", ""), 16)
        return str(ipaddress.IPv6Address(int(self.subnet.network_address) | host))


def mac_for_ip(ip: str) -> str:
    """Docker's MAC for an IPv4 address: 02:42 followed by the four address bytes."""
    raw = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in raw)


class Forbidden(Conflict):
    """A request Docker answers with 403 Forbidden (the API maps it)."""


class PoolOverlap(Forbidden):
    """A subnet overlaps another network's."""


def _default_pools() -> list[ipaddress.IPv4Network]:
    """Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""
    pools = [ipaddress.IPv4Network(f"172.{n}.0.0/16") for n in range(17, 32)]
    pools += list(ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20))
    return pools


def split_pools(pools: list[tuple[str, int]]) -> Iterator[ipaddress.IPv4Network]:
    """The daemon's `default-address-pools` ({base, size}) as the subnets they yield, in
    order (as dockerd: each base cut into /size pieces), lazily."""
    for base, size in pools:
        yield from ipaddress.IPv4Network(base, strict=False).subnets(new_prefix=size)


def check_overlap(subnet: str, taken: list[str]) -> None:
    """PoolOverlap if `subnet` overlaps any of `taken` (other networks' subnets)."""
    net = ipaddress.IPv4Network(subnet, strict=False)
    for other in taken:
        if net.overlaps(ipaddress.IPv4Network(other, strict=False)):
            raise PoolOverlap("Pool overlaps with other one on this address space")


def pick_subnet(
    taken: list[str], host_routes: list[str], pools: list[tuple[str, int]] | None = None
) -> str:
    """The first pool (the daemon's `default-address-pools`, else Docker's) overlapping
    neither another network nor a host route."""
    busy = [ipaddress.IPv4Network(s, strict=False) for s in [*taken, *host_routes]]
    for pool in split_pools(pools) if pools else _default_pools():
        if not any(pool.overlaps(b) for b in busy):
            return str(pool)
    raise Unavailable("all predefined address pools have been fully subnetted")


def host_routes(text: str) -> list[str]:
    """Destinations of /proc/net/route (little-endian hex), the default route left out."""
    out = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        dest = ipaddress.IPv4Address(int(cols[1], 16).to_bytes(4, "little"))
        mask = ipaddress.IPv4Address(int(cols[7], 16).to_bytes(4, "little"))
        if int(mask) == 0:
            continue
        out.append(str(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)))
    return out
