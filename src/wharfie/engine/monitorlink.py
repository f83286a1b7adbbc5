"""The engine's link to the container monitor, which exists once the engine has started.

Services hold the link (or the narrow `RuntimeClient` interface it offers), never the
monitor client itself: the client is connected after the services are built, and tests
put a fake behind the same interface.
"""

from __future__ import annotations

from typing import Any, Protocol

from wharfie.monitor.client import AttachOptions, MonitorClient, RuntimeRef, StartRequest


class RuntimeClient(Protocol):
    """What the container services ask of the monitor."""

    @property
    def connected(self) -> bool: ...

    async def start(self, req: StartRequest) -> int: ...

    async def runtime(self, ref: RuntimeRef, args: list[str]) -> tuple[int, str, str]: ...

    async def signal(self, container_id: str, signum: int) -> None: ...

    async def forget(self, container_id: str) -> None: ...

    async def hello(self) -> dict[str, Any]: ...

    async def resize(self, target_id: str, height: int, width: int) -> None: ...

    async def attach(self, container_id: str, sock_fd: int, opts: AttachOptions) -> None: ...


class MonitorLink:
    def __init__(self) -> None:
        self.client: MonitorClient | None = None

    @property
    def connected(self) -> bool:
        return self.client is not None

    def need(self) -> MonitorClient:
        if self.client is None:
            raise RuntimeError("the monitor is not connected")
        return self.client

    async def start(self, req: StartRequest) -> int:
        return await self.need().start(req)

    async def runtime(self, ref: RuntimeRef, args: list[str]) -> tuple[int, str, str]:
        return await self.need().runtime(ref, args)

    async def signal(self, container_id: str, signum: int) -> None:
        await self.need().signal(container_id, signum)

    async def forget(self, container_id: str) -> None:
        await self.need().forget(container_id)

    async def hello(self) -> dict[str, Any]:
        return await self.need().hello()

    async def resize(self, target_id: str, height: int, width: int) -> None:
        await self.need().resize(target_id, height, width)

    async def attach(self, container_id: str, sock_fd: int, opts: AttachOptions) -> None:
        await self.need().attach(container_id, sock_fd, opts)
