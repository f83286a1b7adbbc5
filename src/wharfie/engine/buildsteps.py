"""The steps of a build: each instruction after FROM as an image, from the cache or made.

`Steps` is the half of a build (`engine.builds._Run`) that turns one instruction into an
image: the cache lookup (the index, then --cache-from images), metadata images, layers
from a directory (COPY, ADD, WORKDIR) or from a RUN container's upper dir, the RUN
container itself with its output streamed, and read-only mounted views of images.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from wharfie import snapshots
from wharfie.build import cache as cache_mod
from wharfie.build import layers, parser, plan
from wharfie.build.dispatch import (
    StageState,
    apply_meta,
    declare_args,
    digest,
    run_argv,
    run_history,
)
from wharfie.build.steps import CopyStep, copy_layer, workdir_layer
from wharfie.distribution.auth import AuthConfig
from wharfie.engine.model import Container
from wharfie.errors import NotFound, WharfieError
from wharfie.images.store import ImageRecord
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.builds import Builds

log = logging.getLogger("wharfie.engine")
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
    registry_auth: dict[str, dict[str, Any]] = field(default_factory=dict)  # X-Registry-Config


class Pulls(Protocol):
    """A FROM image that is not here (`engine.images.ImageService`)."""

    async def pull(
        self, ref: str, auth: AuthConfig, platform: str, progress: Any
    ) -> ImageRecord: ...


class RunContainers(Protocol):
    """The containers service as a RUN step uses it (`engine.containers.Containers`)."""

    async def create(
        self, body: Any, name: str, api_version: tuple[int, int]
    ) -> dict[str, Any]: ...

    async def start(self, ref: str) -> bool: ...

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None: ...

    def exit_future(self, c: Container) -> asyncio.Future[dict[str, Any]]: ...


class BuildFailed(WharfieError):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class Steps:
    """Step execution; the build (`_Run`) supplies the state below."""

    b: Builds
    opts: BuildOptions
    out: asyncio.Queue[Any]
    dir: str
    ctx: str
    df: parser.Dockerfile
    plan: plan.Plan
    results: dict[int, asyncio.Future[ImageRecord | None]]
    containers: set[str]
    hits: list[str]
    mounted: bool
    cache_sources: list[ImageRecord] | None
    removals: list[asyncio.Future[None]]
    used_args: set[str]
    step: int
    total: int

    # -- output -------------------------------------------------------------------------
    def emit(self, obj: dict[str, Any]) -> None:
        self.out.put_nowait(jsonio.dumps(obj).encode() + b"\r\n")

    def say(self, text: str) -> None:
        if not self.opts.quiet:
            self.emit({"stream": text})

    def _state_of(self, image: ImageRecord | None) -> StageState:
        return StageState.from_image(
            image.id if image else "",
            image.config if image else {},
            self.opts.build_args,
            self.plan.meta_args,
            self.df.escape,
            self.df.filename,
        )

    async def _base_image(self, ref: str, platform: str = "") -> ImageRecord:
        """A FROM (or --from) image: the local one if it is of the platform asked for,
        else (or with pull=1) pulled."""
        platform = platform or self.opts.platform
        if not self.opts.pull:
            try:
                local = self.b.images.resolve(ref)
                if _of_platform(local, platform):
                    return local
            except NotFound:
                pass
        loop = asyncio.get_running_loop()

        def progress(msg: dict[str, Any]) -> None:
            if not self.opts.quiet:
                loop.call_soon_threadsafe(self.emit, msg)

        image = await self.b.pulls.pull(ref, self._auth_for(ref), platform, progress)
        if not _of_platform(image, platform):
            cfg = image.config
            actual = "/".join(
                str(cfg.get(k)) for k in ("os", "architecture", "variant") if cfg.get(k)
            )
            raise NotFound(
                f"image with reference {ref} was found but does not match the "
                f"specified platform: wanted {platform}, actual: {actual}"
            )
        return image

    def _auth_for(self, ref: str) -> AuthConfig:
        """The credentials the client sent (X-Registry-Config) for the registry of `ref`."""
        from wharfie.distribution.auth import normalize_server
        from wharfie.images import reference

        domain = reference.parse(ref).domain
        for server, entry in self.opts.registry_auth.items():
            if normalize_server(server) == domain and isinstance(entry, dict):
                return AuthConfig.from_json(entry)
        return AuthConfig()

    def _step_line(self, text: str, counted: bool = True) -> None:
        if counted:
            self.step += 1
            self.say(f"Step {self.step}/{self.total} : {text}")
            self.say("\n")

    # -- steps --------------------------------------------------------------------------
    async def _step(
        self,
        st: StageState,
        image: ImageRecord | None,
        ins: parser.Instruction,
        counted: bool = True,
    ) -> ImageRecord | None:
        self._step_line(ins.original, counted)
        return await self._dispatch(st, image, ins)

    async def _dispatch(
        self, st: StageState, image: ImageRecord | None, ins: parser.Instruction
    ) -> ImageRecord | None:
        if ins.cmd == "arg":
            text = declare_args(st, ins)
            self.used_args |= st.used_args
            return await self._cached_or(
                st, image, ["arg", text], lambda: self._meta_image(st, image, text)
            )
        if ins.cmd in ("copy", "add"):
            return await self._copy(st, image, ins)
        if ins.cmd == "run":
            return await self._run(st, image, ins)
        text = apply_meta(st, ins)
        if ins.cmd == "workdir":
            return await self._workdir(st, image, text)
        return await self._cached_or(
            st, image, ["meta", text], lambda: self._meta_image(st, image, text)
        )

    async def _cached_or(
        self, st: StageState, image: ImageRecord | None, key_parts: list[Any], make: Any
    ) -> ImageRecord:
        """The step's image from the cache (the index, then --cache-from images), else
        `make()`'s. key_parts: [kind, history text, more...]. The key chains from the
        previous step's key, not from its image: a `--no-cache` rebuild of the same steps
        makes new images without breaking the chains that lead through the old ones."""
        key = digest([st.key, *key_parts])
        st.key = key
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

    async def _cache_from(
        self, st: StageState, parent: ImageRecord | None, text: str
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
            layers_of = layers.parent_layers(self.b.images, src)
            lay = layers.parent_layers(self.b.images, parent)
            diff_ids = list(st.diff_ids)
            if diff_id:
                lay = [*lay, layers_of[src.diff_ids.index(diff_id)]]
                diff_ids.append(diff_id)
            config = layers.image_config(
                src.config, dict(st.config), diff_ids, [*st.history, entry], st.author
            )
            return await asyncio.to_thread(
                layers.make_image, self.b.images, config, parent.id if parent else "", lay
            )
        return None

    def _sources(self) -> list[ImageRecord]:
        if self.cache_sources is None:
            self.cache_sources = []
            for ref in self.opts.cache_from:
                try:
                    self.cache_sources.append(self.b.images.resolve(ref))
                except NotFound:
                    continue  # as docker: a missing cache source is skipped
        return self.cache_sources

    def _cache_hit(self, key: str) -> ImageRecord | None:
        image_id = self.b.cache.get(key)
        if image_id is None:
            return None
        try:
            return self.b.images.get(image_id)
        except NotFound:
            return None

    def _adopt(self, st: StageState, image: ImageRecord) -> None:
        """Take a cached image's config and history (the state moves to it). Unlike a FROM
        image's, its OnBuild triggers are this stage's own and stay."""
        fresh = self._state_of(image)
        st.config, st.history, st.diff_ids = fresh.config, fresh.history, fresh.diff_ids
        if (image.config.get("config") or {}).get("OnBuild"):
            st.config["OnBuild"] = list(image.config["config"]["OnBuild"])
        st.image_id = image.id

    async def _meta_image(
        self, st: StageState, parent: ImageRecord | None, text: str
    ) -> ImageRecord:
        st.add_history(text, True, layers.now())
        config = layers.image_config(
            parent.config if parent else {}, st.config, st.diff_ids, st.history, st.author
        )
        lay = layers.parent_layers(self.b.images, parent)
        return await asyncio.to_thread(
            layers.make_image, self.b.images, config, parent.id if parent else "", lay
        )

    async def _layer_image(
        self, st: StageState, parent: ImageRecord | None, upper: str, text: str
    ) -> ImageRecord:
        def work() -> ImageRecord:
            diff_id, lay = layers.add_layer(self.b.images, parent, upper)
            st.diff_ids = [*st.diff_ids, diff_id]
            st.add_history(text, False, layers.now())
            config = layers.image_config(
                parent.config if parent else {}, st.config, st.diff_ids, st.history, st.author
            )
            return layers.make_image(self.b.images, config, parent.id if parent else "", lay)

        return await asyncio.to_thread(work)

    # -- WORKDIR ------------------------------------------------------------------------
    async def _workdir(self, st: StageState, image: ImageRecord | None, text: str) -> ImageRecord:
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
    async def _copy(
        self, st: StageState, image: ImageRecord | None, ins: parser.Instruction
    ) -> ImageRecord:
        src_root, src_image = await self._copy_root(ins, st.stage)
        with self._view(src_image) as mounted:
            from_other = src_image is not None or ins.flag("from") is not None
            step = CopyStep.prepare(
                st, ins, mounted or src_root, self._tmpdir("src"), from_image=from_other
            )
            src_hash = await asyncio.to_thread(step.source_hash)

            async def make() -> ImageRecord:
                upper = self._tmpdir("copy")
                with self._view(image) as root:
                    await asyncio.to_thread(copy_layer, step, upper, root)
                return await self._layer_image(st, image, upper, step.history)

            text = step.describe(src_hash)
            return await self._cached_or(st, image, ["copy", text, src_hash], make)

    async def _copy_root(
        self, ins: parser.Instruction, stage: int
    ) -> tuple[str, ImageRecord | None]:
        """Where COPY reads: the context, an earlier stage's image, or an image."""
        ref = ins.flag("from")
        if ref is None:
            return self.ctx, None
        ref = self._state_word(ref)
        before = stage if stage >= 0 else len(self.plan.stages)
        idx = plan.stage_ref(self.plan.stages, plan.stage_names(self.plan.stages), ref, before)
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
    async def _run(
        self, st: StageState, image: ImageRecord | None, ins: parser.Instruction
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
                upper = self.b.paths.rw_upper(cid)
                return await self._layer_image(st, image, upper, text)
            finally:
                self._remove_later(cid)

        return await self._cached_or(st, image, ["run", text, sorted(env.items())], make)

    async def _run_container(
        self, st: StageState, image: ImageRecord, argv: list[str], args: dict[str, str]
    ) -> str:
        cfg = st.config
        env = [*(cfg.get("Env") or []), *(f"{k}={v}" for k, v in args.items())]
        host = {"NetworkMode": self.opts.network_mode or "bridge", **self.opts.host_config}
        body = {
            "Image": image.id,
            "Cmd": argv,
            "Entrypoint": [""],
            "Env": env,
            "WorkingDir": cfg.get("WorkingDir") or "",
            "User": cfg.get("User") or "",
            "Healthcheck": {"Test": ["NONE"]},
            "Labels": {STEP_LABEL: "1"},
            "HostConfig": host,
            "AttachStdout": True,
            "AttachStderr": True,
        }
        made = await self.b.containers.create(body, "", (1, 44))
        cid = str(made["Id"])
        self.containers.add(cid)
        self.say(f" ---> Running in {cid[:12]}\n")
        c = self.b.index.find(cid)
        await self.b.containers.start(cid)
        code = await self._stream_output(c)
        if code != 0:
            raise BuildFailed(
                f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code
            )
        return cid

    async def _stream_output(self, c: Any) -> int:
        from wharfie import logs

        waiter = self.b.containers.exit_future(c)
        path = str(c.doc["LogPath"])
        loop = asyncio.get_running_loop()

        def pump() -> None:
            # a short poll: the follower notices the exit (and a log that never appears,
            # for a silent RUN) within 10 ms, where the default 50 ms cost every RUN ~45 ms
            for _stream, data, _t in logs.follow(path, poll=0.01, stop=lambda: waiter.done()):
                if not self.opts.quiet:
                    text = data.decode(errors="replace")
                    loop.call_soon_threadsafe(self.emit, {"stream": text})

        reader = loop.run_in_executor(None, pump)
        # a cancelled build stops waiting here; the follower ends with the container
        reader.add_done_callback(_log_failure)
        result = await asyncio.shield(waiter)
        await reader
        return int(result["StatusCode"])

    def _remove_later(self, cid: str) -> None:
        """Remove a finished RUN container while the build goes on (the build's cleanup
        waits for every removal before the last line is sent)."""
        self.say(f"Removing intermediate container {cid[:12]}\n")
        self.removals.append(asyncio.ensure_future(self.remove_container(cid, quiet=True)))

    async def remove_container(self, cid: str, quiet: bool = False) -> None:
        try:
            await self.b.containers.remove(cid, force=True, volumes=False)
        except NotFound:
            return
        finally:
            self.containers.discard(cid)
        if not quiet:
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

    def __init__(self, run: Steps, image: ImageRecord | None) -> None:
        self.run = run
        self.image = image
        self.target = ""

    def __enter__(self) -> str | None:
        if self.image is None or not self.image.diff_ids:
            return None
        dirs = self.run.b.images.layer_dirs(self.image)
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


def _log_failure(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("build: following a RUN's output failed: %s", fut.exception())


def unmount_under(path: str) -> None:
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
