"""Routes of /volumes: list, create, inspect, remove, prune (moby's `{name:.*}` paths)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from wharfie.api import schemas
from wharfie.api.decoding import arg, flag, json_body
from wharfie.api.http import Reply, Request, Response, Router, json_response
from wharfie.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from wharfie.api.backends_volumes import VolumeBackend

NAME = r"(?P<name>.+)"


class VolumeRoutes:
    def __init__(self, backend: VolumeBackend) -> None:
        self.b = backend

    def register(self, r: Router) -> None:
        r.add("GET", "/volumes", self.list)
        r.add("POST", "/volumes/create", self.create)
        r.add("POST", "/volumes/prune", self.prune)
        r.add("GET", f"/volumes/{NAME}", self.inspect)
        r.add("DELETE", f"/volumes/{NAME}", self.remove)

    async def list(self, req: Request) -> Reply:
        return json_response(await asyncio.to_thread(self.b.list_volumes, arg(req, "filters")))

    async def create(self, req: Request) -> Reply:
        body = schemas.decode(await json_body(req, empty={}), schemas.VOLUME_CREATE)
        try:
            return json_response(self.b.create(body), 201)
        except (InvalidArgument, NotFound) as exc:  # moby's volume service: "create <name>: "
            name = str(body.get("Name") or "")
            if not name or str(exc).startswith(f"create {name}: "):
                raise
            raise type(exc)(f"create {name}: {exc}") from exc

    async def inspect(self, req: Request, name: str) -> Reply:
        return json_response(self.b.inspect(name))

    async def remove(self, req: Request, name: str) -> Reply:
        await self.b.remove(name, force=flag(req, "force"))
        return Response(204)

    async def prune(self, req: Request) -> Reply:
        return json_response(await self.b.prune(arg(req, "filters"), req.api_version))
