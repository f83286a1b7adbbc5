"""A userland TCP relay for published ports on IPv6 loopback (`::1`).

Published ports are kernel NAT everywhere else (see `nft`), but not on `::1`: IPv6 has no
`route_localnet`, so a reply de-NATed back to `::1` that arrives on a bridge is dropped by
the kernel. For a TCP port published on `::1` or `::` the daemon makes the socket that
holds the port (ports.Reservations) listen (through a duplicate descriptor), and relays
each connection to the container's IPv6 address on the event loop; the ip6 table leaves
`::1` alone. UDP on `::1` is not relayed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024


class LoopbackRelay:
    """Listeners per owner (a container id); open() and stop() run on the event loop."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[socket.socket]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def open(self, owner: str, held: socket.socket, target: tuple[str, int]) -> None:
        """Accept on `held` (bound to ::1 or ::) and relay to `target` ([ip6], port)."""
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
        """Stop accepting for `owner` (connections already relayed end with the container)."""
        loop = asyncio.get_running_loop()
        for listener in self._listeners.pop(owner, []):
            loop.remove_reader(listener.fileno())
            listener.close()

    def owners(self) -> list[str]:
        return list(self._listeners)

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
            log.debug("relay to [%s]:%d: %s", target[0], target[1], e)
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
