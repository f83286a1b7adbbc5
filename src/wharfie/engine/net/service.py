"""The /networks use cases as the API calls them: the records' (`Networks`) and a
container's connect and disconnect (`NetSetup`), by reference."""

from __future__ import annotations

from typing import Any

from wharfie.engine.index import ContainerIndex
from wharfie.engine.net.networks import Networks
from wharfie.engine.net.setup import NetSetup


class NetworkService:
    def __init__(self, networks: Networks, setup: NetSetup, index: ContainerIndex) -> None:
        self.networks = networks
        self.setup = setup
        self.index = index

    def listing(self, raw_filters: str) -> list[dict[str, Any]]:
        return self.networks.listing(raw_filters)

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.networks.inspect(ref)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.networks.create(body)

    async def remove(self, ref: str) -> None:
        await self.networks.remove(ref)

    async def prune(self, raw_filters: str) -> dict[str, Any]:
        return await self.networks.prune(raw_filters)

    async def connect(self, ref: str, container: str, endpoint: dict[str, Any]) -> None:
        """`POST /networks/{id}/connect`: the network is looked up first (404), then the
        container; the `connect` event goes out once the change is saved."""
        net = self.networks.find(ref)
        c = self.index.find(container)
        async with c.lock:
            await self.setup.connect(c, net, endpoint)
            self.index.save(c)
        self.setup.emit("connect", net, c.id)

    async def disconnect(self, ref: str, container: str, force: bool) -> None:
        net = self.networks.find(ref)
        c = self.index.find(container)
        async with c.lock:
            await self.setup.disconnect(c, net, force)
            self.index.save(c)
        self.setup.emit("disconnect", net, c.id)
