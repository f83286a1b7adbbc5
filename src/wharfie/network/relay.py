"""Userland relays for the published ports kernel NAT cannot serve (what docker-proxy does
for dockerd).

Published ports are kernel NAT everywhere else (see `nft`), but not:

* on IPv6 for a container with no IPv6 address: dockerd publishes `-p 8080:80` on `::`
  too, and `-p [::1]:8080:80` is accepted, with docker-proxy relaying to the container's
  IPv4 address; nftables cannot DNAT from one family to the other;
* on `::1` for a container with IPv6: IPv6 has no `route_localnet`, so a reply de-NATed
  back to `::1` that arrives on a bridge is dropped by the kernel (the ip6 table leaves
  `::1` alone, and what reaches the socket on `::` is only the loopback's traffic).

`ports.relayed()` says which bindings these are. For each, the socket that holds the port
(ports.Reservations) is read through a duplicate descriptor on the event loop: TCP listens
and relays each connection; UDP relays each client's datagrams through a socket connected
to the container and sends the replies back from the published port, forgetting a client
after `UDP_IDLE` seconds without traffic (docker-proxy's conntrack timeout: 90 s).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_DATAGRAM = 65535
UDP_IDLE = 90.0


class PortRelay:
    """Relays per owner (a container id); open() and stop() run on the event loop."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[socket.socket]] = {}
        self._udp: dict[str, list[_UdpRelay]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def open(self, owner: str, held: socket.socket, target: tuple[str, int]) -> None:
        """Relay what reaches `held` (a TCP or UDP socket bound to the published address) to
        `target` (container address, port)."""
        if held.type == socket.SOCK_DGRAM:
            relay = _UdpRelay(held, target)
            relay.start()
            self._udp.setdefault(owner, []).append(relay)
            return
        loop = asyncio.get_running_loop()
        listener = socket.socket(fileno=os.dup(held.fileno()))
        try:
            listener.setblocking(False)
            listener.listen(128)
            loop.add_reader(listener.fileno(), self._accept, listener, target)
        except BaseException:
            listener.close()
            raise
        self._listeners.setdefault(owner, []).append(listener)

    def stop(self, owner: str) -> None:
        """Stop relaying for `owner` (TCP connections already relayed end with the
        container; UDP flows end now)."""
        loop = asyncio.get_running_loop()
        for listener in self._listeners.pop(owner, []):
            loop.remove_reader(listener.fileno())
            listener.close()
        for relay in self._udp.pop(owner, []):
            relay.close()

    def owners(self) -> list[str]:
        return list(set(self._listeners) | set(self._udp))

    def _accept(self, listener: socket.socket, target: tuple[str, int]) -> None:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            log.warning("relay %s: accept: %s", target, e)
            return
        task = asyncio.get_running_loop().create_task(self._relay(conn, target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(self, conn: socket.socket, target: tuple[str, int]) -> None:
        conn.setblocking(False)
        try:
            client_r, client_w = await asyncio.open_connection(sock=conn)
        except OSError:
            conn.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection(target[0], target[1])
        except OSError as e:
            log.debug("relay to %s port %d: %s", target[0], target[1], e)
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))
        for w in (client_w, up_w):
            w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class _UdpRelay:
    """One published UDP port: a flow (a connected socket to the container) per client."""

    def __init__(self, held: socket.socket, target: tuple[str, int]) -> None:
        self.sock = socket.socket(fileno=os.dup(held.fileno()))
        self.target = target
        self.family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        self.flows: dict[tuple[object, ...], tuple[socket.socket, list[float]]] = {}
        self.loop = asyncio.get_running_loop()
        self.sweeper: asyncio.TimerHandle | None = None

    def start(self) -> None:
        try:
            self.sock.setblocking(False)
            self.loop.add_reader(self.sock.fileno(), self._from_client)
        except BaseException:
            self.sock.close()
            raise
        self.sweeper = self.loop.call_later(UDP_IDLE / 3, self._sweep)

    def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
        for client in list(self.flows):
            self._drop(client)
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _from_client(self) -> None:
        try:
            data, client = self.sock.recvfrom(_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            log.debug("udp relay %s: recv: %s", self.target, e)
            return
        flow = self.flows.get(client)
        if flow is None:
            up = socket.socket(self.family, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            try:
                up.setblocking(False)
                up.connect(self.target)
            except OSError as e:
                up.close()
                log.debug("udp relay to %s: %s", self.target, e)
                return
            flow = (up, [time.monotonic()])
            self.flows[client] = flow
            self.loop.add_reader(up.fileno(), self._from_container, client, up)
        up, seen = flow
        seen[0] = time.monotonic()
        try:
            up.send(data)
        except OSError as e:  # the container is not listening (ECONNREFUSED from an ICMP)
            log.debug("udp relay to %s: %s", self.target, e)

    def _from_container(self, client: tuple[object, ...], up: socket.socket) -> None:
        try:
            data = up.recv(_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # an ICMP error for an earlier datagram: the next one may get through
        flow = self.flows.get(client)
        if flow is not None:
            flow[1][0] = time.monotonic()
        try:
            self.sock.sendto(data, client)
        except OSError as e:
            log.debug("udp relay back to %s: %s", client, e)

    def _drop(self, client: tuple[object, ...]) -> None:
        flow = self.flows.pop(client, None)
        if flow is not None:
            self.loop.remove_reader(flow[0].fileno())
            flow[0].close()

    def _sweep(self) -> None:
        now = time.monotonic()
        for client, (_, seen) in list(self.flows.items()):
            if now - seen[0] > UDP_IDLE:
                self._drop(client)
        self.sweeper = self.loop.call_later(UDP_IDLE / 3, self._sweep)
