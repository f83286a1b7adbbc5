"""Routes of /images (list, inspect, history, tag, remove, import, prune, pull, push,
save, load), /auth and /distribution/{name}/json.

Image names hold "/" and ":" (`localhost:5000/x:1`), so the name part of a path is
matched greedily, as moby's `{name:.*}` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, BinaryIO

from wharfie.api import routes_distribution as dist
from wharfie.api.decoding import arg, flag, number
from wharfie.api.http import Reply, Request, Response, Router, Stream, json_response
from wharfie.api.routes_build import errors_before_output_as_status
from wharfie.engine import filters
from wharfie.engine.files import consume_in_thread
from wharfie.errors import NotFound, NotImplementedFeature, WharfieError
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

NAME = r"(?P<name>.+)"


class ImageRoutes:
    def __init__(self, engine: Engine) -> None:
        self.e = engine

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

    def _users(self, image_id: str) -> list[str]:
        return [c.id for c in self.e.containers.values() if c.doc["Image"] == image_id]

    def _running(self, cid: str) -> bool:
        c = self.e.containers.get(cid)
        return bool(c and c.running)

    async def list(self, req: Request) -> Reply:
        f = filters.parse(arg(req, "filters"))
        users: dict[str, int] = {}
        for c in self.e.containers.values():
            users[str(c.doc["Image"])] = users.get(str(c.doc["Image"]), 0) + 1
        recs = self.e.images.list(all=flag(req, "all"), filters=f)
        rows = [self.e.images.summary(r, users.get(r.id, 0)) for r in recs]
        patterns = f.get("reference") or []
        for row in rows if patterns else ():  # as moby: only the tags that match are listed
            tags = row.get("RepoTags") or []
            row["RepoTags"] = [
                t for t in tags if any(filters.image_tag_matches(p, t) for p in patterns)
            ]
        return json_response(rows)

    async def inspect(self, req: Request, name: str) -> Reply:
        try:
            rec = self.e.images.resolve(name)
        except NotFound:
            filters.check_image_reference(name)  # a malformed name is a 400, as moby's
            raise
        return json_response(self.e.images.inspect(rec))

    async def search(self, req: Request) -> Reply:
        number(req, "limit", 25)  # moby reads its parameters first (a bad limit is a 400)
        raise NotImplementedFeature("image search is not supported by wharfied")

    async def history(self, req: Request, name: str) -> Reply:
        return json_response(self.e.images.history(self.e.images.resolve(name)))

    async def tag(self, req: Request, name: str) -> Reply:
        self.e.images.tag(name, arg(req, "repo"), arg(req, "tag"))
        rec = self.e.images.resolve(name)
        self.e.events.emit(
            "image", "tag", rec.id, {"name": f"{arg(req, 'repo')}:{arg(req, 'tag') or 'latest'}"}
        )
        return Response(201)

    async def remove(self, req: Request, name: str) -> Reply:
        out = await asyncio.to_thread(
            self.e.images.remove,
            name,
            force=flag(req, "force"),
            noprune=flag(req, "noprune"),
            users=self._users,
            running=self._running,
        )
        for item in out:
            for action, ident in item.items():
                self.e.events.emit(
                    "image",
                    action.lower().replace("untagged", "untag").replace("deleted", "delete"),
                    ident,
                    {"name": ident},
                )
        return json_response(out)

    async def prune(self, req: Request) -> Reply:
        f = filters.parse(arg(req, "filters"))
        filters.validate(f, filters.PRUNE_IMAGE_FILTERS)
        dangling = filters.image_dangling(f.pop("dangling")) if "dangling" in f else True
        out = await asyncio.to_thread(
            self.e.images.prune, dangling_only=dangling, users=self._users, filters=f
        )
        return json_response(out)

    async def create(self, req: Request) -> Reply:
        if arg(req, "fromSrc") == "-":
            return Stream(await errors_before_output_as_status(self._import(req)))
        if arg(req, "fromSrc"):
            raise NotFound(
                "importing from a URL is not supported: download the file and import it from stdin"
            )
        return await dist.pull(self.e, req)

    async def push(self, req: Request, name: str) -> Reply:
        return await dist.push(self.e, req, name)

    async def save_one(self, req: Request, name: str) -> Reply:
        return await dist.save(self.e, [name])

    async def save_many(self, req: Request) -> Reply:
        return await dist.save(self.e, req.qlist("names"))

    async def load(self, req: Request) -> Reply:
        return await dist.load(self.e, req)

    async def auth(self, req: Request) -> Reply:
        return await dist.auth(self.e, req)

    async def distribution(self, req: Request, name: str) -> Reply:
        return await dist.inspect(self.e, req, name)

    async def _import(self, req: Request) -> AsyncIterator[bytes]:
        repo, tag = arg(req, "repo"), arg(req, "tag")
        reference = f"{repo}:{tag}" if repo and tag else (repo or None)

        def load(stream: BinaryIO) -> Any:  # an images.ImageRecord
            return self.e.images.import_tar(
                stream,
                reference=reference,
                changes=req.qlist("changes"),
                message=arg(req, "message"),
                platform=arg(req, "platform"),
            )

        try:
            rec = await consume_in_thread(req.chunks(), load)
        except WharfieError as exc:
            yield _line({"errorDetail": {"message": str(exc)}, "error": str(exc)})
            return
        self.e.events.emit("image", "import", rec.id, {"name": reference or rec.id})
        yield _line({"status": rec.id})


def _line(obj: object) -> bytes:
    return jsonio.dumps(obj).encode() + b"\r\n"
