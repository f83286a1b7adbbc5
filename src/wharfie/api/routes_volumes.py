"""Routes of /volumes: list, create, inspect, remove, prune (moby's `{name:.*}` paths)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from wharfie.api.http import Reply, Request, Response, Router, json_response

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

NAME = r"(?P<name>.+)"


class VolumeRoutes:
    def __init__(self, engine: Engine) -> None:
        self.e = engine

    def register(self, r: Router) -> None:
        r.add("GET", "/volumes", self.list)
        r.add("POST", "/volumes/create", self.create)
        r.add("POST", "/volumes/prune", self.prune)
        r.add("GET", f"/volumes/{NAME}", self.inspect)
        r.add("DELETE", f"/volumes/{NAME}", self.remove)

    async def list(self, req: Request) -> Reply:
        return json_response(await asyncio.to_thread(self.e.volumes.list_volumes, req.q("filters")))

    async def create(self, req: Request) -> Reply:
        body = await req.json()
        return json_response(self.e.volumes.create(body), 201)

    async def inspect(self, req: Request, name: str) -> Reply:
        return json_response(self.e.volumes.inspect(name))

    async def remove(self, req: Request, name: str) -> Reply:
        await self.e.volumes.remove(name, force=req.qbool("force"))
        return Response(204)

    async def prune(self, req: Request) -> Reply:
        return json_response(await self.e.volumes.prune(req.q("filters"), req.api_version))
