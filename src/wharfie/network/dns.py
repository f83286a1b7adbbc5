"""The embedded DNS server of user-defined networks, served by the daemon at 127.0.0.11.

Docker runs its resolver inside the daemon with sockets created in each container's
namespace; so does this one. For each container on a user-defined network,
`Resolver.serve()` has a short-lived thread enter the container's namespace and create
a UDP socket and a listening TCP socket bound to 127.0.0.11:53 there (a socket stays in
the namespace it was made in), then serves both from the daemon's event loop. No NAT is
needed: 127.0.0.11 is a loopback address of the container's own `lo`. The sockets die
with the namespace or the daemon; a daemon that starts again serves the running
containers anew (the engine calls `serve()` from its recovery).

Answers (`answer()`, pure): an A query for a name the engine's `lookup(asker, name)`
knows (container names, aliases and short IDs on the networks the asking container
shares) gets its IPv4 addresses, an AAAA query its IPv6 ones (an empty NOERROR when it
has none, as Docker); a PTR query for the address of such a container gets its names (`reverse`);
anything else is forwarded to the container's own `--dns` servers if it has some, else
to the host's resolvers (`upstreams`), and answered SERVFAIL if none answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

from wharfie import syscalls
from wharfie.errors import Unavailable
from wharfie.network._netns import in_thread, open_netns

log = logging.getLogger("wharfie.network.dns")

ADDRESS = "127.0.0.11"
PORT = 53
TTL = 600
FORWARD_TIMEOUT = 2.0

Lookup = Callable[[str, str], list[str] | None]  # (asker id, name) -> IPs, None: unknown
Reverse = Callable[[str, str], list[str] | None]  # (asker id, IPv4) -> names, None: unknown
ARPA = ".in-addr.arpa"
ARPA6 = ".ip6.arpa"


def answer(
    query: bytes, asker: str, lookup: Lookup, reverse: Reverse | None = None
) -> bytes | None:
    """The reply to a query from `asker`, or None if it must be forwarded."""
    import dnslib

    try:
        req = dnslib.DNSRecord.parse(query)
    except dnslib.DNSError:
        return None
    if not req.questions:
        return None
    q = req.questions[0]
    name = str(q.qname).rstrip(".").lower()
    if q.qtype == dnslib.QTYPE.PTR and reverse is not None and name.endswith((ARPA, ARPA6)):
        return _ptr(req, asker, name, reverse)
    if q.qtype not in (dnslib.QTYPE.A, dnslib.QTYPE.AAAA, dnslib.QTYPE.ANY):
        return None
    ips = lookup(asker, name)
    if ips is None:
        return None
    reply = req.reply(ra=1, aa=0)  # as Docker's: nslookup says non-authoritative
    v6 = [ip for ip in ips if ":" in ip]
    if q.qtype in (dnslib.QTYPE.A, dnslib.QTYPE.ANY):
        for ip in ips:
            if ":" not in ip:
                reply.add_answer(dnslib.RR(q.qname, dnslib.QTYPE.A, rdata=dnslib.A(ip), ttl=TTL))
    if q.qtype in (dnslib.QTYPE.AAAA, dnslib.QTYPE.ANY):
        for ip in v6:
            reply.add_answer(dnslib.RR(q.qname, dnslib.QTYPE.AAAA, rdata=dnslib.AAAA(ip), ttl=TTL))
    return bytes(reply.pack())


def _ptr(req: Any, asker: str, name: str, reverse: Reverse) -> bytes | None:
    import dnslib

    ip = _arpa_address(name)
    names = reverse(asker, ip) if ip else None
    if not names:
        return None
    reply = req.reply(ra=1, aa=0)  # as Docker's: nslookup says non-authoritative
    for n in names:
        reply.add_answer(
            dnslib.RR(req.q.qname, dnslib.QTYPE.PTR, rdata=dnslib.PTR(n + "."), ttl=TTL)
        )
    return bytes(reply.pack())


def _arpa_address(name: str) -> str:
    """The address a reverse name stands for ("" if it is not one)."""
    import ipaddress

    if name.endswith(ARPA6):
        nibbles = name[: -len(ARPA6)].split(".")
        if len(nibbles) != 32 or any(len(n) != 1 for n in nibbles):
            return ""
        try:
            return str(ipaddress.IPv6Address(int("".join(reversed(nibbles)), 16)))
        except ValueError:
            return ""
    ip = ".".join(reversed(name[: -len(ARPA)].split(".")))
    return ip if ip.count(".") == 3 else ""


def servfail(query: bytes) -> bytes | None:
    import dnslib

    try:
        req = dnslib.DNSRecord.parse(query)
    except dnslib.DNSError:
        return None
    reply = req.reply(ra=1, aa=0)
    reply.header.rcode = dnslib.RCODE.SERVFAIL
    return bytes(reply.pack())


def upstreams_of(resolv_conf: str) -> list[tuple[str, int]]:
    """The IPv4 nameservers of a resolv.conf text."""
    out = []
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
            out.append((parts[1], PORT))
    return out


async def forward(
    query: bytes, upstreams: list[tuple[str, int]], tcp: bool = False
) -> bytes | None:
    """Ask each upstream in turn (over TCP if `tcp`, else UDP); the first reply, or None."""
    if tcp:
        for addr in upstreams:
            reply = await _forward_tcp(query, addr)
            if reply is not None:
                return reply
        return None
    loop = asyncio.get_running_loop()
    for addr in upstreams:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, addr)
            await loop.sock_sendall(sock, query)
            reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), FORWARD_TIMEOUT)
            if reply[:2] == query[:2]:
                return reply
        except (OSError, TimeoutError) as e:
            log.debug("dns upstream %s:%d: %s", addr[0], addr[1], e)
        finally:
            sock.close()
    return None


async def _forward_tcp(query: bytes, addr: tuple[str, int]) -> bytes | None:
    """One query over TCP (a client that got a truncated answer asks again this way)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*addr), FORWARD_TIMEOUT)
    except (OSError, TimeoutError) as e:
        log.debug("dns upstream %s:%d (tcp): %s", addr[0], addr[1], e)
        return None
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        head = await asyncio.wait_for(reader.readexactly(2), FORWARD_TIMEOUT)
        reply = await asyncio.wait_for(
            reader.readexactly(struct.unpack("!H", head)[0]), FORWARD_TIMEOUT
        )
        return reply if reply[:2] == query[:2] else None
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
        log.debug("dns upstream %s:%d (tcp): %s", addr[0], addr[1], e)
        return None
    finally:
        writer.close()


