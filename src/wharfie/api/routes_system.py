"""Routes of the system: ping, version, info, events, disk usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol

from wharfie.api.backends import SystemBackend
from wharfie.api.decoding import arg, timestamp_ns
from wharfie.api.http import Reply, Request, Response, Router, Stream, json_response
from wharfie.engine import filters
from wharfie.errors import InvalidArgument
from wharfie.oci import jsonio

PING_HEADERS = {
    "Builder-Version": "1",
    "Swarm": "inactive",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


class SwarmStatus(Protocol):
    """What `/_ping` and `/info` show of the node's swarm membership."""

    def ping_header(self) -> str: ...
    async def info(self) -> dict[str, Any]: ...


class SystemRoutes:
    def __init__(self, backend: SystemBackend, swarm: SwarmStatus) -> None:
        self.b = backend
        self.swarm = swarm

    def register(self, r: Router) -> None:
        r.add("GET", "/_ping", self.ping)
        r.add("HEAD", "/_ping", self.ping_head)
        r.add("GET", "/version", self.version)
        r.add("GET", "/info", self.info)
        r.add("GET", "/events", self.events)
        r.add("GET", "/system/df", self.df)

    async def ping(self, req: Request) -> Reply:
        headers = {**PING_HEADERS, "Swarm": self.swarm.ping_header()}
        return Response(200, b"OK", "text/plain; charset=utf-8", headers)

    async def ping_head(self, req: Request) -> Reply:
        headers = {**PING_HEADERS, "Swarm": self.swarm.ping_header(), "Content-Length": "0"}
        return Response(200, b"", "text/plain; charset=utf-8", headers)

    async def version(self, req: Request) -> Reply:
        return json_response(self.b.version())

    async def info(self, req: Request) -> Reply:
        doc = await asyncio.to_thread(self.b.info)
        doc["Swarm"] = await self.swarm.info()
        return json_response(doc)

    async def df(self, req: Request) -> Reply:
        return json_response(await asyncio.to_thread(self.b.df))

    async def events(self, req: Request) -> Reply:
        f = filters.parse(arg(req, "filters"))
        since = timestamp_ns(arg(req, "since"))
        until = timestamp_ns(arg(req, "until"))
        if since is not None and until is not None and since > until:
            raise InvalidArgument(
                f"`since` time ({arg(req, 'since')}) cannot be after `until` time "
                f"({arg(req, 'until')})"
            )
        return Stream(_lines(self.b.events(f, since, until)))


async def _lines(events: AsyncIterator[dict[str, object]]) -> AsyncIterator[bytes]:
    async for event in events:
        yield jsonio.dumps(event).encode() + b"\n"
