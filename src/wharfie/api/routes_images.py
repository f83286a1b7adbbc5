"""Routes of /images (list, inspect, history, tag, remove, import, prune, pull, push,
save, load), /auth and /distribution/{name}/json.

Image names hold "/" and ":" (`localhost:5000/x:1`), so the name part of a path is
matched greedily, as moby's `{name:.*}` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, BinaryIO

from wharfie.api import routes_distribution as dist
from wharfie.api.decoding import arg, flag, number
from wharfie.api.http import Reply, Request, Response, Router, Stream, json_response
from wharfie.api.routes_build import errors_before_output_as_status
from wharfie.engine.files import consume_in_thread
from wharfie.errors import NotFound, NotImplementedFeature, WharfieError
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.api.backends_images import ImagesAndDistribution

NAME = r"(?P<name>.+)"


class ImageRoutes:
    def __init__(self, backend: ImagesAndDistribution) -> None:
        self.b = backend

    def register(self, r: Router) -> None:
        r.add("GET", "/images/json", self.list)
        r.add("GET", "/images/search", self.search)
        r.add("POST", "/images/create", self.create)
        r.add("POST", "/images/prune", self.prune)
        r.add("GET", f"/images/{NAME}/json", self.inspect)
        r.add("GET", f"/images/{NAME}/history", self.history)
        r.add("POST", f"/images/{NAME}/tag", self.tag)
        r.add("DELETE", f"/images/{NAME}", self.remove)
        r.add("POST", f"/images/{NAME}/push", self.push)
        r.add("GET", "/images/get", self.save_many)
        r.add("GET", f"/images/{NAME}/get", self.save_one)
        r.add("POST", "/images/load", self.load)
        r.add("POST", "/auth", self.auth)
        r.add("GET", f"/distribution/{NAME}/json", self.distribution)

    async def list(self, req: Request) -> Reply:
        return json_response(self.b.list_images(flag(req, "all"), arg(req, "filters")))

    async def inspect(self, req: Request, name: str) -> Reply:
        return json_response(self.b.inspect(name))

    async def search(self, req: Request) -> Reply:
        number(req, "limit", 25)  # moby reads its parameters first (a bad limit is a 400)
        raise NotImplementedFeature("image search is not supported by wharfied")

    async def history(self, req: Request, name: str) -> Reply:
        return json_response(self.b.history(name))

    async def tag(self, req: Request, name: str) -> Reply:
        self.b.tag(name, arg(req, "repo"), arg(req, "tag"))
        return Response(201)

    async def remove(self, req: Request, name: str) -> Reply:
        out = await self.b.remove(name, flag(req, "force"), flag(req, "noprune"))
        return json_response(out)

    async def prune(self, req: Request) -> Reply:
        return json_response(await self.b.prune(arg(req, "filters")))

    async def create(self, req: Request) -> Reply:
        if arg(req, "fromSrc") == "-":
            return Stream(await errors_before_output_as_status(self._import(req)))
        if arg(req, "fromSrc"):
            raise NotFound(
                "importing from a URL is not supported: download the file and import it from stdin"
            )
        return await dist.pull(self.b, req)

    async def push(self, req: Request, name: str) -> Reply:
        return await dist.push(self.b, req, name)

    async def save_one(self, req: Request, name: str) -> Reply:
        return await dist.save(self.b, [name])

    async def save_many(self, req: Request) -> Reply:
        return await dist.save(self.b, req.qlist("names"))

    async def load(self, req: Request) -> Reply:
        return await dist.load(self.b, req)

    async def auth(self, req: Request) -> Reply:
        return await dist.auth(self.b, req)

    async def distribution(self, req: Request, name: str) -> Reply:
        return await dist.inspect(self.b, req, name)

    async def _import(self, req: Request) -> AsyncIterator[bytes]:
        repo, tag = arg(req, "repo"), arg(req, "tag")
        reference = f"{repo}:{tag}" if repo and tag else (repo or None)

        def load(stream: BinaryIO) -> Any:  # an images.ImageRecord
            return self.b.import_tar(
                stream,
                reference,
                req.qlist("changes"),
                arg(req, "message"),
                arg(req, "platform"),
            )

        try:
            rec = await consume_in_thread(req.chunks(), load)
        except WharfieError as exc:
            yield _line({"errorDetail": {"message": str(exc)}, "error": str(exc)})
            return
        self.b.imported(rec, reference)
        yield _line({"status": rec.id})


def _line(obj: object) -> bytes:
    return jsonio.dumps(obj).encode() + b"\r\n"
