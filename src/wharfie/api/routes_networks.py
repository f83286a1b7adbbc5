"""Routes of /networks: parse, make one engine call, render (moby's fields and statuses)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wharfie.api import schemas
from wharfie.api.decoding import arg, json_body
from wharfie.api.http import HTTPError, Reply, Request, Response, Router, json_response
from wharfie.engine import filters
from wharfie.engine.net.networks import Forbidden
from wharfie.errors import Conflict, InvalidArgument

if TYPE_CHECKING:
    from wharfie.api.backends_networks import NetworkBackend

ID = r"(?P<ref>[^/]+)"
PREDEFINED = ("bridge", "host", "none")


def _forbidden(exc: Forbidden) -> HTTPError:
    return HTTPError(403, str(exc))


class NetworkRoutes:
    def __init__(self, backend: NetworkBackend) -> None:
        self.b = backend

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
        return json_response(await self.b.listing(arg(req, "filters")))

    async def inspect(self, req: Request, ref: str) -> Reply:
        return json_response(await self.b.inspect(ref))

    async def create(self, req: Request) -> Reply:
        body = schemas.decode(await json_body(req, empty={}), schemas.NETWORK_CREATE)
        if body.get("Name") in PREDEFINED:
            raise HTTPError(
                403, f"operation is not permitted on predefined {body['Name']} network "
            )
        try:
            return json_response(await self.b.create(body), 201)
        except Forbidden as exc:
            raise _forbidden(exc) from exc

    async def remove(self, req: Request, ref: str) -> Reply:
        try:
            await self.b.remove(ref)
        except Forbidden as exc:
            raise _forbidden(exc) from exc
        except Conflict as exc:  # moby: a network in use is Forbidden (403)
            if "active endpoints" not in str(exc):
                raise
            raise HTTPError(403, str(exc)) from exc
        return Response(204)

    async def prune(self, req: Request) -> Reply:
        return json_response(await self.b.prune(arg(req, "filters")))

    async def _body(self, req: Request, schema: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        body = schemas.decode(await json_body(req, empty={}), schema)
        if not body.get("Container"):
            raise InvalidArgument("a Container is required")
        return body

    async def connect(self, req: Request, ref: str) -> Reply:
        body = await self._body(req, schemas.NETWORK_CONNECT)
        try:
            await self.b.connect(
                ref, str(body["Container"]), dict(body.get("EndpointConfig") or {})
            )
        except Forbidden as exc:
            raise _forbidden(exc) from exc
        return Response(200)

    async def disconnect(self, req: Request, ref: str) -> Reply:
        body = await self._body(req, schemas.NETWORK_DISCONNECT)
        await self.b.disconnect(ref, str(body["Container"]), bool(body.get("Force")))
        return Response(200)
