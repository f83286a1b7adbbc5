"""The engine as the swarm agent sees it (wharfie.cluster.agent.TaskEngine): task containers
are ordinary containers, found by their `com.docker.swarm.task.id` label.

A task's secrets and configs go on a tmpfs of its own under the exec root
(`<exec-root>/swarm-files/<container name>`, wharfie.cluster.taskfiles); the tmpfs goes when the
container does.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from wharfie import logs
from wharfie.cluster.agent import LocalContainer, LogLine, LogRequest
from wharfie.cluster.networks import (
    ClusterNetwork,
    NetworkPlane,
    dns_records,
    render,
    vip_table,
)
from wharfie.cluster.secrets import TaskFile
from wharfie.cluster.taskfiles import TaskFiles
from wharfie.engine.net.records import Network, Subnet
from wharfie.errors import NotFound, WharfieError

if TYPE_CHECKING:
    from wharfie.cluster.swarm import Swarm
    from wharfie.engine.core import Engine

TASK_LABEL = "com.docker.swarm.task.id"
log = logging.getLogger("wharfie.cluster.netplane")


def local_record(n: ClusterNetwork) -> Network:
    """A cluster network as the engine keeps it on a node with tasks on it (Scope swarm)."""
    return Network(
        id=n.id,
        name=n.name,
        driver="overlay",
        subnets=[Subnet(n.subnet, n.gateway, n.ip_range)],
        options=n.driver_options(),
        labels=dict(n.labels or {}),
        internal=n.internal,
        attachable=n.attachable,
        created=str(render(n)["Created"]),
        ipam_options=dict(n.ipam_options) if n.ipam_options is not None else None,
        scope="swarm",
    )


class EngineTasks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._files = TaskFiles(os.path.join(engine.config.exec_root, "swarm-files"))
        self.planes: dict[str, NetworkPlane] = {}  # network id -> what the cluster said last
        self.swarm: Swarm | None = None  # set once the swarm membership exists (attachments)
        self._attaching: set[str] = set()  # containers whose address claim is under way

    def task_containers(self) -> dict[str, LocalContainer]:
        out = {}
        for c in list(self._engine.containers.values()):
            task_id = (c.config.get("Labels") or {}).get(TASK_LABEL)
            if task_id and not c.removing:
                out[str(task_id)] = LocalContainer(
                    id=c.id,
                    running=c.state.running or c.state.restarting,
                    exit_code=c.state.exit_code,
                    pid=c.state.pid,
                )
        return out

    def image_present(self, ref: str) -> bool:
        try:
            self._engine.images.resolve(ref)
        except NotFound:
            return False
        return True

    async def run(
        self, name: str, body: dict[str, object], files: tuple[TaskFile, ...]
    ) -> LocalContainer:
        mounts = self._files.place(name, files) if files else []
        if mounts:
            host: dict[str, Any] = dict(body.get("HostConfig") or {})  # type: ignore[call-overload]
            host["Mounts"] = [*(host.get("Mounts") or []), *mounts]
            body = {**body, "HostConfig": host}
        try:
            created = await self._engine.ctr.create(body, name, (1, 44))
            cid = str(created["Id"])
            await self._engine.ctr.start(cid)
        except BaseException:
            self._files.drop(name)
            raise
        c = self._engine.find(cid)
        return LocalContainer(cid, True, 0, c.state.pid)

    async def remove(self, container_id: str, grace_s: int) -> None:
        try:
            name = self._engine.find(container_id).name
        except NotFound:
            return
        try:
            await self._engine.ctr.stop(container_id, grace_s, None)
            await self._engine.ctr.remove(container_id, force=True, volumes=False)
        except NotFound:
            pass  # removed meanwhile: its files go all the same
        self._files.drop(name)

    def task_log(self, task_id: str, req: LogRequest) -> list[LogLine]:
        """The task's container log lines (its json-file log), oldest first."""
        for c in list(self._engine.containers.values()):
            if (c.config.get("Labels") or {}).get(TASK_LABEL) == task_id:
                path = str(c.doc.get("LogPath") or "")
                if not path or not os.path.exists(path):
                    return []
                entries = logs.read(
                    path,
                    stdout=req.stdout,
                    stderr=req.stderr,
                    since_ns=req.since_ns,
                    tail=req.tail,
                )
                return [LogLine(e.stream, e.time_ns, e.data) for e in entries]
        return []

    # -- the overlay data plane (wharfie.network.overlay) ---------------------------------

    async def apply_networks(
        self, node_id: str, local_addr: str, port: int, plane: list[NetworkPlane]
    ) -> None:
        """Make this node's overlay networks what the cluster says: each network its tasks
        are on known to the engine with its bridge and VXLAN device, the VXLAN device's
        entries exactly the remote endpoints; a network no container here is on any more
        removed."""
        nets = self._engine.networks
        wanted = {p.network.id for p in plane}
        for p in plane:
            n = p.network
            await nets.adopt(local_record(n), n.vni, local_addr, port)
            peers = {
                (e.ip, e.node_addr) for e in p.endpoints if e.node_id != node_id and e.node_addr
            }
            changed = await nets.program(n.id, peers)
            if changed:
                log.debug("overlay %s: %d entries changed", n.name, changed)
            nets.set_names(n.id, dns_records(p))
            if n.ingress:
                ports = [(q.protocol, q.published, q.target, list(q.backends)) for q in p.ports]
                await nets.ingress(n.id, p.local_ip, ports)
        self.planes = {p.network.id: p for p in plane}
        await self._balance()
        for net in nets.swarm_scoped():
            if net.id not in wanted and not nets.attached(net.id):
                await nets.forget(net.id)
        for name in await nets.sweep_overlays():
            log.info("removed overlay device %s of a network this node no longer has", name)

    async def _balance(self) -> None:
        """Each running container on a cluster network gets the VIPs of its networks'
        services, balanced over their running tasks (wharfie.network.vip)."""
        nets = self._engine.networks
        live = set()
        for c in list(self._engine.containers.values()):
            mine = [nid for nid in c.private.get("endpoints") or {} if nid in self.planes]
            if not mine or not c.running:
                continue
            live.add(c.id)
            vips = [v for nid in mine for v in vip_table(self.planes[nid])]
            try:
                await nets.balance(c.id, vips)
            except (OSError, WharfieError) as exc:
                log.warning("VIPs of %s: %s", c.name, exc)
        nets.forget_balance(live)

    def standalone(self) -> set[str]:
        """Containers (not tasks) holding an address on a cluster network, or asking for one
        (`attach_standalone` under way: the claim is made before the container records it)."""
        containers = list(self._engine.containers.values())
        holding = {
            c.id
            for c in containers
            if c.private.get("cluster_ips") and not (c.config.get("Labels") or {}).get(TASK_LABEL)
        }
        present = {c.id for c in containers}
        self._attaching = {cid for cid in self._attaching if cid in present} - holding
        return holding | self._attaching

    async def attach_standalone(self, ref: str, container_id: str) -> tuple[str, str]:
        """`Networks.cluster_attach`: an attachable cluster network's address for a
        standalone container, the network set up here; (network id, address)."""
        swarm = self.swarm
        if swarm is None or swarm.state is None:
            raise NotFound(f"network {ref} not found")
        self._attaching.add(container_id)
        n, addr, port = await swarm.attach_container(ref, container_id)
        await self._engine.networks.adopt(local_record(n), n.vni, swarm.state.advertise_addr, port)
        return n.id, addr.split("/")[0]

    async def leave_networks(self) -> None:
        """Leaving the swarm: every overlay network of this node goes (its task containers
        are gone or going)."""
        self.planes = {}
        for net in self._engine.networks.swarm_scoped():
            await self._engine.networks.forget(net.id)
        await self._engine.networks.sweep_overlays()  # and what an earlier run left

    def sweep(self) -> None:
        self._files.sweep({c.name for c in self._engine.containers.values()})
