"""Dockerfile builds: the executor behind `POST /build` (the legacy builder's API).

The pure parts live in `wharfie.build` (parser, substitution, planner, per-instruction
config changes, cache keys); this module runs a plan: each step makes an image (a new
layer for RUN, COPY, ADD and a new WORKDIR, the same layers with a new config for the
others), looked up first in the build cache by its key. RUN runs in a real container
(the engine's own create/start/wait), its output streamed live, and its upper dir becomes
the layer. COPY/ADD fill a fresh directory that becomes the layer. Stages whose
dependencies are built run concurrently. A failing build tags nothing and removes its
containers, mounts and temporary files; the steps that succeeded stay in the cache.
This module holds the service and a build's life (stages, tags, cleanup); the steps
themselves are `engine.buildsteps.Steps`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from wharfie.build import cache as cache_mod
from wharfie.build import context, parser, plan
from wharfie.build.dispatch import StageState, nop, unused_build_args
from wharfie.engine.buildsteps import (
    STEP_LABEL,
    BuildFailed,
    BuildOptions,
    Pulls,
    RunContainers,
    Steps,
    unmount_under,
)
from wharfie.engine.emitter import Events
from wharfie.engine.files import consume_in_thread
from wharfie.engine.index import ContainerIndex
from wharfie.engine.paths import Paths
from wharfie.errors import InvalidArgument, NotFound, WharfieError
from wharfie.images import ImageStore
from wharfie.images.store import ImageRecord

log = logging.getLogger("wharfie.engine")

_END = object()


class Builds:
    """Built with the build cache, the image store, the image pulls (a missing FROM), the
    containers service (RUN steps), the container index, the event bus and the paths."""

    def __init__(
        self,
        cache: cache_mod.BuildCache,
        images: ImageStore,
        pulls: Pulls,
        containers: RunContainers,
        index: ContainerIndex,
        events: Events,
        paths: Paths,
    ) -> None:
        self.cache = cache
        self.images = images
        self.pulls = pulls
        self.containers = containers
        self.index = index
        self.events = events
        self.paths = paths
        self.root = os.path.join(paths.data_root, "builds")
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        for leftover in os.listdir(self.root):  # from a daemon that died mid-build
            unmount_under(os.path.join(self.root, leftover))
            shutil.rmtree(os.path.join(self.root, leftover), ignore_errors=True)

    async def recover(self) -> None:
        """Remove the RUN containers of builds a daemon that died mid-build left."""
        for c in self.index.all():
            if (c.config.get("Labels") or {}).get(STEP_LABEL):
                await self.containers.remove(c.id, force=True, volumes=False)

    def check(self, opts: BuildOptions) -> None:
        """What can be refused before the build starts (a 400 rather than a stream error)."""
        for t in opts.tags:
            _split_tag(t)

    async def build(
        self,
        opts: BuildOptions,
        body: AsyncIterator[bytes],
        gone: Callable[[], Awaitable[object]] | None = None,
    ) -> AsyncIterator[bytes]:
        """The JSON lines of a build (Docker's legacy builder stream). `gone()` returns
        when the client has gone away: the build is then cancelled (and cleaned up) even
        while a silent RUN gives the stream nothing to write."""
        out: asyncio.Queue[Any] = asyncio.Queue()
        run = _Run(self, opts, out)
        task = asyncio.get_running_loop().create_task(run.main(body))
        watch = asyncio.ensure_future(_cancel_when_gone(run, task, gone)) if gone else None
        try:
            done = False
            while not done:
                batch = [await out.get()]
                while not out.empty():  # what is ready goes out in one write
                    batch.append(out.get_nowait())
                if _END in batch:
                    done = True
                    batch = batch[: batch.index(_END)]
                if batch:
                    yield b"".join(batch)
        finally:
            if watch is not None:
                watch.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def usage(self) -> list[dict[str, Any]]:
        """The cache entries as `GET /system/df` lists them (BuildCache)."""
        from wharfie.images.present import rfc3339

        tagged = {r.id for r in self.images.list() if r.repo_tags}
        return [
            {
                "ID": e.key.removeprefix("sha256:")[:25],
                "Parents": None,
                "Type": "regular",
                "Description": e.description,
                "InUse": e.image_id in tagged,
                "Shared": False,
                "Size": e.size,
                "CreatedAt": rfc3339(e.created),
                "LastUsedAt": rfc3339(e.last_used),
                "UsageCount": 1,
            }
            for e in self.cache.entries()
        ]

    def prune(self, keep_storage: int, everything: bool) -> dict[str, Any]:
        entries = cache_mod.pick_for_prune(self.cache.entries(), keep_storage, everything)
        self.cache.delete([e.key for e in entries])
        reclaimed = 0
        for e in entries:
            reclaimed += self._drop_image(e.image_id, e.size)
        return {"CachesDeleted": [e.key for e in entries] or None, "SpaceReclaimed": reclaimed}

    def _drop_image(self, image_id: str, size: int) -> int:
        """Remove a cache image nothing else holds (no tag, no child, no container)."""
        images = self.images
        try:
            rec = images.get(image_id)
        except NotFound:
            return 0
        if rec.repo_tags or any(r.parent == image_id for r in images.list(all=True)):
            return 0
        if any(c.doc["Image"] == image_id for c in self.index.all()):
            return 0
        try:
            images.remove(image_id, force=False, noprune=True, users=lambda _i: [])
        except WharfieError as exc:  # taken meanwhile (a tag, a child): it stays, as it should
            log.info("build cache: image %s kept: %s", image_id[7:19], exc)
            return 0
        return size


class _Run(Steps):
    """One build: its options, output queue, temporary dir and stage results."""

    def __init__(self, builds: Builds, opts: BuildOptions, out: asyncio.Queue[Any]) -> None:
        self.b = builds
        self.opts = opts
        self.out = out
        self.dir = os.path.join(builds.root, secrets.token_hex(8))
        self.ctx = os.path.join(self.dir, "context")
        self.results: dict[int, asyncio.Future[ImageRecord | None]] = {}
        self.containers: set[str] = set()
        self.hits: list[str] = []  # cache keys used (their last use is recorded at the end)
        self.mounted = False
        self.cache_sources: list[ImageRecord] | None = None
        self.removals: list[asyncio.Future[None]] = []
        self.received = asyncio.Event()  # the whole context is in
        self.used_args: set[str] = set()
        self.step = 0
        self.total = 0

    # -- the build ----------------------------------------------------------------------
    async def main(self, body: AsyncIterator[bytes]) -> None:
        """The build; a failure is reported after the cleanup, so a client that stops at
        the error line finds no container, mount or temporary file of the build left."""
        failure: dict[str, Any] | None = None
        try:
            os.makedirs(self.ctx, mode=0o700)
            await consume_in_thread(body, lambda s: context.extract(s, self.ctx))
            self.received.set()
            image = await self._build()
            await self._finish(image)
        except BuildFailed as exc:
            detail: dict[str, Any] = {"message": str(exc)}
            if exc.code is not None:
                detail["code"] = exc.code
            failure = {"errorDetail": detail, "error": str(exc)}
        except WharfieError as exc:
            failure = {"errorDetail": {"message": str(exc)}, "error": str(exc)}
        finally:
            await _to_the_end(self._cleanup())
            if failure is not None:
                self.emit(failure)
            self.out.put_nowait(_END)

    async def _build(self) -> ImageRecord:
        text, name = context.read_dockerfile(self.ctx, self.opts.dockerfile)
        df = parser.parse(text, os.path.basename(name) or "Dockerfile")
        for warning in df.warnings:  # as docker's legacy builder prints them
            self.say(f"[WARNING]: {warning}\n")
        if df.warnings:
            self.say(
                "[WARNING]: Empty continuation lines will become errors in a future release.\n"
            )
        context.hide_ignored(self.ctx, name)
        p = plan.plan(df, self.opts.build_args, self.opts.target)
        self.used_args |= p.declared_meta
        self.total = sum(1 + len(p.stages[i].instructions) for i in p.needed)
        self.df, self.plan = df, p
        for i in p.needed:
            self.results[i] = asyncio.get_running_loop().create_future()
        tasks = [asyncio.ensure_future(self._stage(p.stages[i])) for i in p.needed]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        final = self.results[p.target].result()
        if final is None:
            raise BuildFailed("No image was generated. Is your Dockerfile empty?")
        return final

    async def _finish(self, image: ImageRecord) -> None:
        if self.opts.labels:
            image = await self._labels(image)
        unused = unused_build_args(self.opts.build_args, self.used_args)
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        self.emit({"aux": {"ID": image.id}})
        self.say(f"Successfully built {image.id[7:19]}\n")
        for t in self.opts.tags:
            repo, tag = _split_tag(t)
            if image.id != self._tagged(f"{repo}:{tag}"):
                await asyncio.to_thread(self.b.images.tag, image.id, repo, tag)
            self.b.events.emit("image", "tag", image.id, {"name": f"{repo}:{tag}"})
            self.say(f"Successfully tagged {repo}:{tag}\n")
        if self.opts.quiet:
            self.emit({"stream": image.id + "\n"})

    def _tagged(self, ref: str) -> str:
        try:
            return self.b.images.resolve(ref).id
        except NotFound:
            return ""

    async def _labels(self, image: ImageRecord) -> ImageRecord:
        """`--label`s: a last LABEL step, cached like the others (as docker appends one)."""
        st = self._state_of(image)
        st.config["Labels"] = {**(st.config.get("Labels") or {}), **self.opts.labels}
        text = nop("LABEL " + " ".join(f"{k}={v}" for k, v in sorted(self.opts.labels.items())))
        return await self._cached_or(
            st, image, ["meta", text], lambda: self._meta_image(st, image, text)
        )

    async def _cleanup(self) -> None:
        results = await asyncio.gather(*self.removals, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                log.warning("build %s: removing a RUN container failed: %s", self.dir, r)
        for cid in list(self.containers):  # a RUN that failed, or one not yet handed over
            await self.remove_container(cid)
        self.b.cache.touch(self.hits)
        if self.mounted:
            await asyncio.to_thread(unmount_under, self.dir)
        await asyncio.to_thread(shutil.rmtree, self.dir, True)

    # -- stages -------------------------------------------------------------------------
    async def _stage(self, stage: plan.Stage) -> None:
        fut = self.results[stage.index]
        try:
            for dep in stage.deps:
                await asyncio.shield(self.results[dep])
            image = await self._from(stage)
            st = self._state_of(image)
            st.stage = stage.index
            if image is not None:
                image = await self._triggers(st, image)
            for ins in stage.instructions:
                image = await self._step(st, image, ins)
            fut.set_result(image)
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc)
            raise

    async def _from(self, stage: plan.Stage) -> ImageRecord | None:
        words = " ".join(["FROM", stage.base] + ([f"AS {stage.name}"] if stage.name else []))
        self._step_line(words)
        if stage.base_stage is not None:
            image = await asyncio.shield(self.results[stage.base_stage])
        elif stage.base == "scratch":
            image = None
        else:
            image = await self._base_image(stage.base, stage.platform)
        if image is not None:
            self.say(f" ---> {image.id[7:19]}\n")
        return image

    async def _triggers(self, st: StageState, image: ImageRecord) -> ImageRecord | None:
        triggers = list((image.config.get("config") or {}).get("OnBuild") or [])
        if not triggers:
            return image
        self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
        out: ImageRecord | None = image
        for text in triggers:
            ins = parser.parse_trigger(text, self.df.filename)
            out = await self._step(st, out, ins, counted=False)
        return out


async def _cancel_when_gone(
    run: _Run, task: asyncio.Task[None], gone: Callable[[], Awaitable[object]]
) -> None:
    await run.received.wait()  # the request body is read to its end first
    await gone()
    if not task.done():
        log.info("build %s: the client went away; cancelling", run.dir)
        task.cancel()


async def _to_the_end(coro: Awaitable[None]) -> None:
    """Run `coro` to its end even if the caller is cancelled meanwhile (a cleanup); the
    cancellation is passed on afterwards."""
    fut = asyncio.ensure_future(coro)
    cancelled = False
    while True:
        try:
            await asyncio.shield(fut)
            break
        except asyncio.CancelledError:
            if fut.done():  # the cleanup itself was cancelled
                raise
            cancelled = True  # we were: wait on, then pass it on
    if cancelled:
        raise asyncio.CancelledError


def _split_tag(ref: str) -> tuple[str, str]:
    from wharfie.images import reference

    parsed = reference.parse(ref)
    if parsed.digest:
        raise InvalidArgument(f"invalid reference format: {ref} (a tag, not a digest)")
    return parsed.familiar_name(), parsed.tag or "latest"


__all__ = ["STEP_LABEL", "BuildFailed", "BuildOptions", "Builds"]
