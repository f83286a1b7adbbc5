"""One live stream per page: the daemon's events and the stats of all running containers.

A browser keeps at most six HTTP/1.1 connections to one host; a page holding an events
stream and a stats stream open would leave three open dashboards without a connection
for their ordinary requests. So both go down one chunked response of JSON lines:
`{"t": "event", "d": <the Engine API's event>}` and `{"t": "stats", "d": <StatsHub line>}`.
The events come from the Engine API's own `GET /events` handler (same filters and
`since`), the stats from the shared StatsHub.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

BACKLOG = 32


def wrap(kind: bytes, chunk: bytes) -> bytes:
    """Each JSON line of `chunk` as `{"t": kind, "d": line}` (pure)."""
    out = []
    for line in chunk.split(b"\n"):
        line = line.strip()
        if line:
            out.append(b'{"t":"' + kind + b'","d":' + line + b"}\n")
    return b"".join(out)


async def merge(events: AsyncIterator[bytes], stats: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Lines from both, as they come; ends when either ends (the page then reconnects)."""
    # Not bounded by put(): the end marker must never block. Events are rare and kept;
    # stats samples beyond BACKLOG waiting lines are dropped.
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def pump(kind: bytes, source: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in source:
                if kind == b"stats" and queue.qsize() > BACKLOG:
                    continue  # a page that stopped reading (a frozen tab) skips samples
                queue.put_nowait(wrap(kind, chunk))
        finally:
            queue.put_nowait(None)

    tasks = [
        asyncio.create_task(pump(b"event", events)),
        asyncio.create_task(pump(b"stats", stats)),
    ]
    try:
        yield b'{"t":"hello"}\n'  # the page knows it is connected before the first event
        while True:
            item = await queue.get()
            if item is None:
                return
            yield item
    finally:
        for task in tasks:
            task.cancel()
        for source in (events, stats):
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