def _sockets_in(netns_path: str) -> tuple[socket.socket, socket.socket]:
    fd = open_netns(netns_path)

    def make() -> tuple[socket.socket, socket.socket]:
        syscalls.setns(fd, syscalls.CLONE_NEWNET)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind((ADDRESS, PORT))
            tcp.bind((ADDRESS, PORT))
            tcp.listen(64)
        except BaseException:
            udp.close()
            tcp.close()
            raise
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp

    try:
        return in_thread(make)
    except OSError as e:
        raise Unavailable(f"embedded DNS in {netns_path}: {e}") from e
    finally:
        os.close(fd)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver, asker: str) -> None:
        self.r = resolver
        self.asker = asker
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.r.spawn(self._reply(data, addr))

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.r.resolve(data, self.asker)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class Resolver:
    """Per-container DNS servers inside container namespaces, run on the event loop."""

    def __init__(
        self,
        lookup: Lookup,
        upstreams: list[tuple[str, int]],
        reverse: Reverse | None = None,
        upstreams_for: Callable[[str], list[tuple[str, int]] | None] | None = None,
    ) -> None:
        """`upstreams_for(asker)`: a container's own servers (its `--dns`), if it has any."""
        self.lookup = lookup
        self.reverse = reverse
        self.upstreams = upstreams
        self.upstreams_for = upstreams_for
        self._served: dict[str, tuple[asyncio.BaseTransport, asyncio.Server]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._opening: set[str] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resolve(self, query: bytes, asker: str, tcp: bool = False) -> bytes | None:
        reply = answer(query, asker, self.lookup, self.reverse)
        if reply is not None:
            return reply
        own = self.upstreams_for(asker) if self.upstreams_for is not None else None
        reply = await forward(query, own or self.upstreams, tcp)
        return reply if reply is not None else servfail(query)

    def open(self, container_id: str, netns_path: str) -> None:
        """Bind 127.0.0.11:53 inside the namespace now (queries wait in the sockets'
        buffers), and serve them from the running event loop as soon as it gets to it."""
        if container_id in self._served or container_id in self._opening:
            return
        udp, tcp = _sockets_in(netns_path)
        self._opening.add(container_id)
        self.spawn(self._register(container_id, udp, tcp))

    async def serve(self, container_id: str, netns_path: str) -> None:
        """Answer at 127.0.0.11:53 inside the namespace; nothing to do if already served."""
        if container_id in self._served or container_id in self._opening:
            return
        udp, tcp = await asyncio.to_thread(_sockets_in, netns_path)
        self._opening.add(container_id)
        await self._register(container_id, udp, tcp)

    async def _register(self, container_id: str, udp: socket.socket, tcp: socket.socket) -> None:
        if container_id not in self._opening:  # stopped meanwhile
            udp.close()
            tcp.close()
            return
        self._opening.discard(container_id)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self, container_id), sock=udp
        )
        server = await asyncio.start_server(lambda r, w: self._tcp(r, w, container_id), sock=tcp)
        self._served[container_id] = (transport, server)

    async def _tcp(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, asker: str
    ) -> None:
        try:
            while True:
                head = await reader.readexactly(2)
                query = await reader.readexactly(struct.unpack("!H", head)[0])
                reply = await self.resolve(query, asker, tcp=True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stop(self, container_id: str) -> None:
        self._opening.discard(container_id)
        served = self._served.pop(container_id, None)
        if served is not None:
            transport, server = served
            transport.close()
            server.close()

    def serving(self) -> list[str]:
        return list(self._served)
