"""This node's membership of a swarm: init, leave, the cluster and node objects, liveness and
leadership. The control plane's state lives in etcd (wharfie.cluster.kv); this service keeps
only what a node must know before it can reach etcd, in `<data-root>/swarm/`:

- `state.json`: node id, cluster id, role, addresses and the etcd endpoints;
- `certificates/`: the cluster's root certificate and this node's certificate and key;
- `etcd/` (managers): the local etcd member's data and log.

Keys it owns in etcd (under /wharfie/swarm/):
- `objects/cluster/<id>`, `objects/node/<id>` (wharfie.cluster.objects);
- `private/ca-key`, `private/join-tokens`: managers only;
- `alive/<node id>`: held by the node's lease; a node whose lease expired is `down`;
- `leader`: the node id of the manager whose lease holds it. The orchestrator runs there.

Blocking etcd calls run in threads; the service's methods are coroutines for the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from wharfie.cluster import pki
from wharfie.cluster.etcdmember import EtcdMember, MemberConfig
from wharfie.cluster.kv import KV, Compare, EtcdKV, Put, TLSFiles
from wharfie.cluster.objects import ObjectStore
from wharfie.cluster.records import (
    Cluster,
    ClusterSpec,
    Node,
    NodeDescription,
    cluster_from_store,
    new_id,
    node_from_store,
    to_store,
)
from wharfie.errors import InvalidArgument, NotFound, Unavailable

log = logging.getLogger("wharfie.cluster")

ROOT = "/wharfie/swarm/"
ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and '
    "join another one."
)
NOT_IN_SWARM = "This node is not part of a swarm"
NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
LAST_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to "
    "ignore this message. "
)
LEASE_TTL = 5  # seconds without a keepalive before a node is down and its leadership ends
KEEPALIVE_EVERY = 1.0


class NotInSwarm(Unavailable):
    def __init__(self, message: str = NOT_IN_SWARM) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Ports:
    """The TCP ports a manager uses on its advertise address."""

    control: int = 2377  # the join endpoint (ListenAddr's default port)
    etcd_client: int = 2379
    etcd_peer: int = 2380


@dataclass
class LocalState:
    node_id: str
    cluster_id: str
    role: str  # "manager" | "worker"
    advertise_addr: str
    listen_addr: str
    etcd_endpoints: list[str]
    member_name: str = ""  # the local etcd member (managers)
    member_client_url: str = ""
    member_peer_url: str = ""
    initial_cluster: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InitRequest:
    listen_addr: str
    advertise_addr: str
    spec: ClusterSpec
    default_addr_pool: list[str]
    subnet_size: int
    data_path_port: int


class Swarm:
    def __init__(
        self,
        data_root: str,
        describe: Callable[[], NodeDescription],
        ports: Ports | None = None,
        etcd_binary: str = "etcd",
    ) -> None:
        self._dir = os.path.join(data_root, "swarm")
        self._describe = describe
        self._ports = ports or Ports()
        self._etcd_binary = etcd_binary
        self._lock = asyncio.Lock()  # one membership change at a time
        self.state: LocalState | None = None
        self._kv: KV | None = None
        self._member: EtcdMember | None = None
        self._lease = 0
        self._heartbeat: asyncio.Task[None] | None = None
        self.is_leader = False
        self.error = ""  # why this node cannot reach its cluster, for `info`

    # -- paths --
    def _path(self, *parts: str) -> str:
        return os.path.join(self._dir, *parts)

    def _tls(self) -> TLSFiles:
        certs = self._path("certificates")
        return TLSFiles(
            os.path.join(certs, "swarm-root-ca.crt"),
            os.path.join(certs, "swarm-node.crt"),
            os.path.join(certs, "swarm-node.key"),
        )

    # -- lifecycle --
    async def start(self) -> None:
        """After a daemon restart: rejoin the cluster this node was in."""
        try:
            with open(self._path("state.json")) as f:
                self.state = LocalState(**json.load(f))
        except FileNotFoundError:
            return
        except (ValueError, TypeError) as exc:
            raise Unavailable(
                f"swarm state {self._path('state.json')} is unreadable: {exc}"
            ) from exc
        try:
            await asyncio.to_thread(self._connect)
        except Unavailable as exc:  # the daemon serves on; `info` reports it
            log.error("swarm: cannot reach the cluster store: %s", exc)
            self.error = str(exc)
        self._heartbeat = asyncio.create_task(self._keep_alive())

    async def close(self) -> None:
        """Daemon shutdown: the etcd member keeps running (it is found again at start)."""
        await self._stop_heartbeat()
        self._kv = None

    # -- init / leave --
    async def init(self, req: InitRequest) -> str:
        async with self._lock:
            if self.state is not None:
                raise Unavailable(ALREADY_IN_SWARM)
            state = await asyncio.to_thread(self._init, req, self._describe())
            self.state = state
            self._heartbeat = asyncio.create_task(self._keep_alive())
            return state.node_id

    def _init(self, req: InitRequest, description: NodeDescription) -> LocalState:
        node_id, cluster_id = new_id(), new_id()
        addr = req.advertise_addr
        ca = pki.new_ca()
        expiry = datetime.timedelta(microseconds=req.spec.node_cert_expiry_ns // 1000)
        cert = pki.issue(ca, node_id, pki.MANAGER, cluster_id, [addr, "127.0.0.1"], expiry)
        os.makedirs(self._dir, mode=0o700, exist_ok=True)
        self._write_certs(ca.cert_pem, cert)
        client_url = f"https://{_host(addr)}:{self._ports.etcd_client}"
        peer_url = f"https://{_host(addr)}:{self._ports.etcd_peer}"
        state = LocalState(
            node_id=node_id,
            cluster_id=cluster_id,
            role="manager",
            advertise_addr=addr,
            listen_addr=req.listen_addr,
            etcd_endpoints=[client_url],
            member_name=node_id,
            member_client_url=client_url,
            member_peer_url=peer_url,
            initial_cluster={node_id: peer_url},
        )
        try:
            self.state = state
            self._start_member("new")
            kv = self._kv = EtcdKV(state.etcd_endpoints, self._tls())
            now = time.time_ns()
            cluster = Cluster(
                id=cluster_id,
                created_ns=now,
                updated_ns=now,
                spec=req.spec,
                root_ca_pem=ca.cert_pem.decode(),
                default_addr_pool=req.default_addr_pool,
                subnet_size=req.subnet_size,
                data_path_port=req.data_path_port,
            )
            node = self._node_record(node_id, "manager", now, cert.cert_pem.decode(), description)
            tokens = {
                "worker": pki.new_join_token(ca.cert_pem),
                "manager": pki.new_join_token(ca.cert_pem),
            }
            objects = ObjectStore(kv, ROOT)
            result = kv.txn(
                [Compare.absent(objects.key("cluster", cluster_id))],
                [
                    Put(objects.key("cluster", cluster_id), to_store(cluster)),
                    Put(objects.key("node", node_id), to_store(node)),
                    Put(ROOT + "private/ca-key", ca.key_pem),
                    Put(ROOT + "private/join-tokens", json.dumps(tokens).encode()),
                ],
            )
            if not result.succeeded:
                raise Unavailable("a new cluster store already holds a cluster")
            self._save_state(state)
        except BaseException:
            self.state = None
            self._teardown_local()
            raise
        return state

    async def leave(self, force: bool) -> None:
        async with self._lock:
            state = self.state
            if state is None:
                raise NotInSwarm()
            if state.role == "manager" and not force:
                managers = await asyncio.to_thread(self._reachable_managers)
                if len(managers) <= 1:
                    raise Unavailable(LAST_MANAGER)
                raise Unavailable(
                    "You are attempting to leave the swarm on a node that is participating "
                    "as a manager. The only way to restore a swarm that has lost consensus is "
                    "to reinitialize it with `--force-new-cluster`. Use `--force` to suppress "
                    "this message."
                )
            await self._stop_heartbeat()
            await asyncio.to_thread(self._leave, state)
            self.state = None

    def _leave(self, state: LocalState) -> None:
        kv = self._kv
        if kv is not None and self._lease:
            with contextlib.suppress(Unavailable):
                kv.revoke(self._lease)
        self._lease = 0
        self._teardown_local()

    def _teardown_local(self) -> None:
        """Stop the local member and forget the cluster on this node."""
        if isinstance(self._kv, EtcdKV):
            self._kv.close()
        self._kv = None
        member = self._member or self._member_for_state()
        if member is not None:
            member.stop()
        self._member = None
        self.is_leader = False
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- reading --
    def _need_manager(self) -> tuple[LocalState, KV]:
        state = self.state
        if state is None or state.role != "manager" or self._kv is None:
            raise Unavailable(NOT_MANAGER)
        return state, self._kv

    async def inspect(self) -> tuple[Cluster, int, dict[str, str]]:
        """The cluster, its version and join tokens (managers only)."""
        state, kv = self._need_manager()

        def read() -> tuple[Cluster, int, dict[str, str]]:
            stored = ObjectStore(kv, ROOT).get("cluster", state.cluster_id)
            tokens = kv.get(ROOT + "private/join-tokens")
            return (
                cluster_from_store(stored.body),
                stored.version,
                json.loads(tokens.value) if tokens else {},
            )

        return await asyncio.to_thread(read)

    async def nodes(self) -> tuple[list[tuple[Node, int, str]], str, str]:
        """Every node with its version and state ("ready" | "down"), the leader's id, and
        the root CA (managers only)."""
        state, kv = self._need_manager()

        def read() -> tuple[list[tuple[Node, int, str]], str, str]:
            store = ObjectStore(kv, ROOT)
            stored, _ = store.list("node")
            alive = {e.key.rsplit("/", 1)[-1] for e in kv.range(ROOT + "alive/")[0]}
            leader = kv.get(ROOT + "leader")
            cluster = cluster_from_store(store.get("cluster", state.cluster_id).body)
            out = [
                (node_from_store(s.body), s.version, "ready" if s.id in alive else "down")
                for s in stored
            ]
            return out, leader.value.decode() if leader else "", cluster.root_ca_pem

        return await asyncio.to_thread(read)

    async def node(self, ref: str) -> tuple[Node, int, str, str, str]:
        nodes, leader, root_ca = await self.nodes()
        hits = [n for n in nodes if n[0].id == ref]
        if not hits:
            hits = [n for n in nodes if n[0].description.hostname == ref or n[0].name == ref]
        if not hits and ref:
            hits = [n for n in nodes if n[0].id.startswith(ref)]
        if len(hits) != 1:
            if len(hits) > 1:
                raise InvalidArgument(f"node {ref} is ambiguous ({len(hits)} matches found)")
            raise NotFound(f"node {ref} not found")
        node, version, status = hits[0]
        return node, version, status, leader, root_ca

    async def info(self) -> dict[str, Any]:
        """The `Swarm` section of `/info`."""
        state = self.state
        if state is None:
            return {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            }
        out: dict[str, Any] = {
            "NodeID": state.node_id,
            "NodeAddr": state.advertise_addr,
            "LocalNodeState": "active",
            "ControlAvailable": state.role == "manager",
            "Error": self.error,
            "RemoteManagers": [],
        }
        try:
            nodes, _, _ = await self.nodes() if state.role == "manager" else ([], "", "")
        except Unavailable as exc:
            out.update(Error=str(exc))
            return out
        managers = [n for n, _, _ in nodes if n.role == "manager"]
        out["RemoteManagers"] = [{"NodeID": n.id, "Addr": n.manager_addr} for n in managers]
        if state.role == "manager":
            out["Nodes"], out["Managers"] = len(nodes), len(managers)
            cluster, version, _ = await self.inspect()
            from wharfie.cluster.records import render_cluster

            out["Cluster"] = render_cluster(cluster, version)
        return out

    def ping_header(self) -> str:
        """The `Swarm` header of `/_ping` (API 1.44): inactive, or active/manager|worker."""
        state = self.state
        if state is None:
            return "inactive"
        return "active/manager" if state.role == "manager" else "active/worker"

    # -- updates --
    async def update(
        self,
        version: int,
        spec: ClusterSpec,
        rotate_worker: bool,
        rotate_manager: bool,
    ) -> None:
        state, kv = self._need_manager()

        def write() -> None:
            store = ObjectStore(kv, ROOT)
            stored = store.get("cluster", state.cluster_id)
            cluster = cluster_from_store(stored.body)
            cluster.spec = spec
            cluster.updated_ns = time.time_ns()
            store.update("cluster", state.cluster_id, version, to_store(cluster))
            if rotate_worker or rotate_manager:
                self._rotate_tokens(kv, cluster.root_ca_pem, rotate_worker, rotate_manager)

        await asyncio.to_thread(write)

    async def update_node(self, ref: str, version: int, spec: dict[str, Any]) -> None:
        """`POST /nodes/{id}/update`: name, labels, role and availability (swarmkit's checks)."""
        node, _, _, _, _ = await self.node(ref)
        role = str(spec.get("Role") or node.role)
        availability = str(spec.get("Availability") or node.availability)
        if role not in ("manager", "worker"):
            raise InvalidArgument(f"invalid role {role!r}")  # moby: swarm.NodeRole
        if availability not in ("active", "pause", "drain"):
            raise InvalidArgument(f"invalid availability {availability!r}")
        _, kv = self._need_manager()

        def write() -> None:
            if role != node.role:
                managers = [n for n in self._reachable_managers() if n != node.id]
                if role == "worker" and not managers:
                    raise InvalidArgument(
                        "rpc error: code = FailedPrecondition desc = attempting to demote the "
                        "last manager of the swarm"
                    )
                raise InvalidArgument(
                    "changing a node's role needs the node to rejoin with a new certificate, "
                    "which this wharfied does not do yet"
                )
            node.name = str(spec.get("Name") or "")
            node.labels = dict(spec.get("Labels") or {})
            node.availability = availability
            node.updated_ns = time.time_ns()
            ObjectStore(kv, ROOT).update("node", node.id, version, to_store(node))

        await asyncio.to_thread(write)

    async def remove_node(self, ref: str, force: bool) -> None:
        node, _, status, _, _ = await self.node(ref)
        _, kv = self._need_manager()
        if node.role == "manager":
            raise InvalidArgument(
                f"rpc error: code = FailedPrecondition desc = node {node.id} is a cluster "
                "manager and is a member of the raft cluster. It must be demoted to worker "
                "before removal"
            )
        if status != "down" and not force:
            raise InvalidArgument(
                f"rpc error: code = FailedPrecondition desc = node {node.id} is not down and "
                "can't be removed"
            )
        await asyncio.to_thread(ObjectStore(kv, ROOT).delete, "node", node.id)

    def _rotate_tokens(self, kv: KV, root_ca_pem: str, worker: bool, manager: bool) -> None:
        entry = kv.get(ROOT + "private/join-tokens")
        tokens = json.loads(entry.value) if entry else {}
        if worker:
            tokens["worker"] = pki.new_join_token(root_ca_pem.encode())
        if manager:
            tokens["manager"] = pki.new_join_token(root_ca_pem.encode())
        kv.txn([], [Put(ROOT + "private/join-tokens", json.dumps(tokens).encode())])

    # -- liveness and leadership --
    async def _keep_alive(self) -> None:
        """Hold this node's `alive` key (and, on a manager, campaign for `leader`) with one
        lease, renewed every second; a lost lease is replaced."""
        while True:
            try:
                await asyncio.to_thread(self._beat)
            except Unavailable as exc:
                log.warning("swarm heartbeat: %s", exc)
                self.is_leader = False
            await asyncio.sleep(KEEPALIVE_EVERY)

    def _beat(self) -> None:
        state = self.state
        if state is None:
            return
        if self._kv is None:
            self._connect()
            self.error = ""
        kv = self._kv
        assert kv is not None
        if not self._lease or kv.keepalive(self._lease) <= 0:
            self._lease = kv.grant(LEASE_TTL)
            kv.txn([], [Put(ROOT + f"alive/{state.node_id}", b"1", lease=self._lease)])
        if state.role == "manager":
            key = ROOT + "leader"
            won = kv.txn([Compare.absent(key)], [Put(key, state.node_id.encode(), self._lease)])
            if won.succeeded:
                log.info("swarm: this node leads the cluster")
            current = kv.get(key)
            self.is_leader = current is not None and current.value.decode() == state.node_id

    async def _stop_heartbeat(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- helpers --
    def _reachable_managers(self) -> list[str]:
        kv = self._kv
        if kv is None:
            return []
        alive = {e.key.rsplit("/", 1)[-1] for e in kv.range(ROOT + "alive/")[0]}
        stored, _ = ObjectStore(kv, ROOT).list("node")
        return [s.id for s in stored if node_from_store(s.body).role == "manager" and s.id in alive]

    def _node_record(
        self, node_id: str, role: str, now: int, cert_pem: str, description: NodeDescription
    ) -> Node:
        assert self.state is not None
        return Node(
            id=node_id,
            created_ns=now,
            updated_ns=now,
            role=role,
            availability="active",
            description=description,
            addr=self.state.advertise_addr,
            manager_addr=f"{self.state.advertise_addr}:{_port(self.state.listen_addr)}"
            if role == "manager"
            else "",
            cert_pem=cert_pem,
        )

    def _write_certs(self, ca_pem: bytes, node: pki.KeyPair) -> None:
        certs = self._path("certificates")
        os.makedirs(certs, mode=0o700, exist_ok=True)
        tls = self._tls()
        for path, data, mode in (
            (tls.ca, ca_pem, 0o644),
            (tls.cert, node.cert_pem, 0o644),
            (tls.key, node.key_pem, 0o600),
        ):
            tmp = path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)

    def _save_state(self, state: LocalState) -> None:
        tmp = self._path("state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(state), f)
        os.replace(tmp, self._path("state.json"))

    def _member_for_state(self) -> EtcdMember | None:
        state = self.state
        if state is None or not state.member_name:
            return None
        cfg = MemberConfig(
            name=state.member_name,
            data_dir=self._path("etcd", "data"),
            client_url=state.member_client_url,
            peer_url=state.member_peer_url,
            tls=self._tls(),
            initial_cluster=state.initial_cluster,
            state="new",
            cluster_token=state.cluster_id,
        )
        return EtcdMember(cfg, self._path("etcd"), self._etcd_binary)

    def _start_member(self, cluster_state: str) -> None:
        member = self._member_for_state()
        if member is None:
            return
        if cluster_state == "existing":
            member.cfg = dataclasses.replace(member.cfg, state="existing")
        os.makedirs(self._path("etcd"), mode=0o700, exist_ok=True)
        self._member = member
        member.start()

    def _connect(self) -> None:
        state = self.state
        assert state is not None
        if state.member_name:
            self._start_member("existing")
        self._kv = EtcdKV(state.etcd_endpoints, self._tls())


def _host(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def _port(listen_addr: str) -> int:
    try:
        return int(listen_addr.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        raise InvalidArgument(f"invalid listen address {listen_addr!r}") from None
