"""What the routes need of the engine: one narrow interface per resource, in the spirit
of moby's router `Backend` interfaces. Routes parse, make calls on these and render; they
never reach the monitor, the disk layout or a service's internals. The engine implements
them (`engine.container_api`, `engine.system`); tests can put fakes behind them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from wharfie.engine.execs import Exec
from wharfie.engine.model import Container
from wharfie.engine.streams import LogQuery
from wharfie.monitor.client import AttachOptions


class ContainerBackend(Protocol):
    # lookup and listing
    def find(self, ref: str) -> Container: ...

    def list_containers(
        self, all_: bool, limit: int, raw_filters: str, size: bool
    ) -> list[dict[str, Any]]: ...

    async def inspect(self, ref: str, size: bool) -> dict[str, Any]: ...

    # lifecycle
    async def create(
        self, body: Any, name: str, api_version: tuple[int, int]
    ) -> dict[str, Any]: ...

    async def start(self, ref: str, restore: str | None = None) -> bool: ...

    async def stop(self, ref: str, timeout: int | None, signal: str | None) -> bool: ...

    async def restart(self, ref: str, timeout: int | None, signal: str | None) -> None: ...

    async def kill(self, ref: str, signal: str) -> None: ...

    async def pause(self, ref: str) -> None: ...

    async def unpause(self, ref: str) -> None: ...

    async def wait(self, ref: str, condition: str) -> asyncio.Future[dict[str, Any]]: ...

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None: ...

    def remove_link(self, ref: str) -> None: ...

    def rename(self, ref: str, new: str) -> None: ...

    async def update(self, ref: str, body: Any) -> dict[str, Any]: ...

    async def prune(self, raw_filters: str) -> dict[str, Any]: ...

    # streams
    async def resize(self, ref: str, height: int, width: int) -> None: ...

    def attached(self, c: Container) -> None: ...

    async def attach(self, c: Container, sock_fd: int, opts: AttachOptions) -> None: ...

    def logs(self, c: Container, q: LogQuery) -> Iterator[bytes]: ...

    async def top(self, ref: str, ps_args: str) -> dict[str, Any]: ...

    def stats(self, ref: str, stream: bool, one_shot: bool) -> AsyncIterator[bytes]: ...

    # files
    async def changes(self, ref: str) -> list[dict[str, Any]]: ...

    def export(self, ref: str) -> AsyncIterator[bytes]: ...

    async def stat_path(self, ref: str, path: str) -> str: ...

    async def get_archive(self, ref: str, path: str) -> tuple[str, AsyncIterator[bytes]]: ...

    async def put_archive(
        self,
        ref: str,
        path: str,
        body: AsyncIterator[bytes],
        no_overwrite: bool,
        copy_uid_gid: bool,
    ) -> None: ...

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
    ) -> str: ...


class ExecBackend(Protocol):
    def create(self, ref: str, body: Any) -> str: ...

    def get(self, eid: str) -> Exec: ...

    def check_startable(self, ex: Exec) -> None: ...

    async def start(
        self,
        ex: Exec,
        sock_fd: int | None,
        console: tuple[int, int] | None,
        stream_tty: bool | None = None,
    ) -> int: ...

    async def resize(self, eid: str, height: int, width: int) -> None: ...

    async def inspect(self, eid: str) -> dict[str, Any]: ...


class SystemBackend(Protocol):
    def version(self) -> dict[str, Any]: ...

    def info(self) -> dict[str, Any]: ...

    def df(self) -> dict[str, Any]: ...

    def events(
        self, filters: dict[str, list[str]], since_ns: int | None, until_ns: int | None
    ) -> AsyncIterator[dict[str, Any]]: ...
