"""Dockerfile builds: the executor behind `POST /build` (the legacy builder's API).

The pure parts live in `wharfie.build` (parser, substitution, planner, per-instruction
config changes, cache keys); this module runs a plan: each step makes an image (a new
layer for RUN, COPY, ADD and a new WORKDIR, the same layers with a new config for the
others), looked up first in the build cache by its key. RUN runs in a real container
(the engine's own create/start/wait), its output streamed live, and its upper dir becomes
the layer. COPY/ADD fill a fresh directory that becomes the layer. Stages whose
dependencies are built run concurrently. A failing build tags nothing and removes its
containers, mounts and temporary files; the steps that succeeded stay in the cache.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wharfie import snapshots
from wharfie.build import cache as cache_mod
from wharfie.build import context, layers, parser, plan
from wharfie.build.dispatch import (
    StageState,
    apply_meta,
    declare_args,
    digest,
    nop,
    run_argv,
    run_history,
    unused_build_args,
)
from wharfie.build.steps import CopyStep, copy_layer, workdir_layer
from wharfie.engine.files import consume_in_thread
from wharfie.errors import FailedPrecondition, InvalidArgument, NotFound, WharfieError
from wharfie.images.store import ImageRecord
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

_END = object()
STEP_LABEL = "org.wharfie.build.step"  # on RUN containers, so a restart can remove leftovers


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    dockerfile: str = ""
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    quiet: bool = False
    rm: bool = True
    force_rm: bool = False
    network_mode: str = ""
    cache_from: list[str] = field(default_factory=list)
    platform: str = ""
    host_config: dict[str, Any] = field(default_factory=dict)


class BuildFailed(WharfieError):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class Builds:
    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.cache = cache_mod.BuildCache(engine.store.db, engine.store.lock)
        self.root = os.path.join(engine.config.data_root, "builds")
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        for leftover in os.listdir(self.root):  # from a daemon that died mid-build
            _unmount_under(os.path.join(self.root, leftover))
            shutil.rmtree(os.path.join(self.root, leftover), ignore_errors=True)

    async def recover(self) -> None:
        """Remove the RUN containers of builds a daemon that died mid-build left."""
        for c in list(self.e.containers.values()):
            if (c.config.get("Labels") or {}).get(STEP_LABEL):
                await self.e.ctr.remove(c.id, force=True, volumes=False)

    def check(self, opts: BuildOptions) -> None:
        """What can be refused before the build starts (a 400 rather than a stream error)."""
        for t in opts.tags:
            _split_tag(t)

    async def build(self, opts: BuildOptions, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The JSON lines of a build (Docker's legacy builder stream)."""
        out: asyncio.Queue[Any] = asyncio.Queue()
        run = _Run(self, opts, out)
        task = asyncio.get_running_loop().create_task(run.main(body))
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
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def prune(self, keep_storage: int, everything: bool) -> dict[str, Any]:
        entries = cache_mod.pick_for_prune(self.cache.entries(), keep_storage, everything)
        self.cache.delete([e.key for e in entries])
        reclaimed = 0
        for e in entries:
            reclaimed += self._drop_image(e.image_id, e.size)
        return {"CachesDeleted": [e.key for e in entries] or None,
                "SpaceReclaimed": reclaimed}

    def _drop_image(self, image_id: str, size: int) -> int:
        """Remove a cache image nothing else holds (no tag, no child, no container)."""
        images = self.e.images
        try:
            rec = images.get(image_id)
        except NotFound:
            return 0
        if rec.repo_tags or any(r.parent == image_id for r in images.list(all=True)):
            return 0
        if any(c.doc["Image"] == image_id for c in self.e.containers.values()):
            return 0
        try:
            images.remove(image_id, force=False, noprune=True, users=lambda _i: [])
        except WharfieError:
            return 0
        return size


