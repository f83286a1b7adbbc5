"""The host half of the guest's DNS relay (the agent is the other half, agent.c).

On user-defined networks a container's resolv.conf names the engine's embedded DNS at
127.0.0.11, a loopback address of the container's network namespace on the host: the guest,
with its own network stack, cannot reach it. The agent answers at 127.0.0.11:53 (UDP) in
the guest and sends each query over the agent channel; the shim, which lives in the
container's namespace, asks 127.0.0.11:53 there — so the engine's resolver sees the query
as this container's and answers with the names of its networks — and sends the answer back.
A query nobody answers within `TIMEOUT` is dropped (the guest's resolver retries).
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable

ADDRESS = ("127.0.0.11", 53)
TIMEOUT = 5.0


class Relay:
    def __init__(
        self,
        sel: selectors.BaseSelector,
        answer: Callable[[int, bytes], None],
        address: tuple[str, int] = ADDRESS,
    ) -> None:
        self.sel = sel
        self.address = address
        self.answer = answer  # (tag, reply) back to the agent
        self.pending: dict[socket.socket, float] = {}

    def query(self, tag: int, data: bytes) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        s.setblocking(False)
        try:
            s.connect(self.address)
            s.send(data)
        except OSError:  # no resolver in this namespace (the default bridge): no answer
            s.close()
            return
        self.pending[s] = time.monotonic() + TIMEOUT
        self.sel.register(s, selectors.EVENT_READ, lambda: self._reply(tag, s))

    def _reply(self, tag: int, s: socket.socket) -> None:
        try:
            data = s.recv(65535)
        except BlockingIOError:
            return
        except OSError:  # ECONNREFUSED: nothing listens at 127.0.0.11:53 here
            data = b""
        if data:
            self.answer(tag, data)
        self._drop(s)

    def expire(self, now: float) -> None:
        for s, until in list(self.pending.items()):
            if now > until:
                self._drop(s)

    def _drop(self, s: socket.socket) -> None:
        self.pending.pop(s, None)
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
