"""One stats stream for every open dashboard: all running containers, sampled together.

A page showing 50 containers does not open 50 `/containers/{id}/stats` streams: one
sampler task reads every running container's cgroup once per interval, in a worker
thread, while at least one page listens, and hands the same compact line to each.
A line is JSON: `{"time": t, "stats": {id: [cpu %, mem, mem limit, net rx, net tx,
blk read, blk write]}}` (bytes are cumulative counters; the page derives rates).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from wharfie import statsmath
from wharfie.errors import WharfieError
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

log = logging.getLogger("wharfie.dashboard")


def compact(doc: dict[str, Any]) -> list[float]:
    """A Docker stats object -> the dashboard's seven numbers (pure)."""
    mem = doc.get("memory_stats") or {}
    rx, tx = statsmath.net_io(doc)
    read, write = statsmath.block_io(doc)
    usage = int(statsmath.mem_usage(doc)) if mem else 0
    cpu = round(statsmath.cpu_percent(doc), 2) if doc.get("precpu_stats") else 0.0
    return [cpu, usage, int(mem.get("limit", 0)), int(rx), int(tx), int(read), int(write)]


class StatsHub:
    def __init__(self, engine: Engine, interval: float = 2.0) -> None:
        self.engine = engine
        self.interval = interval
        self.listeners: set[asyncio.Queue[bytes]] = set()
        self.previous: dict[str, dict[str, Any]] = {}
        self.task: asyncio.Task[None] | None = None
        self.last = b""

    async def subscribe(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=2)
        self.listeners.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
        try:
            if self.last:
                yield self.last
            while True:
                yield await queue.get()
        finally:
            self.listeners.discard(queue)

    async def _run(self) -> None:
        try:
            while self.listeners:
                line = await asyncio.to_thread(self._sample_all)
                self.last = line
                for queue in list(self.listeners):
                    if queue.full():  # a slow page skips a sample rather than queueing
                        queue.get_nowait()
                    queue.put_nowait(line)
                await asyncio.sleep(self.interval)
        finally:
            self.previous.clear()
            self.last = b""

    def _sample_all(self) -> bytes:
        reader = self.engine.stats
        out: dict[str, list[float]] = {}
        seen: dict[str, dict[str, Any]] = {}
        for c in list(self.engine.containers.values()):
            if not c.running:
                continue
            try:
                now = reader.sample(c)
                doc = jsonio.loads(reader.render(c, now, self.previous.get(c.id)))
            except (OSError, WharfieError, ValueError):
                continue  # stopped between the check and the read
            seen[c.id] = now
            out[c.id] = compact(doc)
        self.previous = seen
        return jsonio.dumps({"time": time.time(), "stats": out}).encode() + b"\n"