class _Run:
    """One build: its options, output queue, temporary dir and stage results."""

    def __init__(self, builds: Builds, opts: BuildOptions, out: asyncio.Queue[Any]) -> None:
        self.b = builds
        self.e = builds.e
        self.opts = opts
        self.out = out
        self.dir = os.path.join(builds.root, secrets.token_hex(8))
        self.ctx = os.path.join(self.dir, "context")
        self.results: dict[int, asyncio.Future[ImageRecord | None]] = {}
        self.containers: set[str] = set()
        self.hits: list[str] = []  # cache keys used (their last use is recorded at the end)
        self.mounted = False
        self.cache_sources: list[ImageRecord] | None = None
        self.used_args: set[str] = set()
        self.step = 0
        self.total = 0

    # -- output -------------------------------------------------------------------------
    def emit(self, obj: dict[str, Any]) -> None:
        self.out.put_nowait(jsonio.dumps(obj).encode() + b"\r\n")

    def say(self, text: str) -> None:
        if not self.opts.quiet:
            self.emit({"stream": text})

    # -- the build ----------------------------------------------------------------------
    async def main(self, body: AsyncIterator[bytes]) -> None:
        """The build; a failure is reported after the cleanup, so a client that stops at
        the error line finds no container, mount or temporary file of the build left."""
        failure: dict[str, Any] | None = None
        try:
            os.makedirs(self.ctx, mode=0o700)
            await consume_in_thread(body, lambda s: context.extract(s, self.ctx))
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
            await self._cleanup()
            if failure is not None:
                self.emit(failure)
            self.out.put_nowait(_END)

    async def _build(self) -> ImageRecord:
        text, name = context.read_dockerfile(self.ctx, self.opts.dockerfile)
        df = parser.parse(text, os.path.basename(name) or "Dockerfile")
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
                await asyncio.to_thread(self.e.images.tag, image.id, repo, tag)
            self.e.events.emit("image", "tag", image.id, {"name": f"{repo}:{tag}"})
            self.say(f"Successfully tagged {repo}:{tag}\n")
        if self.opts.quiet:
            self.emit({"stream": image.id + "\n"})

    def _tagged(self, ref: str) -> str:
        try:
            return self.e.images.resolve(ref).id
        except NotFound:
            return ""

    async def _labels(self, image: ImageRecord) -> ImageRecord:
        st = self._state_of(image)
        st.config["Labels"] = {**(st.config.get("Labels") or {}), **self.opts.labels}
        text = nop("LABEL " + " ".join(f"{k}={v}" for k, v in sorted(self.opts.labels.items())))
        return await self._meta_image(st, image, text)

    async def _cleanup(self) -> None:
        for cid in list(self.containers):
            await self._remove_container(cid)
        self.b.cache.touch(self.hits)
        if self.mounted:
            await asyncio.to_thread(_unmount_under, self.dir)
        await asyncio.to_thread(shutil.rmtree, self.dir, True)

    # -- stages -------------------------------------------------------------------------
    async def _stage(self, stage: plan.Stage) -> None:
        fut = self.results[stage.index]
        try:
            for dep in stage.deps:
                await asyncio.shield(self.results[dep])
            image = await self._from(stage)
            st = self._state_of(image)
            if image is not None:
                image = await self._triggers(st, image)
            for ins in stage.instructions:
                image = await self._step(st, image, ins)
            fut.set_result(image)
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc)
            raise

    def _state_of(self, image: ImageRecord | None) -> StageState:
        return StageState.from_image(
            image.id if image else "", image.config if image else {}, self.opts.build_args,
            self.plan.meta_args, self.df.escape, self.df.filename,
        )

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

    async def _base_image(self, ref: str, platform: str = "") -> ImageRecord:
        """A FROM (or --from) image: the local one if it is of the platform asked for,
        else (or with pull=1) pulled."""
        platform = platform or self.opts.platform
        if not self.opts.pull:
            try:
                local = self.e.images.resolve(ref)
                if _of_platform(local, platform):
                    return local
            except NotFound:
                pass
        from wharfie.engine.images import AuthConfig, service

        loop = asyncio.get_running_loop()

        def progress(msg: dict[str, Any]) -> None:
            if not self.opts.quiet:
                loop.call_soon_threadsafe(self.emit, msg)

        image = await service(self.e).pull(ref, AuthConfig(), platform, progress)
        if not _of_platform(image, platform):
            cfg = image.config
            actual = "/".join(str(cfg.get(k)) for k in ("os", "architecture", "variant")
                              if cfg.get(k))
            raise NotFound(f"image with reference {ref} was found but does not match the "
                           f"specified platform: wanted {platform}, actual: {actual}")
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

    def _step_line(self, text: str, counted: bool = True) -> None:
        if counted:
            self.step += 1
            self.say(f"Step {self.step}/{self.total} : {text}")
            self.say("\n")

    # -- steps --------------------------------------------------------------------------
    async def _step(
        self, st: StageState, image: ImageRecord | None, ins: parser.Instruction,
        counted: bool = True,
    ) -> ImageRecord | None:
        self._step_line(ins.original, counted)
        try:
            return await self._dispatch(st, image, ins)
        except BuildFailed:
            raise
        except WharfieError as exc:
            raise type(exc)(f"{exc}") from exc

    async def _dispatch(
        self, st: StageState, image: ImageRecord | None, ins: parser.Instruction
    ) -> ImageRecord | None:
        if ins.cmd == "arg":
            text = declare_args(st, ins)
            self.used_args |= st.used_args
            return await self._cached_or(st, image, ["arg", text], lambda: self._meta_image(
                st, image, text))
        if ins.cmd in ("copy", "add"):
            return await self._copy(st, image, ins)
        if ins.cmd == "run":
            return await self._run(st, image, ins)
        text = apply_meta(st, ins)
        if ins.cmd == "workdir":
            return await self._workdir(st, image, text)
        return await self._cached_or(st, image, ["meta", text], lambda: self._meta_image(
            st, image, text))

    async def _cached_or(self, st: StageState, image: ImageRecord | None, key_parts: list[Any],
                         make: Any) -> ImageRecord:
        """The step's image from the cache (the index, then --cache-from images), else
        `make()`'s. key_parts: [kind, history text, more...]."""
        key = digest([image.id if image else "scratch", *key_parts])
        hit = None
        if not self.opts.no_cache:
            hit = self._cache_hit(key) or await self._cache_from(st, image, str(key_parts[1]))
        if hit is not None:
            self.say(" ---> Using cache\n")
            self.hits.append(key)
            self._adopt(st, hit)
        else:
            hit = await make()
            own = max(hit.size - (image.size if image else 0), 0)
            self.b.cache.put(key, hit.id, own, str(key_parts[1])[:200])
        self.say(f" ---> {hit.id[7:19]}\n")
        return hit

    async def _cache_from(self, st: StageState, parent: ImageRecord | None, text: str
                          ) -> ImageRecord | None:
        """A step found in a --cache-from image's history (moby's ImageCache): the source
        starts with the parent (layers and history) and its next history entry is this step.
        The image made has the parent's layers plus the source's layer of that entry."""
        if not self.opts.cache_from:
            return None
        for src in self._sources():
            found = cache_mod.from_history(src.config, st.history, st.diff_ids, text)
            if found is None:
                continue
            entry, diff_id = found
            layers_of = layers.parent_layers(self.e.images, src)
            lay = layers.parent_layers(self.e.images, parent)
            diff_ids = list(st.diff_ids)
            if diff_id:
                lay = [*lay, layers_of[src.diff_ids.index(diff_id)]]
                diff_ids.append(diff_id)
            config = layers.image_config(src.config, dict(st.config), diff_ids,
                                         [*st.history, entry], st.author)
            return await asyncio.to_thread(
                layers.make_image, self.e.images, config, parent.id if parent else "", lay)
        return None

    def _sources(self) -> list[ImageRecord]:
        if self.cache_sources is None:
            self.cache_sources = []
            for ref in self.opts.cache_from:
                try:
                    self.cache_sources.append(self.e.images.resolve(ref))
                except NotFound:
                    continue  # as docker: a missing cache source is skipped
        return self.cache_sources

    def _cache_hit(self, key: str) -> ImageRecord | None:
        image_id = self.b.cache.get(key)
        if image_id is None:
            return None
        try:
            return self.e.images.get(image_id)
        except NotFound:
            return None

    def _adopt(self, st: StageState, image: ImageRecord) -> None:
        """Take a cached image's config and history (the state moves to it)."""
        fresh = self._state_of(image)
        st.config, st.history, st.diff_ids = fresh.config, fresh.history, fresh.diff_ids
        st.image_id = image.id

    async def _meta_image(self, st: StageState, parent: ImageRecord | None, text: str
                          ) -> ImageRecord:
        st.add_history(text, True, layers.now())
        config = layers.image_config(parent.config if parent else {}, st.config, st.diff_ids,
                                     st.history, st.author)
        lay = layers.parent_layers(self.e.images, parent)
        return await asyncio.to_thread(
            layers.make_image, self.e.images, config, parent.id if parent else "", lay)

    async def _layer_image(self, st: StageState, parent: ImageRecord | None, upper: str,
                           text: str) -> ImageRecord:
        def work() -> ImageRecord:
            diff_id, lay = layers.add_layer(self.e.images, parent, upper)
            st.diff_ids = [*st.diff_ids, diff_id]
            st.add_history(text, False, layers.now())
            config = layers.image_config(parent.config if parent else {}, st.config,
                                         st.diff_ids, st.history, st.author)
            return layers.make_image(self.e.images, config, parent.id if parent else "", lay)

        return await asyncio.to_thread(work)

    # -- WORKDIR ------------------------------------------------------------------------
    async def _workdir(self, st: StageState, image: ImageRecord | None, text: str
                       ) -> ImageRecord:
        path = str(st.config["WorkingDir"])

        async def make() -> ImageRecord:
            upper = self._tmpdir("wd")
            with self._view(image) as root:
                made = await asyncio.to_thread(workdir_layer, upper, root, path)
            if not made:
                return await self._meta_image(st, image, text)
            return await self._layer_image(st, image, upper, text)

        return await self._cached_or(st, image, ["workdir", text], make)

    # -- COPY / ADD ---------------------------------------------------------------------
    async def _copy(self, st: StageState, image: ImageRecord | None, ins: parser.Instruction
                    ) -> ImageRecord:
        src_root, src_image = await self._copy_root(ins)
        with self._view(src_image) as mounted:
            from_other = src_image is not None or ins.flag("from") is not None
            step = CopyStep.prepare(st, ins, mounted or src_root, self._tmpdir("src"),
                                    from_image=from_other)
            src_hash = await asyncio.to_thread(step.source_hash)

            async def make() -> ImageRecord:
                upper = self._tmpdir("copy")
                with self._view(image) as root:
                    await asyncio.to_thread(copy_layer, step, upper, root)
                return await self._layer_image(st, image, upper, step.history)

            text = step.describe(src_hash)
            return await self._cached_or(st, image, ["copy", text, src_hash], make)

    async def _copy_root(self, ins: parser.Instruction) -> tuple[str, ImageRecord | None]:
        ref = ins.flag("from")
        if ref is None:
            return self.ctx, None
        ref = self._state_word(ref)
        idx = plan.stage_ref(self.plan.stages, plan.stage_names(self.plan.stages), ref,
                             len(self.plan.stages))
        if idx is not None:
            image = await asyncio.shield(self.results[idx])
            return (self._tmpdir("empty"), None) if image is None else ("", image)
        try:
            return "", await self._base_image(ref)
        except NotFound as exc:
            raise NotFound(f"invalid from flag value {ref}: {exc}") from exc

    def _state_word(self, text: str) -> str:
        from wharfie.build import shell

        return shell.word(text, self.plan.meta_args, self.df.escape)

    # -- RUN ----------------------------------------------------------------------------
    async def _run(self, st: StageState, image: ImageRecord | None, ins: parser.Instruction
                   ) -> ImageRecord:
        argv = run_argv(st, ins)
        text = run_history(st, argv)
        env = dict(st.run_args())

        async def make() -> ImageRecord:
            if image is None or not image.diff_ids:
                raise BuildFailed(
                    f"The command '{' '.join(argv)}' cannot run: the image is empty (FROM scratch)"
                )
            cid = await self._run_container(st, image, argv, env)
            try:
                upper = os.path.join(self.e.container_dir(cid), "rw", "upper")
                return await self._layer_image(st, image, upper, text)
            finally:
                await self._remove_container(cid)

        return await self._cached_or(st, image, ["run", text, sorted(env.items())], make)

    async def _run_container(self, st: StageState, image: ImageRecord, argv: list[str],
                             args: dict[str, str]) -> str:
        cfg = st.config
        env = [*(cfg.get("Env") or []), *(f"{k}={v}" for k, v in args.items())]
        host = {"NetworkMode": self.opts.network_mode or "bridge", **self.opts.host_config}
        body = {
            "Image": image.id, "Cmd": argv, "Entrypoint": [""], "Env": env,
            "WorkingDir": cfg.get("WorkingDir") or "", "User": cfg.get("User") or "",
            "Healthcheck": {"Test": ["NONE"]}, "Labels": {STEP_LABEL: "1"}, "HostConfig": host,
            "AttachStdout": True, "AttachStderr": True,
        }
        made = await self.e.ctr.create(body, "", (1, 44))
        cid = str(made["Id"])
        self.containers.add(cid)
        self.say(f" ---> Running in {cid[:12]}\n")
        c = self.e.containers[cid]
        await self.e.ctr.start(cid)
        code = await self._stream_output(c)
        if code != 0:
            raise BuildFailed(
                f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code)
        return cid

    async def _stream_output(self, c: Any) -> int:
        from wharfie import logs

        waiter = self.e.ctr.exit_future(c)
        path = str(c.doc["LogPath"])
        loop = asyncio.get_running_loop()

        def pump() -> None:
            for _stream, data, _t in logs.follow(path, stop=lambda: waiter.done()):
                if not self.opts.quiet:
                    text = data.decode(errors="replace")
                    loop.call_soon_threadsafe(self.emit, {"stream": text})

        reader = loop.run_in_executor(None, pump)
        result = await asyncio.shield(waiter)
        await reader
        return int(result["StatusCode"])

    async def _remove_container(self, cid: str) -> None:
        self.containers.discard(cid)
        try:
            await self.e.ctr.remove(cid, force=True, volumes=False)
        except NotFound:
            return
        self.say(f"Removing intermediate container {cid[:12]}\n")

    # -- scratch space and mounted views ----------------------------------------------
    def _tmpdir(self, kind: str) -> str:
        path = os.path.join(self.dir, f"{kind}-{secrets.token_hex(4)}")
        os.makedirs(path, mode=0o755)
        return path

    def _view(self, image: ImageRecord | None) -> _View:
        return _View(self, image)


