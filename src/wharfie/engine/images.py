"""Image use cases: the store's operations as the API asks for them (list, inspect, tag,
remove, prune, import, with their events), and those that reach outside: pull, push,
login, distribution inspect, save, load.

Blocking work runs in threads; `progress(dict)` gets Docker's JSON progress messages from
those threads (callers make it thread-safe). Events as moby: `pull`/`push` carry the
familiar reference, `load`/`save` the image id.

`Engine` builds one `ImageService` and hands it to what needs it (a Dockerfile FROM that
is missing pulls through it); the daemon sets the registry settings
(`--registry-mirror`, `--insecure-registry`, `--blocked-registry`) with `configure`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO

from wharfie import distribution
from wharfie.distribution.auth import AuthConfig, decode_registry_auth, normalize_server
from wharfie.distribution.errors import Unauthorized
from wharfie.distribution.progress import status as pg_status
from wharfie.distribution.pull import fetch_manifest, fetch_small_blob, list_tags
from wharfie.engine import filters
from wharfie.engine.emitter import Events
from wharfie.engine.index import ContainerIndex
from wharfie.errors import InvalidArgument, NotFound
from wharfie.images import ImageStore, reference, saveload
from wharfie.images import manifest as mf
from wharfie.images.layers import host_arch
from wharfie.images.store import ImageRecord

Progress = Callable[[dict[str, Any]], None]
__all__ = [
    "AuthConfig",
    "ImageRecord",
    "ImageService",
    "Unauthorized",
    "decode_registry_auth",
]


def _quiet(_: dict[str, Any]) -> None:
    return None


class ImageService:
    """Built with the image store, the event bus and the container index (which images
    containers use: list counts, remove and prune refuse)."""

    def __init__(
        self,
        images: ImageStore,
        events: Events,
        index: ContainerIndex,
        settings: distribution.Settings | None = None,
    ) -> None:
        self.images = images
        self.events = events
        self.index = index
        self.settings = settings or distribution.Settings()

    def configure(
        self, mirrors: list[str], insecure: list[str], blocked: list[str] | None = None
    ) -> None:
        """The daemon's registry flags (InvalidArgument for a bad mirror URL)."""
        self.settings = distribution.Settings.from_flags(mirrors, insecure, blocked)

    # -- the store's operations ----------------------------------------------------------

    def _users(self, image_id: str) -> list[str]:
        return [c.id for c in self.index.all() if c.doc["Image"] == image_id]

    def _running(self, cid: str) -> bool:
        c = self.index.get(cid)
        return bool(c and c.running)

    def list_images(self, all_: bool, raw_filters: str) -> list[dict[str, Any]]:
        f = filters.parse(raw_filters)
        users: dict[str, int] = {}
        for c in self.index.all():
            users[str(c.doc["Image"])] = users.get(str(c.doc["Image"]), 0) + 1
        recs = self.images.list(all=all_, filters=f)
        rows = [self.images.summary(r, users.get(r.id, 0)) for r in recs]
        patterns = f.get("reference") or []
        for row in rows if patterns else ():  # as moby: only the tags that match are listed
            tags = row.get("RepoTags") or []
            row["RepoTags"] = [
                t for t in tags if any(filters.image_tag_matches(p, t) for p in patterns)
            ]
        return rows

    def inspect(self, name: str) -> dict[str, Any]:
        try:
            rec = self.images.resolve(name)
        except NotFound:
            filters.check_image_reference(name)  # a malformed name is a 400, as moby's
            raise
        return self.images.inspect(rec)

    def history(self, name: str) -> list[dict[str, Any]]:
        return self.images.history(self.images.resolve(name))

    def tag(self, name: str, repo: str, tag: str) -> None:
        self.images.tag(name, repo, tag)
        rec = self.images.resolve(name)
        self.events.emit("image", "tag", rec.id, {"name": f"{repo}:{tag or 'latest'}"})

    async def remove(self, name: str, force: bool, noprune: bool) -> list[dict[str, str]]:
        out = await asyncio.to_thread(
            self.images.remove,
            name,
            force=force,
            noprune=noprune,
            users=self._users,
            running=self._running,
        )
        for item in out:
            for action, ident in item.items():
                self.events.emit(
                    "image",
                    action.lower().replace("untagged", "untag").replace("deleted", "delete"),
                    ident,
                    {"name": ident},
                )
        return out

    async def prune(self, raw_filters: str) -> dict[str, Any]:
        f = filters.parse(raw_filters)
        filters.validate(f, filters.PRUNE_IMAGE_FILTERS)
        dangling = filters.image_dangling(f.pop("dangling")) if "dangling" in f else True
        return await asyncio.to_thread(
            self.images.prune, dangling_only=dangling, users=self._users, filters=f
        )

    def import_tar(
        self,
        stream: BinaryIO,
        reference: str | None,
        changes: list[str],
        message: str,
        platform: str,
    ) -> ImageRecord:
        """`docker import` (in a worker thread); the event is the caller's (`imported`)."""
        return self.images.import_tar(
            stream, reference=reference, changes=changes, message=message, platform=platform
        )

    def imported(self, rec: ImageRecord, reference: str | None) -> None:
        self.events.emit("image", "import", rec.id, {"name": reference or rec.id})

    # -- registries, save and load -------------------------------------------------------

    async def pull(
        self, ref: str, auth: AuthConfig, platform: str = "", progress: Progress = _quiet
    ) -> ImageRecord:
        """Pull `ref` ("busybox", "host:5000/x:1", "x@sha256:…") into the image store."""
        parsed = reference.parse(ref).with_default_tag()
        if platform:
            mf.parse_platform(platform, host_arch())
        regs = self.settings.registries(parsed.domain, auth)
        rec = await asyncio.to_thread(
            distribution.pull, self.images, regs, parsed, platform, progress
        )
        name = parsed.familiar()
        self.events.emit("image", "pull", name, {"name": name})
        return rec

    async def pull_all_tags(
        self, name: str, auth: AuthConfig, platform: str = "", progress: Progress = _quiet
    ) -> list[ImageRecord]:
        """`docker pull -a`: every tag the registry lists for the repository."""
        parsed = reference.parse(name)
        reg = self.settings.registries(parsed.domain, auth)[-1]

        def tags() -> list[str]:
            try:
                return list_tags(reg, parsed.path)
            finally:
                reg.close()

        out = []
        for tag in await asyncio.to_thread(tags):
            out.append(
                await self.pull(
                    parsed._replace(tag=tag, digest="").full(), auth, platform, progress
                )
            )
        return out

    async def push(
        self, name: str, tag: str, auth: AuthConfig, progress: Progress = _quiet
    ) -> list[dict[str, Any]]:
        parsed = reference.parse(name)
        if tag:
            parsed = reference.with_tag(parsed._replace(tag="").full(), tag)
        if parsed.tag:
            try:
                self.images.resolve(parsed.full())
            except NotFound as exc:  # as moby: after its first line, so in the 200 stream
                progress(
                    pg_status(f"The push refers to repository [{parsed.domain}/{parsed.path}]")
                )
                raise NotFound(f"tag does not exist: {parsed.familiar()}") from exc
        reg = self.settings.registries(parsed.domain, auth)[-1]
        out = await asyncio.to_thread(distribution.push, self.images, reg, parsed, progress)
        for aux in out:
            ref = parsed._replace(tag=aux["Tag"]).familiar()
            self.events.emit("image", "push", ref, {"name": ref})
        return out

    async def login(self, auth: AuthConfig) -> dict[str, str]:
        host = normalize_server(auth.server_address)
        reg = self.settings.registries(host, auth)[-1]

        def ping() -> None:
            try:
                reg.ping()
            except Unauthorized as exc:
                raise Unauthorized(
                    f"login attempt to {reg.base}/v2/ failed with status: 401 Unauthorized"
                ) from exc
            finally:
                reg.close()

        await asyncio.to_thread(ping)
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    async def distribution_inspect(self, name: str, auth: AuthConfig) -> dict[str, Any]:
        parsed = reference.parse(name).with_default_tag()
        reg = self.settings.registries(parsed.domain, auth)[-1]

        def fetch() -> dict[str, Any]:
            try:
                raw, mt, digest = fetch_manifest(reg, parsed.path, parsed.digest or parsed.tag)
                return _distribution_json(reg, parsed.path, raw, mt, digest)
            finally:
                reg.close()

        return await asyncio.to_thread(fetch)

    def save(self, refs: list[str]) -> Iterator[bytes]:
        if not refs:
            raise InvalidArgument("no images specified")
        stream = saveload.save(self.images, refs)
        for rec in saveload.images_of(self.images, refs):
            name = rec.repo_tags[0] if rec.repo_tags else rec.id
            self.events.emit("image", "save", rec.id, {"name": name})
        return stream

    def load(self, body: IO[bytes]) -> list[str]:
        lines = saveload.load(self.images, body)
        for line in lines:
            what = line.split(": ", 1)[1]
            try:
                rec = self.images.resolve(what)
            except NotFound:
                continue
            self.events.emit("image", "load", rec.id, {"name": what})
        return lines


def _distribution_json(reg: Any, path: str, raw: bytes, mt: str, digest: str) -> dict[str, Any]:
    platforms: list[dict[str, Any]] = []
    if mf.is_index(mt):
        for d in json.loads(raw).get("manifests") or []:
            p = d.get("platform") or {}
            if p:
                platforms.append({k: v for k, v in p.items() if v})
    else:
        m = mf.parse_manifest(raw, mt)
        cfg = fetch_small_blob(reg, path, m.config)
        c = json.loads(cfg)
        platforms.append({"architecture": c.get("architecture", ""), "os": c.get("os", "")})
    return {
        "Descriptor": {"mediaType": mt, "digest": digest, "size": len(raw)},
        "Platforms": platforms,
    }
