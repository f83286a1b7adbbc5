"""Image use cases that reach outside: pull, push, login, distribution inspect, save, load.

Blocking work runs in threads; `progress(dict)` gets Docker's JSON progress messages from
those threads (callers make it thread-safe). Events as moby: `pull`/`push` carry the
familiar reference, `load`/`save` the image id.

For other engine modules (a Dockerfile FROM that is missing):

    from wharfie.engine.images import service
    rec = await service(engine).pull("busybox:latest", AuthConfig(), "", progress)

The service is kept per engine (`service(engine)`); the daemon sets the registry
settings (`--registry-mirror`, `--insecure-registry`, `--blocked-registry`) with
`configure`.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from wharfie import distribution
from wharfie.distribution.auth import AuthConfig, decode_registry_auth, normalize_server
from wharfie.distribution.errors import Unauthorized
from wharfie.distribution.progress import status as pg_status
from wharfie.distribution.pull import fetch_manifest, fetch_small_blob, list_tags
from wharfie.errors import InvalidArgument, NotFound
from wharfie.images import manifest as mf
from wharfie.images import reference, saveload
from wharfie.images.layers import host_arch
from wharfie.images.store import ImageRecord

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

Progress = Callable[[dict[str, Any]], None]
__all__ = [
    "AuthConfig",
    "ImageService",
    "Unauthorized",
    "configure",
    "decode_registry_auth",
    "service",
]


def _quiet(_: dict[str, Any]) -> None:
    return None


class ImageService:
    def __init__(self, engine: Engine, settings: distribution.Settings | None = None) -> None:
        self.e = engine
        self.settings = settings or distribution.Settings()

    async def pull(
        self, ref: str, auth: AuthConfig, platform: str = "", progress: Progress = _quiet
    ) -> ImageRecord:
        """Pull `ref` ("busybox", "host:5000/x:1", "x@sha256:…") into the image store."""
        parsed = reference.parse(ref).with_default_tag()
        if platform:
            mf.parse_platform(platform, host_arch())
        regs = self.settings.registries(parsed.domain, auth)
        rec = await asyncio.to_thread(
            distribution.pull, self.e.images, regs, parsed, platform, progress
        )
        name = parsed.familiar()
        self.e.events.emit("image", "pull", name, {"name": name})
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
                self.e.images.resolve(parsed.full())
            except NotFound as exc:  # as moby: after its first line, so in the 200 stream
                progress(
                    pg_status(f"The push refers to repository [{parsed.domain}/{parsed.path}]")
                )
                raise NotFound(f"tag does not exist: {parsed.familiar()}") from exc
        reg = self.settings.registries(parsed.domain, auth)[-1]
        out = await asyncio.to_thread(distribution.push, self.e.images, reg, parsed, progress)
        for aux in out:
            ref = parsed._replace(tag=aux["Tag"]).familiar()
            self.e.events.emit("image", "push", ref, {"name": ref})
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
        stream = saveload.save(self.e.images, refs)
        for rec in saveload.images_of(self.e.images, refs):
            name = rec.repo_tags[0] if rec.repo_tags else rec.id
            self.e.events.emit("image", "save", rec.id, {"name": name})
        return stream

    def load(self, body: IO[bytes]) -> list[str]:
        lines = saveload.load(self.e.images, body)
        for line in lines:
            what = line.split(": ", 1)[1]
            try:
                rec = self.e.images.resolve(what)
            except NotFound:
                continue
            self.e.events.emit("image", "load", rec.id, {"name": what})
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


_SERVICES: weakref.WeakKeyDictionary[Engine, ImageService] = weakref.WeakKeyDictionary()


def service(engine: Engine) -> ImageService:
    found = _SERVICES.get(engine)
    if found is None:
        found = _SERVICES[engine] = ImageService(engine)
    return found


def configure(
    engine: Engine, mirrors: list[str], insecure: list[str], blocked: list[str] | None = None
) -> None:
    """The daemon's registry flags (InvalidArgument for a bad mirror URL)."""
    service(engine).settings = distribution.Settings.from_flags(mirrors, insecure, blocked)
