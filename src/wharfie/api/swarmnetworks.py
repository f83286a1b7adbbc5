"""The /networks use cases on a node that may be in a swarm: the engine's local networks
(wharfie.engine.net) beside the cluster's overlay networks (wharfie.cluster.networks).

As dockerd: `Driver: overlay` is created in the cluster store on a manager (a worker is refused,
a node outside a swarm too); list and inspect show a manager's cluster networks with Scope
"swarm" after the local ones; a name is unique across both (a local create that takes a
cluster network's name is refused); remove goes to the cluster for a cluster network (refused
while a service or task uses it).
"""

from __future__ import annotations

from typing import Any, Protocol

from wharfie.cluster import networks
from wharfie.engine import filters
from wharfie.engine.net.networks import Forbidden
from wharfie.errors import Conflict, NotFound


class LocalNetworks(Protocol):
    """The engine's /networks use cases (wharfie.engine.net.service.NetworkService)."""

    def listing(self, raw_filters: str) -> list[dict[str, Any]]: ...
    def inspect(self, ref: str) -> dict[str, Any]: ...
    async def create(self, body: dict[str, Any]) -> dict[str, Any]: ...
    async def remove(self, ref: str) -> None: ...
    async def prune(self, raw_filters: str) -> dict[str, Any]: ...
    async def connect(self, ref: str, container: str, endpoint: dict[str, Any]) -> None: ...
    async def disconnect(self, ref: str, container: str, force: bool) -> None: ...


class ClusterNetworks(Protocol):
    """What this needs of the node's swarm membership (wharfie.cluster.swarm.Swarm)."""

    def network_role(self) -> str: ...
    async def create_network(self, body: dict[str, Any]) -> str: ...
    async def cluster_networks(self) -> list[networks.StoredNetwork]: ...
    async def remove_network(self, ref: str) -> networks.ClusterNetwork: ...


class SwarmNetworks:
    def __init__(self, local: LocalNetworks, swarm: ClusterNetworks) -> None:
        self.local = local
        self.swarm = swarm

    def _manager(self) -> bool:
        return self.swarm.network_role() == "manager"

    async def listing(self, raw_filters: str) -> list[dict[str, Any]]:
        out = self.local.listing(raw_filters)
        if not self._manager():
            return out
        f = filters.parse(raw_filters)
        for s in await self.swarm.cluster_networks():
            if networks.matches(f, s.network, dangling=True):
                out.append(networks.render(s.network))
        return out

    async def inspect(self, ref: str) -> dict[str, Any]:
        try:
            return self.local.inspect(ref)
        except NotFound:
            if not self._manager():
                raise
        return networks.render(await self._find(ref))

    async def _find(self, ref: str) -> networks.ClusterNetwork:
        return networks.pick(ref, [s.network for s in await self.swarm.cluster_networks()])

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        role = self.swarm.network_role()
        if str(body.get("Driver") or "") != "overlay" or not role:
            if role == "manager":
                name = str(body.get("Name") or "")
                if any(s.network.name == name for s in await self.swarm.cluster_networks()):
                    raise Conflict(f"network with name {name} already exists")
            return await self.local.create(body)
        if role != "manager":
            raise Forbidden(networks.WORKER_CREATE)
        try:
            return {"Id": await self.swarm.create_network(body), "Warning": ""}
        except networks.PoolOverlap as exc:  # 403, as a local network's overlap
            raise Forbidden(str(exc)) from exc

    async def remove(self, ref: str) -> None:
        try:
            await self.local.remove(ref)
            return
        except NotFound:
            if not self._manager():
                raise
        await self.swarm.remove_network((await self._find(ref)).id)

    async def prune(self, raw_filters: str) -> dict[str, Any]:
        return await self.local.prune(raw_filters)

    async def connect(self, ref: str, container: str, endpoint: dict[str, Any]) -> None:
        await self.local.connect(ref, container, endpoint)

    async def disconnect(self, ref: str, container: str, force: bool) -> None:
        await self.local.disconnect(ref, container, force)
