"""Published ports: from Docker's PortBindings to concrete host ports, and their reservation.

`plan()` is pure: it expands PortBindings (and every exposed port under `-P`) into
`Binding`s, with host port 0 meaning "pick one". `Reservations` then holds, for each
binding, a socket bound to the host address and port: it is how a port is picked (bind to
port 0), how a clash with another container or another program is found (bind fails), and
what keeps other programs off the port while it is published. A TCP socket listens at
once, with SO_REUSEADDR, as docker-proxy's (Go's) listener: connections in TIME_WAIT left
by an earlier listener on the port do not keep it from being published. The traffic
itself reaches these sockets only where nftables cannot DNAT it (`relayed()`: the daemon
relays it in userland, relay.py); the daemon relays what else would reach a TCP one too.
"""

from __future__ import annotations

import errno
import socket
import threading
from dataclasses import dataclass
from typing import Any

from wharfie.errors import InvalidArgument, WharfieError


class PortAllocated(WharfieError):
    """A host port is taken (HTTP 500, as Docker's)."""


@dataclass(frozen=True)
class Binding:
    proto: str
    container_port: int
    host_ip: str
    host_port: int  # 0: any free port

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


def _port_range(text: str, what: str) -> list[int]:
    lo, _, hi = text.partition("-")
    try:
        first = int(lo)
        last = int(hi) if hi else first
    except ValueError as e:
        raise InvalidArgument(f"invalid {what}: {text}") from e
    if not (0 < first <= last <= 65535) and not (what == "hostPort" and first == 0 == last):
        raise InvalidArgument(f"invalid {what}: {text}")
    return list(range(first, last + 1))


def _split_key(key: str) -> tuple[list[int], str]:
    port, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {proto}")
    if proto == "sctp":
        raise InvalidArgument("sctp ports are not supported")
    return _port_range(port, "containerPort"), proto


def _host_ports(text: str, count: int) -> list[int]:
    if not text:
        return [0] * count
    ports = _port_range(text, "hostPort")
    if count == 1:
        return ports[:1]  # a host range for one port: its first port
    if len(ports) != count:
        raise InvalidArgument(
            f"invalid ranges specified for container and host Ports: {text} ({count} ports)"
        )
    return ports


def plan(
    bindings: dict[str, Any] | None,
    exposed: dict[str, Any] | None,
    publish_all: bool,
    default_ip: str = "",
) -> list[Binding]:
    """The host bindings a container asks for (host_port 0: pick one); `default_ip` (the
    daemon's --ip) for those that name no host address ("": every address)."""
    out: list[Binding] = []
    seen: set[str] = set()
    for key, hosts in (bindings or {}).items():
        cports, proto = _split_key(key)
        for h in hosts or [{}]:
            host_ip = str((h or {}).get("HostIp") or default_ip)
            _check_ip(host_ip)
            hports = _host_ports(str((h or {}).get("HostPort") or ""), len(cports))
            for cport, hport in zip(cports, hports, strict=True):
                out.append(Binding(proto, cport, host_ip, hport))
                seen.add(f"{cport}/{proto}")
    if publish_all:
        for key in sorted(exposed or {}):
            cports, proto = _split_key(key)
            for cport in cports:
                if f"{cport}/{proto}" not in seen:
                    out.append(Binding(proto, cport, default_ip, 0))
    return out


def _check_ip(ip: str) -> None:
    if not ip:
        return
    import ipaddress

    try:
        addr = ipaddress.ip_address(ip)
    except ValueError as e:
        raise InvalidArgument(f"invalid IP address: {ip}") from e
    del addr  # IPv4 and IPv6 host addresses (the latter for containers with IPv6)


def ipv6_twins(bound: list[Binding]) -> list[Binding]:
    """Wildcard bindings on `::` too, with the same host ports: dockerd publishes `-p 80` on
    both 0.0.0.0 and `::`, for containers with or without an IPv6 address (docker-proxy
    relays the latter to the IPv4 address)."""
    return [Binding(b.proto, b.container_port, "::", b.host_port) for b in bound if not b.host_ip]


def host_has_ipv6() -> bool:
    """Whether this host can bind IPv6 loopback (IPv6 not disabled): the `::` twins are
    made only then, as dockerd."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def container_target(b: Binding, ip4: str, ip6: str) -> str:
    """The container address a binding goes to: its IPv6 address for an IPv6 host address
    when it has one, else its IPv4 address (relayed across families, see `relayed`)."""
    return ip6 if ":" in b.host_ip and ip6 else ip4


def relayed(host_ip: str, container_ip: str) -> bool:
    """Whether the daemon relays a binding in userland (relay.py) rather than kernel NAT:
    an IPv6 host address for an IPv4 container (no NAT across families), and `::1`
    (and the loopback part of `::`) for an IPv6 one (IPv6 has no route_localnet)."""
    if ":" not in host_ip:
        return False
    return ":" not in container_ip or host_ip in ("::", "::1")


def port_map(bound: list[Binding], exposed: dict[str, Any] | None) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed port, with its host bindings or null."""
    out: dict[str, Any] = {k if "/" in k else f"{k}/tcp": None for k in exposed or {}}
    for b in bound:
        entry = {"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)}
        current = out.get(b.key)
        out[b.key] = [*(current or []), entry]
    return out


class Reservations:
    """Bound (not listening) sockets holding published host ports; thread-safe."""

    def __init__(self) -> None:
        self._socks: dict[str, list[tuple[Binding, socket.socket]]] = {}
        self._lock = threading.Lock()

    def reserve(self, owner: str, wanted: list[Binding]) -> list[Binding]:
        """Bind every wanted port (all or none); returns them with concrete host ports."""
        held: list[tuple[Binding, socket.socket]] = []
        try:
            for b in wanted:
                held.append(self._bind(b))
        except BaseException:
            for _, s in held:
                s.close()
            raise
        with self._lock:
            self._socks.setdefault(owner, []).extend(held)
        return [b for b, _ in held]

    def _bind(self, b: Binding) -> tuple[Binding, socket.socket]:
        kind = socket.SOCK_STREAM if b.proto == "tcp" else socket.SOCK_DGRAM
        v6 = ":" in b.host_ip
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, kind | socket.SOCK_CLOEXEC)
        addr = b.host_ip or "0.0.0.0"
        try:
            if v6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if b.proto == "tcp":
                # listening at once (as docker-proxy's Go listener): TIME_WAIT connections on
                # the port do not keep it from us, and a listening socket still refuses every
                # other bind (a socket bound but not listening would not, with REUSEADDR)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, b.host_port))
            if b.proto == "tcp":
                s.listen(128)
        except OSError as e:
            s.close()
            if e.errno == errno.EADDRINUSE:
                raise PortAllocated(
                    f"Bind for {addr}:{b.host_port} failed: port is already allocated"
                ) from e
            raise PortAllocated(
                f"failed to bind host port {addr}:{b.host_port}/{b.proto}: {e.strerror}"
            ) from e
        port = s.getsockname()[1]
        return Binding(b.proto, b.container_port, b.host_ip, port), s

    def held(self, owner: str) -> list[tuple[Binding, socket.socket]]:
        """The bindings of `owner` with the sockets holding them."""
        with self._lock:
            return list(self._socks.get(owner, []))

    def release(self, owner: str) -> None:
        with self._lock:
            held = self._socks.pop(owner, [])
        for _, s in held:
            s.close()

    def owners(self) -> list[str]:
        with self._lock:
            return list(self._socks)
