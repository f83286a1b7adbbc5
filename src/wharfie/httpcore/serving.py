"""Policies shared by the daemon's and the registry's servers, without I/O.

- `ConnectionSlots`: a cap on open connections that is fair to new clients. A
  connection waiting for (or slowly sending) a request head is *idle* and may be
  closed to make room; one inside a request is *busy* and never is. Past the cap a new
  connection takes the slot of the longest-idle one, so a flood of idle connections
  cannot lock out a client that has something to ask; only when every slot is busy is
  the newcomer refused (503), at once, and the accept loop never waits.
- `RateLimitFilter`: a logging filter that lets a burst of the same message through,
  then counts the rest and says how many were dropped, so an accept-error storm
  (EMFILE) cannot fill the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable


class Timeouts:
    """Seconds: `header` from a head's first byte to its end (slowloris), `idle`
    between requests on a keep-alive connection (and for the first request)."""

    __slots__ = ("header", "idle")

    def __init__(self, header: float = 30.0, idle: float = 300.0) -> None:
        self.header = header
        self.idle = idle


class ConnectionSlots:
    """Open connections, keyed by any hashable; `close` is how one is ended."""

    def __init__(self, cap: int, close: Callable[[Hashable], None]) -> None:
        if cap < 1:
            raise ValueError("a connection cap must be at least 1")
        self.cap = cap
        self._close = close
        self._open: set[Hashable] = set()
        self._idle: dict[Hashable, float] = {}  # since when; insertion order: longest first
        self.evicted = 0
        self.refused = 0

    def __len__(self) -> int:
        return len(self._open)

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    def admit(self, conn: Hashable) -> bool:
        """Take a slot for a new (idle) connection; False: refuse it (all slots busy)."""
        while len(self._open) >= self.cap:
            if not self._idle:
                self.refused += 1
                return False
            victim = next(iter(self._idle))
            self.release(victim)
            self.evicted += 1
            self._close(victim)
        self._open.add(conn)
        self._idle[conn] = time.monotonic()
        return True

    def busy(self, conn: Hashable) -> None:
        """A whole request head arrived: the connection is working, not evictable."""
        self._idle.pop(conn, None)

    def idle(self, conn: Hashable) -> None:
        """The request is answered; waiting for the next one (evictable again)."""
        if conn in self._open:
            self._idle.pop(conn, None)
            self._idle[conn] = time.monotonic()

    def release(self, conn: Hashable) -> None:
        self._open.discard(conn)
        self._idle.pop(conn, None)

    def expired(self, max_idle: float, now: float | None = None) -> list[Hashable]:
        """Connections idle for longer than `max_idle` seconds, longest first."""
        limit = (time.monotonic() if now is None else now) - max_idle
        out = []
        for conn, since in self._idle.items():
            if since > limit:
                break
            out.append(conn)
        return out


class RateLimitFilter(logging.Filter):
    """At most `burst` records per message template per `window` seconds."""

    def __init__(self, burst: int = 5, window: float = 10.0) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._seen: dict[tuple[str, str], list[float]] = {}  # key -> [window start, count]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        slot = self._seen.get(key)
        if slot is None or now - slot[0] >= self.window:
            dropped = int(slot[1]) - self.burst if slot is not None else 0
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[key] = [now, 1.0]
            if dropped > 0:
                record.msg = f"{record.msg} ({dropped} similar messages suppressed)"
            return True
        slot[1] += 1
        return slot[1] <= self.burst


def install_rate_limit(*names: str) -> RateLimitFilter:
    """Put one RateLimitFilter on each named logger (records logged there directly)."""
    flt = RateLimitFilter()
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RateLimitFilter) for f in logger.filters):
            logger.addFilter(flt)
    return flt
