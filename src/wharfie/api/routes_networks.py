"""Routes of /networks: parse, make one engine call, render (moby's fields and statuses)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wharfie.api import schemas
from wharfie.api.decoding import arg, json_body
from wharfie.api.http import HTTPError, Reply, Request, Response, Router, json_response
from wharfie.engine import filters, netsetup
from wharfie.engine.networks import Forbidden
from wharfie.errors import Conflict, InvalidArgument

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

ID = r"(?P<ref>[^/]+)"
PREDEFINED = ("bridge", "host", "none")


def _forbidden(exc: Forbidden) -> HTTPError:
    return HTTPError(403, str(exc))


class NetworkRoutes:
    def __init__(self, engine: Engine) -> None:
        self.e = engine

    def register(self, r: Router) -> None:
        r.add("GET", "/networks", self.list)
        r.add("GET", "/networks/", self.list)
        r.add("POST", "/networks/create", self.create)
        r.add("POST", "/networks/prune", self.prune)
        r.add("GET", "/networks/" + ID, self.inspect)
        r.add("DELETE", "/networks/" + ID, self.remove)
        r.add("POST", "/networks/" + ID + "/connect", self.connect)
        r.add("POST", "/networks/" + ID + "/disconnect", self.disconnect)

    async def list(self, req: Request) -> Reply:
        f = filters.parse(arg(req, "filters"))
        filters.validate(f, filters.NETWORK_LIST_FILTERS)
        for kind in f.get("type", []):
            if kind not in ("custom", "builtin"):
                raise InvalidArgument(f"invalid filter: 'type'='{kind}'")
        return json_response(self.e.networks.listing(arg(req, "filters")))

    async def inspect(self, req: Request, ref: str) -> Reply:
        return json_response(self.e.networks.present(self.e.networks.find(ref)))

    async def create(self, req: Request) -> Reply:
        body = schemas.decode(await json_body(req, empty={}), schemas.NETWORK_CREATE)
        if body.get("Name") in PREDEFINED:
            raise HTTPError(
                403, f"operation is not permitted on predefined {body['Name']} network "
            )
        try:
            return json_response(await self.e.networks.create(body), 201)
        except Forbidden as exc:
            raise _forbidden(exc) from exc

    async def remove(self, req: Request, ref: str) -> Reply:
        try:
            await self.e.networks.remove(ref)
        except Forbidden as exc:
            raise _forbidden(exc) from exc
        except Conflict as exc:  # moby: a network in use is Forbidden (403)
            if "active endpoints" not in str(exc):
                raise
            raise HTTPError(403, str(exc)) from exc
        return Response(204)

    async def prune(self, req: Request) -> Reply:
        return json_response(await self.e.networks.prune(arg(req, "filters")))

    async def _target(
        self, req: Request, ref: str, schema: tuple[str, dict[str, Any]]
    ) -> tuple[Any, Any, dict[str, Any]]:
        body = schemas.decode(await json_body(req, empty={}), schema)
        if not body.get("Container"):
            raise InvalidArgument("a Container is required")
        net = self.e.networks.find(ref)
        c = self.e.find(str(body["Container"]))
        return net, c, body

    async def connect(self, req: Request, ref: str) -> Reply:
        net, c, body = await self._target(req, ref, schemas.NETWORK_CONNECT)
        try:
            async with c.lock:
                await netsetup.connect(self.e, c, net, dict(body.get("EndpointConfig") or {}))
                self.e.save(c)
        except Forbidden as exc:
            raise _forbidden(exc) from exc
        netsetup.emit(self.e, "connect", net, c.id)
        return Response(200)

    async def disconnect(self, req: Request, ref: str) -> Reply:
        net, c, body = await self._target(req, ref, schemas.NETWORK_DISCONNECT)
        async with c.lock:
            await netsetup.disconnect(self.e, c, net, bool(body.get("Force")))
            self.e.save(c)
        netsetup.emit(self.e, "disconnect", net, c.id)
        return Response(200)
