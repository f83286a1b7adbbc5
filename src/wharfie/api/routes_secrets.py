"""Routes of swarm secrets and configs (/secrets, /configs), through the narrow
`BlobBackend`. A secret's data is never shown; a config's is (`Spec.Data`), as dockerd does."""

from __future__ import annotations

from typing import Any, Protocol

from wharfie.api.decoding import arg, json_body, number
from wharfie.api.http import Reply, Request, Response, Router, json_response
from wharfie.cluster import secrets
from wharfie.engine import filters, gojson
from wharfie.errors import InvalidArgument

FILTERS = ("id", "label", "name", "names")
_STR_MAP = "map[string]string"
SCHEMA: tuple[str, dict[str, Any]] = ("swarm.SecretSpec", {
    "Name": "string", "Labels": _STR_MAP, "Data": "string",
    "Driver": ("swarm.Driver", {"Name": "string", "Options": _STR_MAP}),
    "Templating": ("swarm.Driver", {"Name": "string", "Options": _STR_MAP}),
})  # fmt: skip


class BlobBackend(Protocol):
    async def create_blob(self, kind: str, doc: dict[str, Any]) -> str: ...
    async def blobs(self, kind: str) -> list[tuple[secrets.Blob, int]]: ...
    async def blob(self, kind: str, ref: str) -> tuple[secrets.Blob, int]: ...
    async def update_blob(self, kind: str, ref: str, version: int, doc: dict[str, Any]) -> None: ...
    async def remove_blob(self, kind: str, ref: str) -> None: ...


class BlobRoutes:
    def __init__(self, backend: BlobBackend, kind: str) -> None:
        self.b = backend
        self.kind = kind

    def register(self, r: Router) -> None:
        base = f"/{self.kind}s"
        r.add("POST", f"{base}/create", self.create)
        r.add("GET", base, self.list)
        r.add("GET", base + "/(?P<ref>[^/]+)", self.inspect)
        r.add("POST", base + "/(?P<ref>[^/]+)/update", self.update)
        r.add("DELETE", base + "/(?P<ref>[^/]+)", self.remove)

    async def create(self, req: Request) -> Reply:
        doc = _decode(await json_body(req, empty={}))
        return json_response({"ID": await self.b.create_blob(self.kind, doc)}, 201)

    async def list(self, req: Request) -> Reply:
        f = filters.parse(arg(req, "filters"))
        filters.validate(f, FILTERS)
        out = []
        for b, version in await self.b.blobs(self.kind):
            if "id" in f and not any(b.id.startswith(v) for v in f["id"]):
                continue
            if "name" in f and not any(b.name.startswith(v) for v in f["name"]):
                continue
            if "names" in f and b.name not in f["names"]:
                continue
            if not _labels(f.get("label", []), b.labels):
                continue
            out.append(secrets.render(b, version))
        return json_response(out)

    async def inspect(self, req: Request, ref: str) -> Reply:
        b, version = await self.b.blob(self.kind, ref)
        return json_response(secrets.render(b, version))

    async def update(self, req: Request, ref: str) -> Reply:
        if not arg(req, "version"):
            raise InvalidArgument(f"invalid {self.kind} version ''")
        doc = _decode(await json_body(req, empty={}))
        await self.b.update_blob(self.kind, ref, number(req, "version", 0), doc)
        return Response(200)

    async def remove(self, req: Request, ref: str) -> Reply:
        await self.b.remove_blob(self.kind, ref)
        return Response(204)


def _decode(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise gojson.type_error(body, "", SCHEMA[0])
    out: dict[str, Any] = gojson.canonical(body, SCHEMA)
    gojson.check(out, SCHEMA)
    return out


def _labels(want: list[str], labels: dict[str, str]) -> bool:
    for item in want:
        k, sep, v = item.partition("=")
        if k not in labels or (sep and labels[k] != v):
            return False
    return True