class _View:
    """A read-only mount of an image's layers (None for no image or no layers)."""

    def __init__(self, run: _Run, image: ImageRecord | None) -> None:
        self.run = run
        self.image = image
        self.target = ""

    def __enter__(self) -> str | None:
        if self.image is None or not self.image.diff_ids:
            return None
        dirs = self.run.e.images.layer_dirs(self.image)
        if len(dirs) == 1:
            return str(dirs[0])
        self.target = self.run._tmpdir("view")
        self.run.mounted = True
        snapshots.mount(snapshots.overlay(dirs, "", ""), self.target)
        return self.target

    def __exit__(self, *exc: object) -> None:
        if self.target:
            snapshots.unmount(self.target)
            os.rmdir(self.target)


def _unmount_under(path: str) -> None:
    """Unmount what a build left mounted under `path` (deepest first)."""
    prefix = os.path.realpath(path) + "/"
    try:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        return
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        try:
            snapshots.unmount(point)
        except WharfieError:
            pass  # already gone


def _of_platform(image: ImageRecord, platform: str) -> bool:
    """Whether `image` is for `platform` ("os/arch[/variant]", "" for any)."""
    if not platform:
        return True
    os_name, _, rest = platform.lower().partition("/")
    arch, _, variant = rest.partition("/")
    cfg = image.config
    if os_name and os_name != str(cfg.get("os") or "linux"):
        return False
    if arch and arch != str(cfg.get("architecture") or ""):
        return False
    return not variant or variant == str(cfg.get("variant") or variant)


def _split_tag(ref: str) -> tuple[str, str]:
    from wharfie.images import reference

    parsed = reference.parse(ref)
    if parsed.digest:
        raise InvalidArgument(f"invalid reference format: {ref} (a tag, not a digest)")
    return parsed.familiar_name(), parsed.tag or "latest"


__all__ = ["BuildFailed", "BuildOptions", "Builds", "FailedPrecondition"]
