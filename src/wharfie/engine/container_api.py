"""The engine's side of the container and exec routes (`api.backends.ContainerBackend`,
`ExecBackend`): each call finds the container and hands it to the service that owns the
work (lifecycle, listing, files, stats, execs, the monitor for resize and attach)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Protocol

from wharfie.engine import present_container, streams
from wharfie.engine.containers import Containers
from wharfie.engine.execs import Exec, Execs
from wharfie.engine.index import ContainerIndex
from wharfie.engine.lifecycle_state import EventSink, notify
from wharfie.engine.listing import ContainerListing
from wharfie.engine.model import Container
from wharfie.engine.monitorlink import RuntimeClient
from wharfie.engine.runtimes import Runtimes
from wharfie.engine.streams import LogQuery
from wharfie.errors import Conflict
from wharfie.monitor.client import AttachOptions


class ContainerFiles(Protocol):
    def changes(self, c: Container) -> list[dict[str, Any]]: ...

    def export(self, c: Container) -> AsyncIterator[bytes]: ...

    def stat_header(self, c: Container, path: str) -> str: ...

    async def get_archive(self, c: Container, path: str) -> tuple[str, AsyncIterator[bytes]]: ...

    async def put_archive(
        self,
        c: Container,
        path: str,
        body: AsyncIterator[bytes],
        no_overwrite: bool,
        copy_uid_gid: bool,
    ) -> None: ...

    async def commit(
        self,
        c: Container,
        *,
        reference: str | None,
        author: str,
        comment: str,
        changes: list[str],
        config: dict[str, Any] | None,
        pause: bool,
    ) -> str: ...


class Stats(Protocol):
    def stream(self, c: Container, stream: bool, one_shot: bool) -> AsyncIterator[bytes]: ...


class Pruner(Protocol):
    async def prune_containers(self, raw_filters: str) -> dict[str, Any]: ...


Top = Callable[[Container, str], Coroutine[Any, Any, dict[str, Any]]]


class ContainerAPI:
    def __init__(
        self,
        *,
        index: ContainerIndex,
        lifecycle: Containers,
        listing: ContainerListing,
        runtimes: Runtimes,
        runtime: RuntimeClient,
        events: EventSink,
        files: ContainerFiles,
        stats: Stats,
        top: Top,
        execs: Execs,
        pruner: Pruner,
        remove_link: Callable[[str], Any],
    ) -> None:
        self.index = index
        self.lifecycle = lifecycle
        self.listing = listing
        self.runtimes = runtimes
        self.rt = runtime
        self.events = events
        self.files = files
        self.stats_reader = stats
        self.top_of = top
        self.execs = execs
        self.pruner = pruner
        self.unlink = remove_link

    # -- lookup and listing --
    def find(self, ref: str) -> Container:
        return self.index.find(ref)

    def list_containers(
        self, all_: bool, limit: int, raw_filters: str, size: bool
    ) -> list[dict[str, Any]]:
        return self.listing.list(all_, limit, raw_filters, size)

    async def inspect(self, ref: str, size: bool) -> dict[str, Any]:
        c = self.index.find(ref)
        sizes = self.listing.sizes(c) if size else None
        runtime = str(c.host_config.get("Runtime") or "")
        warnings = await asyncio.to_thread(self.runtimes.warnings, runtime) if runtime else []
        return present_container.inspect_reply(c, sizes, warnings)

    # -- lifecycle --
    async def create(self, body: Any, name: str, api_version: tuple[int, int]) -> dict[str, Any]:
        return await self.lifecycle.create(body, name, api_version)

    async def start(self, ref: str, restore: str | None = None) -> bool:
        return await self.lifecycle.start(ref, restore)

    async def stop(self, ref: str, timeout: int | None, signal: str | None) -> bool:
        return await self.lifecycle.stop(ref, timeout, signal)

    async def restart(self, ref: str, timeout: int | None, signal: str | None) -> None:
        await self.lifecycle.restart(ref, timeout, signal)

    async def kill(self, ref: str, signal: str) -> None:
        await self.lifecycle.kill(ref, signal)

    async def pause(self, ref: str) -> None:
        await self.lifecycle.pause(ref)

    async def unpause(self, ref: str) -> None:
        await self.lifecycle.unpause(ref)

    async def wait(self, ref: str, condition: str) -> asyncio.Future[dict[str, Any]]:
        return await self.lifecycle.wait(ref, condition)

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None:
        await self.lifecycle.remove(ref, force=force, volumes=volumes)
        self.execs.forget_container(ref)

    def remove_link(self, ref: str) -> None:
        self.unlink(ref)

    def rename(self, ref: str, new: str) -> None:
        self.lifecycle.rename(ref, new)

    async def update(self, ref: str, body: Any) -> dict[str, Any]:
        return await self.lifecycle.update(ref, body)

    async def prune(self, raw_filters: str) -> dict[str, Any]:
        return await self.pruner.prune_containers(raw_filters)

    # -- streams --
    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.index.find(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        await self.rt.resize(c.id, height, width)

    def attached(self, c: Container) -> None:
        notify(c, "attach", self.events)

    async def attach(self, c: Container, sock_fd: int, opts: AttachOptions) -> None:
        await self.rt.attach(c.id, sock_fd, opts)

    def logs(self, c: Container, q: LogQuery) -> Iterator[bytes]:
        return streams.log_chunks(c, q)

    async def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        return await self.top_of(self.index.find(ref), ps_args)

    def stats(self, ref: str, stream: bool, one_shot: bool) -> AsyncIterator[bytes]:
        return self.stats_reader.stream(self.index.find(ref), stream, one_shot)

    # -- files --
    async def changes(self, ref: str) -> list[dict[str, Any]]:
        c = self.index.find(ref)
        return await asyncio.to_thread(self.files.changes, c)

    def export(self, ref: str) -> AsyncIterator[bytes]:
        return self.files.export(self.index.find(ref))

    async def stat_path(self, ref: str, path: str) -> str:
        c = self.index.find(ref)
        return await asyncio.to_thread(self.files.stat_header, c, path)

    async def get_archive(self, ref: str, path: str) -> tuple[str, AsyncIterator[bytes]]:
        return await self.files.get_archive(self.index.find(ref), path)

    async def put_archive(
        self,
        ref: str,
        path: str,
        body: AsyncIterator[bytes],
        no_overwrite: bool,
        copy_uid_gid: bool,
    ) -> None:
        c = self.index.find(ref)
        await self.files.put_archive(c, path, body, no_overwrite, copy_uid_gid)

    async def commit(
        self,
        ref: str,
        *,
        reference: str | None,
        author: str,
        comment: str,
        changes: list[str],
        config: dict[str, Any] | None,
        pause: bool,
    ) -> str:
        return await self.files.commit(
            self.index.find(ref),
            reference=reference,
            author=author,
            comment=comment,
            changes=changes,
            config=config,
            pause=pause,
        )


class ExecAPI:
    """The exec routes' backend: the exec service, and the monitor for a resize."""

    def __init__(self, *, execs: Execs, runtime: RuntimeClient) -> None:
        self.execs = execs
        self.rt = runtime

    def create(self, ref: str, body: Any) -> str:
        return self.execs.create(ref, body)

    def get(self, eid: str) -> Exec:
        return self.execs.get(eid)

    def check_startable(self, ex: Exec) -> None:
        self.execs.check_startable(ex)

    async def start(
        self,
        ex: Exec,
        sock_fd: int | None,
        console: tuple[int, int] | None,
        stream_tty: bool | None = None,
    ) -> int:
        return await self.execs.start(ex, sock_fd, console, stream_tty=stream_tty)

    async def resize(self, eid: str, height: int, width: int) -> None:
        ex = self.execs.get(eid)
        await self.rt.resize(ex.id, height, width)

    async def inspect(self, eid: str) -> dict[str, Any]:
        ex = self.execs.get(eid)
        await self.execs.settle(ex)
        return ex.inspect()
