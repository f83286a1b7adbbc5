"""This node's membership of a swarm: init, join, leave, liveness and leadership, and the
manager's answers about the cluster (through wharfie.cluster.admin).

The control plane's state lives in etcd. Managers run a local etcd member and are etcd
clients with a certificate from the store CA; workers never touch etcd: they call a manager's
control endpoint (wharfie.cluster.control, served by api/routes_control.py) to join and to
send heartbeats. What a node keeps on its own disk is in wharfie.cluster.nodefiles.

Liveness: a manager holds `alive/<node id>` with its own lease, renewed every second; a
manager holds a worker's key for it while the worker's heartbeats arrive. A node whose key is
gone is `down`. Leadership: the manager whose lease holds `leader`; when that lease expires
another manager's next heartbeat takes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from wharfie.cluster import (
    admin,
    admission,
    control,
    leader,
    networks,
    nodefiles,
    pki,
    secrets,
    servicestore,
)
from wharfie.cluster.agent import Agent, Assignment, LogLine, LogRequest, TaskEngine
from wharfie.cluster.etcdmember import EtcdMember, MemberConfig
from wharfie.cluster.extstore import ExternalStore
from wharfie.cluster.kv import KV, Compare, Delete, EtcdKV, Put, TLSFiles
from wharfie.cluster.nodefiles import LocalState, NodeFiles
from wharfie.cluster.orchestrator import TaskView
from wharfie.cluster.records import (
    Cluster,
    ClusterSpec,
    Node,
    NodeDescription,
    new_id,
    render_cluster,
    to_store,
)
from wharfie.cluster.services import (
    TERMINAL,
    TaskStatus,
    service_from_store,
    service_to_store,
    status_from_store,
    task_from_store,
    task_to_store,
)
from wharfie.errors import Conflict, InvalidArgument, Unavailable, WharfieError
from wharfie.errors import NotFound as NotFoundError

log = logging.getLogger("wharfie.cluster")

ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and '
    "join another one."
)
NOT_IN_SWARM = "This node is not part of a swarm"
NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
WORKER_NOT_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a manager."
)
LEAVE_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
)
SWARM_LOCKED = (
    "Swarm is encrypted and needs to be unlocked before it can be used. Please use "
    '"docker swarm unlock" to unlock it.'
)
LOCKED_LEAVE = (
    "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message."
)
NOT_LOCKED = "swarm is not locked"
UNLOCK_KEY_PREFIX = "SWMKEY-1-"
LEASE_TTL = 5  # seconds without a heartbeat before a node is down and its leadership ends
HEARTBEAT_EVERY = 1.0
JOIN_TIMEOUT = 20.0
WORK_EVERY = 0.5  # the leader's reconciliation and the agent's round, at the latest
WORK_MIN_GAP = 0.05  # and at most this often when the store keeps changing
# a worker's request for its assignments is held by the manager until they change (a store
# watch wakes it), at most this long; the worker then asks again at once
ASSIGNMENTS_WAIT = 5.0


class ControlEndpoint(Protocol):
    """The daemon's listener for this node's control endpoint (managers only)."""

    async def open(self, listen_addr: str, identity: TLSFiles) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class Ports:
    """The TCP ports a manager uses on its advertise address besides the control endpoint."""

    etcd_client: int = 2379
    etcd_peer: int = 2380


@dataclass(frozen=True)
class InitRequest:
    listen_addr: str
    advertise_addr: str
    spec: ClusterSpec
    default_addr_pool: list[str]
    subnet_size: int
    data_path_port: int


@dataclass(frozen=True)
class JoinRequest:
    listen_addr: str
    advertise_addr: str
    remote_addrs: list[str]
    token: str
    availability: str


class Swarm:
    def __init__(
        self,
        data_root: str,
        describe: Callable[[], NodeDescription],
        control_endpoint: ControlEndpoint,
        task_engine: TaskEngine,
        ports: Ports | None = None,
        etcd_binary: str = "etcd",
        network_plane: networks.PlaneEngine | None = None,
        external_store: ExternalStore | None = None,
    ) -> None:
        self._files = NodeFiles(data_root)
        self._external = external_store  # --cluster-store: no local member
        self._describe = describe
        self._endpoint = control_endpoint
        self._ports = ports or Ports()
        self._etcd_binary = etcd_binary
        self._lock = asyncio.Lock()  # one membership change at a time
        self.state: LocalState | None = None
        self._kv: KV | None = None
        self._member: EtcdMember | None = None
        self._lease = 0
        self._heartbeat: asyncio.Task[None] | None = None
        self._workers = admission.WorkerLeases()
        self._agent = Agent(task_engine)
        self._agent_engine = task_engine
        self._plane = network_plane
        # a standalone container's address claim and a round's give-back of the claims of
        # containers it does not know (`networks.release`) never interleave: a round that
        # read its containers before a claim would give that claim back
        self._claims = asyncio.Lock()
        self._data_port = 0  # the cluster's VXLAN port, read once
        self._work: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._watch_thread: threading.Thread | None = None
        self._watch_stop: threading.Event | None = None
        self._watch_cancel: Callable[[], None] | None = None
        self._store_changed: asyncio.Future[None] | None = None  # resolved by the watch
        self._assign: asyncio.Task[None] | None = None  # a worker's long poll
        self._assignments: list[Assignment] | None = None  # a worker's, None until known
        self.is_leader = False
        self.locked = False  # a manager whose keys are sealed (autolock) until `swarm unlock`
        self._renew_at: datetime.datetime | None = None  # this node's certificate renewal
        self.error = ""  # why this node cannot reach its cluster, for `info`
        self._wanted_role = ""  # set by a heartbeat that finds this node promoted or demoted

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """After a daemon restart: rejoin the cluster this node was in."""
        self.state = self._files.load()
        if self.state is None:
            return
        if self.state.role == "manager" and self._files.sealed():
            self.locked = True  # nothing runs until `swarm unlock` opens the keys
            log.info("swarm: this manager is locked (autolock): waiting for swarm unlock")
            return
        await self._resume()

    async def _resume(self) -> None:
        assert self.state is not None
        try:
            await asyncio.to_thread(self._connect)
            await self._endpoint.open(self.state.listen_addr, self._files.identity)
        except WharfieError as exc:  # the daemon serves on; `info` reports it
            log.error("swarm: cannot rejoin the cluster: %s", exc)
            self.error = str(exc)
        self._start_loops()

    async def unlock(self, key_text: str) -> None:
        """`swarm unlock`: open a locked manager's keys with the unlock key, then rejoin."""
        async with self._lock:
            state = self.state
            if state is None:  # moby's errNoManager for a node outside a swarm
                raise Unavailable(NOT_MANAGER)
            if not self.locked:
                if state.role == "worker":
                    raise Unavailable(WORKER_NOT_MANAGER)
                raise Conflict(NOT_LOCKED)
            key = parse_unlock_key(key_text)
            await asyncio.to_thread(self._files.unlock, key)
            self.locked = False
            log.info("swarm: unlocked")
            await self._resume()

    async def unlock_key(self) -> str:
        """The cluster's unlock key in its human-readable form; "" without autolock."""
        _, kv = self._need_manager()

        def read() -> bytes | None:
            return current_unlock_key(kv, self._files.secret_key())

        key = await asyncio.to_thread(read)
        return human_unlock_key(key) if key else ""

    def _sync_lock(self, kv: KV) -> None:
        """Keep this manager's keys sealed with the cluster's current unlock key (or in the
        clear when autolock is off)."""
        self._files.seal(current_unlock_key(kv, self._files.secret_key()))

    async def close(self) -> None:
        """Daemon shutdown: the etcd member keeps running (it is found again at start)."""
        await self._stop_heartbeat()
        await self._endpoint.close()
        self._close_kv()

    # ------------------------------------------------------------------ init
    async def init(self, req: InitRequest) -> str:
        async with self._lock:
            if self.state is not None:
                raise Unavailable(ALREADY_IN_SWARM)
            check_spec(req.spec, "error updating cluster settings: ")
            description = self._describe()
            try:
                await asyncio.to_thread(self._init, req, description)
                assert self.state is not None
                await self._endpoint.open(req.listen_addr, self._files.identity)
            except BaseException:
                await self._abandon()
                raise
            self._start_loops()
            return self.state.node_id

    def _init(self, req: InitRequest, description: NodeDescription) -> None:
        node_id, cluster_id = new_id(), new_id()
        addr = req.advertise_addr
        root_ca = pki.new_ca()
        store_ca = pki.new_ca(common_name=pki.STORE_CA_NAME)
        expiry = _expiry(req.spec.node_cert_expiry_ns)
        names = [addr, "127.0.0.1"]
        node_cert = pki.issue(root_ca, node_id, pki.MANAGER, cluster_id, names, expiry)
        store_cert = pki.issue(store_ca, node_id, pki.MANAGER, cluster_id, names, expiry)
        self._files.write_tls(
            self._files.identity, root_ca.cert_pem, node_cert.cert_pem, node_cert.key_pem
        )
        self._files.write_tls(
            self._files.store, store_ca.cert_pem, store_cert.cert_pem, store_cert.key_pem
        )
        self._files.write_secret_key(secrets.new_key())
        client_url, peer_url = self._etcd_urls(addr)
        self.state = LocalState(
            node_id=node_id,
            cluster_id=cluster_id,
            role="manager",
            advertise_addr=addr,
            listen_addr=req.listen_addr,
            managers=[_control_addr(addr, req.listen_addr)],
            etcd_endpoints=[client_url],
            member_name=node_id,
            member_client_url=client_url,
            member_peer_url=peer_url,
            initial_cluster={node_id: peer_url},
        )
        if self._external is not None:  # no member of ours: the external store's endpoints
            self.state.etcd_endpoints = list(self._external.endpoints)
            self.state.member_name = self.state.member_client_url = ""
            self.state.member_peer_url, self.state.initial_cluster = "", {}
        self._start_member("new")
        kv = self._kv = EtcdKV(self.state.etcd_endpoints, self._store_tls())
        if self._external is not None and kv.range(admin.ROOT + "objects/cluster/")[0]:
            raise Unavailable(
                "the cluster store already holds a swarm: remove it (swarm leave --force on "
                "its last manager) first"
            )
        now = time.time_ns()
        cluster = Cluster(
            id=cluster_id,
            created_ns=now,
            updated_ns=now,
            spec=req.spec,
            root_ca_pem=root_ca.cert_pem.decode(),
            default_addr_pool=req.default_addr_pool,
            subnet_size=req.subnet_size,
            data_path_port=req.data_path_port,
        )
        node = Node(
            id=node_id,
            created_ns=now,
            updated_ns=now,
            role="manager",
            availability="active",
            description=description,
            addr=addr,
            manager_addr=_control_addr(addr, req.listen_addr),
            control_addr=_control_addr(addr, req.listen_addr),
            cert_pem=node_cert.cert_pem.decode(),
        )
        tokens = {
            "worker": pki.new_join_token(root_ca.cert_pem),
            "manager": pki.new_join_token(root_ca.cert_pem),
        }
        unlock_key = secrets.new_key() if req.spec.autolock_managers else None
        store = admin.objects(kv)
        store_ca_doc = {"cert": store_ca.cert_pem.decode(), "key": store_ca.key_pem.decode()}
        result = kv.txn(
            [Compare.absent(store.key("cluster", cluster_id))],
            [
                Put(store.key("cluster", cluster_id), to_store(cluster)),
                Put(store.key("node", node_id), to_store(node)),
                Put(admin.ROOT_CA_KEY, root_ca.key_pem),
                Put(admin.STORE_CA, json.dumps(store_ca_doc).encode()),
                Put(admin.TOKENS, json.dumps(tokens).encode()),
                *(
                    [Put(admin.UNLOCK_KEY, seal_unlock_key(unlock_key, self._files.secret_key()))]
                    if unlock_key
                    else []
                ),
            ],
        )
        if not result.succeeded:
            raise Unavailable("a new cluster store already holds a cluster")
        self._files.seal(unlock_key)
        self._files.save(self.state)

    # ------------------------------------------------------------------ join
    async def join(self, req: JoinRequest) -> None:
        async with self._lock:
            if self.state is not None:
                raise Unavailable(ALREADY_IN_SWARM)
            if not req.remote_addrs:
                raise InvalidArgument("at least 1 RemoteAddr is required to join")
            description = self._describe()
            try:
                await asyncio.to_thread(self._join, req, description)
                assert self.state is not None
                await self._endpoint.open(req.listen_addr, self._files.identity)
            except BaseException:
                await self._abandon(forget=True)
                raise
            self._start_loops()

    def _join(self, req: JoinRequest, description: NodeDescription) -> None:
        token = pki.parse_join_token(req.token)
        errors: list[str] = []
        for remote in req.remote_addrs:
            try:
                root_ca = control.fetch_root_ca(remote, JOIN_TIMEOUT)
            except Unavailable as exc:
                errors.append(str(exc))
                continue
            if pki.ca_digest(root_ca) != token.ca_digest:
                raise Unavailable(
                    f"remote CA does not match fingerprint. Expected: {token.ca_digest}"
                )
            key_pem, csr_pem = pki.new_request([req.advertise_addr])
            answer = control.call(
                remote,
                "/join",
                {
                    "Token": req.token,
                    "CSR": csr_pem.decode(),
                    "AdvertiseAddr": req.advertise_addr,
                    "ListenAddr": req.listen_addr,
                    "Availability": req.availability,
                    "Description": dataclasses.asdict(description),
                },
                root_ca,
                None,
                JOIN_TIMEOUT,
            )
            self._adopt(req, answer, root_ca, key_pem)
            return
        raise Unavailable("; ".join(errors) or "no manager to join")

    def _adopt(
        self, req: JoinRequest, answer: dict[str, Any], root_ca: bytes, key_pem: bytes
    ) -> None:
        """Become the node a manager admitted: certificates, state, and a manager's member."""
        role = str(answer["Role"])
        self._files.write_tls(
            self._files.identity, root_ca, str(answer["Certificate"]).encode(), key_pem
        )
        state = LocalState(
            node_id=str(answer["NodeID"]),
            cluster_id=str(answer["ClusterID"]),
            role=role,
            advertise_addr=req.advertise_addr,
            listen_addr=req.listen_addr,
            managers=[str(m) for m in answer.get("Managers") or []] or list(req.remote_addrs),
        )
        self.state = state
        if role == "manager":
            self._take_store(state, answer, key_pem)
        self._files.save(state)

    def _take_store(self, state: LocalState, answer: dict[str, Any], key_pem: bytes) -> None:
        """A new manager's share of the store, from the manager that admitted or promoted it:
        the secrets key, then the external store or an etcd member of its own. The state is
        saved as a manager's before the member starts: a restart must find it."""
        self._files.write_secret_key(base64.b64decode(str(answer["SecretsKey"])))
        if self._use_external(answer, state):
            self._files.save(dataclasses.replace(state, role="manager"))
        else:
            self._files.write_tls(
                self._files.store,
                str(answer["StoreCA"]).encode(),
                str(answer["StoreCertificate"]).encode(),
                key_pem,
            )
            state.member_name = str(answer["MemberName"])
            state.member_client_url = str(answer["MemberClientURL"])
            state.member_peer_url = str(answer["MemberPeerURL"])
            state.initial_cluster = {str(k): str(v) for k, v in answer["InitialCluster"].items()}
            state.etcd_endpoints = [str(u) for u in answer["EtcdEndpoints"]]
            self._files.save(dataclasses.replace(state, role="manager"))
            self._start_member("existing")
        self._kv = EtcdKV(state.etcd_endpoints, self._store_tls())

    # ------------------------------------------------------------------ leave
    async def leave(self, force: bool) -> None:
        async with self._lock:
            state = self.state
            if state is None:
                raise Unavailable(NOT_IN_SWARM)
            if self.locked and not force:
                raise Unavailable(LOCKED_LEAVE)
            if state.role == "manager" and not force:
                raise Unavailable(await asyncio.to_thread(self._leave_refusal))
            await self._stop_heartbeat()
            await self._endpoint.close()
            await self._agent.remove_all()  # as dockerd: the node's task containers go
            await asyncio.to_thread(self._leave, state)
            self.state = None
            self.locked = False
            if self._plane is not None:
                await self._plane.leave_networks()

    def _leave_refusal(self) -> str:
        """dockerd's refusal for a manager leaving without --force (always refused)."""
        msg = LEAVE_MANAGER
        kv = self._kv
        if kv is not None:
            views = admin.nodes(kv)
            reachable = sum(1 for v in views if v.node.role == "manager" and v.state == "ready")
            unreachable = sum(1 for v in views if v.node.role == "manager") - reachable
            if reachable - 2 <= unreachable:  # removing this one loses the quorum
                if reachable <= 1 and unreachable == 0:
                    return msg + (
                        "Removing the last manager erases all current state of the swarm. "
                        "Use `--force` to ignore this message."
                    )
                msg += (
                    f"Removing this node leaves {reachable - 1} managers out of "
                    f"{reachable + unreachable}. Without a Raft quorum your swarm will be "
                    "inaccessible. "
                )
        return msg + (
            "The only way to restore a swarm that has lost consensus is to reinitialize it with "
            "`--force-new-cluster`. Use `--force` to suppress this message."
        )

    def _leave(self, state: LocalState) -> None:
        kv = self._kv
        if kv is not None and state.role == "manager":
            others = [
                v
                for v in admin.nodes(kv)
                if v.node.role == "manager" and v.node.id != state.node_id
            ]
            with contextlib.suppress(WharfieError):
                if others:  # the store lives on without this member
                    admission.forget(kv, state.node_id)
                elif self._external is not None:  # the swarm ends: its state goes
                    kv.txn([], [Delete(admin.ROOT, prefix=True)])
                elif self._lease:
                    kv.revoke(self._lease)
        self._lease = 0
        self._teardown_local()

    async def _abandon(self, forget: bool = False) -> None:
        """Undo a failed init or join on this node (and, for a join, on the cluster)."""
        state = self.state
        await self._endpoint.close()
        if forget and state is not None:
            with contextlib.suppress(WharfieError):
                await asyncio.to_thread(self._ask_to_forget, state)
        await asyncio.to_thread(self._teardown_local)
        self.state = None

    def _ask_to_forget(self, state: LocalState) -> None:
        root_ca = self._files.read(self._files.identity.ca)
        for manager in state.managers:
            try:
                control.call(manager, "/forget", {}, root_ca, self._files.identity)
                return
            except Unavailable:
                continue

    def _teardown_local(self) -> None:
        """Stop the local member and forget the cluster on this node."""
        self._close_kv()
        member = self._member or self._member_for_state()
        if member is not None:
            member.stop()
        self._member = None
        self.is_leader = False
        self._files.remove()

    # ------------------------------------------------------------------ the control endpoint
    def root_ca_pem(self) -> bytes:
        if self.state is None:
            raise Unavailable(NOT_IN_SWARM)
        return self._files.read(self._files.identity.ca)

    async def admit(self, req: admission.JoinRequest) -> dict[str, Any]:
        state, kv = self._need_manager()
        ports = self._member_ports()
        answer = await asyncio.to_thread(admission.admit, kv, state.cluster_id, req, ports)
        if answer.get("Role") == "manager":
            answer["SecretsKey"] = base64.b64encode(self._files.secret_key()).decode()
        return answer

    async def worker_heartbeat(self, node_id: str) -> dict[str, Any]:
        _, kv = self._need_manager()
        await asyncio.to_thread(self._workers.beat, kv, node_id)
        views = await asyncio.to_thread(admin.nodes, kv)
        role = next((v.node.role for v in views if v.node.id == node_id), "worker")
        return {
            "Managers": [v.node.manager_addr for v in views if v.node.manager_addr],
            "Role": role,
        }

    async def promote_node(self, node_id: str, csr_pem: bytes, listen_addr: str) -> dict[str, Any]:
        state, kv = self._need_manager()
        ports = self._member_ports()
        answer = await asyncio.to_thread(
            admission.promote, kv, state.cluster_id, node_id, csr_pem, listen_addr, ports
        )
        answer["SecretsKey"] = base64.b64encode(self._files.secret_key()).decode()
        return answer

    async def renew_node(self, node_id: str, csr_pem: bytes) -> dict[str, Any]:
        state, kv = self._need_manager()
        return await asyncio.to_thread(admission.renew, kv, state.cluster_id, node_id, csr_pem)

    async def forget(self, node_id: str) -> None:
        _, kv = self._need_manager()
        await asyncio.to_thread(admission.forget, kv, node_id)

    # ------------------------------------------------------------------ manager queries
    def _need_manager(self) -> tuple[LocalState, KV]:
        state = self.state
        if self.locked:
            raise Unavailable(SWARM_LOCKED)
        if state is not None and state.role == "worker":
            raise Unavailable(WORKER_NOT_MANAGER)
        if state is None or self._kv is None:
            raise Unavailable(NOT_MANAGER)
        return state, self._kv

    async def inspect(self) -> tuple[Cluster, int, dict[str, str]]:
        """The cluster, its version and join tokens (managers only)."""
        state, kv = self._need_manager()

        def read() -> tuple[Cluster, int, dict[str, str]]:
            cluster, version = admin.cluster(kv, state.cluster_id)
            return cluster, version, admin.tokens(kv)

        return await asyncio.to_thread(read)

    async def nodes(self) -> tuple[list[admin.NodeView], str, str]:
        """Every node, the leader's id and the root CA (managers only)."""
        state, kv = self._need_manager()

        def read() -> tuple[list[admin.NodeView], str, str]:
            cluster, _ = admin.cluster(kv, state.cluster_id)
            return admin.nodes(kv), admin.leader(kv), cluster.root_ca_pem

        return await asyncio.to_thread(read)

    async def node(self, ref: str) -> tuple[admin.NodeView, str, str]:
        state, kv = self._need_manager()
        if ref == "self":
            ref = state.node_id

        def read() -> tuple[admin.NodeView, str, str]:
            cluster, _ = admin.cluster(kv, state.cluster_id)
            return admin.find_node(kv, ref), admin.leader(kv), cluster.root_ca_pem

        return await asyncio.to_thread(read)

    async def update(
        self,
        version: int,
        spec: ClusterSpec,
        rotate_worker: bool,
        rotate_manager: bool,
        rotate_unlock: bool = False,
    ) -> None:
        state, kv = self._need_manager()
        check_spec(spec)

        def write() -> None:
            admin.update_cluster(kv, state.cluster_id, version, spec)
            if rotate_worker or rotate_manager:
                cluster, _ = admin.cluster(kv, state.cluster_id)
                admin.rotate_tokens(kv, cluster.root_ca_pem, rotate_worker, rotate_manager)
            secret_key = self._files.secret_key()
            current = current_unlock_key(kv, secret_key)
            if spec.autolock_managers and (current is None or rotate_unlock):
                sealed = seal_unlock_key(secrets.new_key(), secret_key)
                kv.txn([], [Put(admin.UNLOCK_KEY, sealed)])
            elif not spec.autolock_managers and current is not None:
                kv.txn([], [Delete(admin.UNLOCK_KEY)])
            self._sync_lock(kv)  # this manager at once; the others at their next heartbeat

        await asyncio.to_thread(write)

    async def update_node(self, ref: str, version: int, spec: dict[str, Any]) -> None:
        _, kv = self._need_manager()
        await asyncio.to_thread(admin.update_node, kv, ref, version, spec)

    async def remove_node(self, ref: str, force: bool) -> None:
        _, kv = self._need_manager()
        await asyncio.to_thread(admin.remove_node, kv, ref, force)

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
        if self.locked:
            return {
                "NodeID": "",
                "NodeAddr": state.advertise_addr,
                "LocalNodeState": "locked",
                "ControlAvailable": False,
                "Error": SWARM_LOCKED,
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
        if state.role != "manager":
            out["RemoteManagers"] = [{"NodeID": "", "Addr": m} for m in state.managers]
            return out
        try:
            views, _, _ = await self.nodes()
            cluster, version, _ = await self.inspect()
        except WharfieError as exc:
            out["Error"] = str(exc)
            return out
        managers = [v.node for v in views if v.node.role == "manager"]
        out["RemoteManagers"] = [{"NodeID": n.id, "Addr": n.manager_addr} for n in managers]
        out["Nodes"], out["Managers"] = len(views), len(managers)
        out["Cluster"] = render_cluster(cluster, version)
        return out

    def ping_header(self) -> str:
        """The `Swarm` header of `/_ping` (API 1.44): inactive, or active/manager|worker."""
        state = self.state
        if state is None:
            return "inactive"
        return "active/manager" if state.role == "manager" else "active/worker"

    # ------------------------------------------------------------------ liveness, leadership
    async def _keep_alive(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self._beat)
                if self._wanted_role:
                    await self._change_role()
                await self._renew_if_due()
                self.error = ""
            except WharfieError as exc:
                if str(exc) != self.error:
                    log.warning("swarm heartbeat: %s", exc)
                self.error = str(exc)
                self.is_leader = False
            await asyncio.sleep(HEARTBEAT_EVERY)

    def _beat(self) -> None:
        state = self.state
        if state is None:
            return
        if state.role == "worker":
            self._worker_beat(state)
            return
        if self._kv is None:
            self._connect()
        kv = self._kv
        assert kv is not None
        if not self._lease or kv.keepalive(self._lease) <= 0:
            self._lease = kv.grant(LEASE_TTL)
            kv.txn([], [Put(admin.ALIVE + state.node_id, b"1", lease=self._lease)])
        won = kv.txn(
            [Compare.absent(admin.LEADER)],
            [Put(admin.LEADER, state.node_id.encode(), self._lease)],
        )
        if won.succeeded:
            log.info("swarm: this node leads the cluster")
        self.is_leader = admin.leader(kv) == state.node_id
        self._sync_lock(kv)
        mine = next((v for v in admin.nodes(kv) if v.node.id == state.node_id), None)
        if mine is not None and mine.node.role == "worker":
            self._wanted_role = "worker"

    async def _renew_if_due(self) -> None:
        """Renew this node's certificate (and a manager's store certificate) once it is
        past its renewal time: a new certificate for the key the node holds, from the
        cluster's CA with the cluster's current expiry; the control endpoint then serves it."""
        state = self.state
        if state is None or self.locked:
            return
        if self._renew_at is None:
            cert = await asyncio.to_thread(self._files.read, self._files.identity.cert)
            self._renew_at = pki.renewal_time(cert, random.random())
        if datetime.datetime.now(datetime.UTC) < self._renew_at:
            return
        async with self._lock:
            if state is not self.state:
                return
            await asyncio.to_thread(self._renew, state)
            self._renew_at = None
            await self._endpoint.open(state.listen_addr, self._files.identity)
        log.info("swarm: renewed this node's certificate")

    def _renew(self, state: LocalState) -> None:
        ident = self._files.identity
        csr = pki.request_for(self._files.read(ident.key))
        kv = self._kv
        if state.role != "manager" or kv is None:
            answer = self._call_manager(state, "/renew", {"CSR": csr.decode()})
            nodefiles.replace_file(ident.cert, str(answer["Certificate"]).encode())
            return
        answer = admission.renew(kv, state.cluster_id, state.node_id, csr)
        if self._external is None:  # its member's certificate, from the store CA
            store = self._files.store
            store_csr = pki.request_for(self._files.read(store.key))
            store_cert = admission.renew_store(
                kv, state.cluster_id, state.node_id, store_csr, state.advertise_addr
            )
            # the same key: etcd and the store client pick the new certificate up at their
            # next handshake, never a certificate that does not match the key
            nodefiles.replace_file(store.cert, store_cert)
        nodefiles.replace_file(ident.cert, str(answer["Certificate"]).encode())

    async def _change_role(self) -> None:
        """Become what the node object now says: a manager (promoted) or a worker (demoted)."""
        wanted, self._wanted_role = self._wanted_role, ""
        async with self._lock:
            state = self.state
            if state is None or state.role == wanted:
                return
            await self._endpoint.close()
            self._stop_watch()
            if wanted == "manager":
                await asyncio.to_thread(self._become_manager, state)
            else:
                await asyncio.to_thread(self._become_worker, state)
            await self._endpoint.open(state.listen_addr, self._files.identity)
            log.info("swarm: this node is now a %s", wanted)

    def _become_manager(self, state: LocalState) -> None:
        key_pem, csr_pem = pki.new_request([state.advertise_addr])
        answer = self._call_manager(
            state, "/promote", {"CSR": csr_pem.decode(), "ListenAddr": state.listen_addr}
        )
        root_ca = self._files.read(self._files.identity.ca)
        self._files.write_tls(
            self._files.identity, root_ca, str(answer["Certificate"]).encode(), key_pem
        )
        self._take_store(state, answer, key_pem)
        state.role = "manager"  # last: a manager's calls need the store client

    def _become_worker(self, state: LocalState) -> None:
        kv = self._kv
        if kv is not None:
            state.managers = [
                v.node.manager_addr
                for v in admin.nodes(kv)
                if v.node.role == "manager" and v.node.id != state.node_id and v.node.manager_addr
            ]
            if self._lease:
                with contextlib.suppress(WharfieError):
                    kv.revoke(self._lease)  # its liveness and any leadership go with it
            admission.leave_store(kv, state.node_id)
        self._lease = 0
        self._close_kv()
        member = self._member or self._member_for_state()
        if member is not None:
            member.stop()
        self._member = None
        self.is_leader = False
        self._files.seal(None)  # a worker is never locked
        for path in (self._files.store.ca, self._files.store.cert):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._files.drop_key("store-node.key")
        self._files.drop_key("secrets.key")
        shutil.rmtree(self._files.path("etcd"), ignore_errors=True)
        state.role = "worker"
        state.member_name = state.member_client_url = state.member_peer_url = ""
        state.initial_cluster, state.etcd_endpoints = {}, []
        self._files.save(state)
        key_pem, csr_pem = pki.new_request([state.advertise_addr])
        answer = self._call_manager(state, "/renew", {"CSR": csr_pem.decode()})
        root_ca = self._files.read(self._files.identity.ca)
        self._files.write_tls(
            self._files.identity, root_ca, str(answer["Certificate"]).encode(), key_pem
        )

    def _worker_beat(self, state: LocalState) -> None:
        root_ca = self._files.read(self._files.identity.ca)
        errors = []
        for manager in state.managers:
            try:
                answer = control.call(manager, "/heartbeat", {}, root_ca, self._files.identity, 5)
            except Unavailable as exc:
                errors.append(str(exc))
                continue
            if answer.get("Role") == "manager":
                self._wanted_role = "manager"
            managers = [str(m) for m in answer.get("Managers") or []]
            if managers and managers != state.managers:
                # the first answering manager first: it is known to be up
                state.managers = [manager] + [m for m in managers if m != manager]
                self._files.save(state)
            return
        raise Unavailable("no swarm manager answers: " + "; ".join(errors))

    async def _stop_heartbeat(self) -> None:
        self._stop_watch()
        for task in (self._heartbeat, self._work, self._assign):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._heartbeat = self._work = self._assign = None
        self._assignments = None

    def _start_loops(self) -> None:
        self._wake = asyncio.Event()
        self._heartbeat = asyncio.create_task(self._keep_alive())
        self._work = asyncio.create_task(self._work_loop())
        self._assign = asyncio.create_task(self._assignment_loop())

    # a manager's work rounds are woken by any change in the store (an etcd watch in a
    # thread), so a new service or a task's new status is acted on at once; every
    # WORK_EVERY seconds a round runs anyway
    def _ensure_watch(self) -> None:
        kv = self._kv
        if self._watch_thread is not None and self._watch_thread.is_alive():
            return
        if kv is None or self.state is None or self.state.role != "manager":
            return
        loop = asyncio.get_running_loop()
        stop = self._watch_stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                try:
                    _, revision = kv.range(admin.LEADER)
                    watch = kv.watch(admin.ROOT, revision + 1)
                    self._watch_cancel = watch.cancel
                    for _ in watch.events:
                        if stop.is_set():
                            break
                        loop.call_soon_threadsafe(self._on_store_change)
                except Exception as exc:  # the store is away: the rounds poll meanwhile
                    log.debug("swarm: store watch ended: %s", exc)
                stop.wait(1.0)

        self._watch_thread = threading.Thread(target=run, name="swarm-watch", daemon=True)
        self._watch_thread.start()

    def _on_store_change(self) -> None:
        self._wake.set()
        changed, self._store_changed = self._store_changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    def _next_store_change(self) -> asyncio.Future[None]:
        if self._store_changed is None:
            self._store_changed = asyncio.get_running_loop().create_future()
        return self._store_changed

    def _stop_watch(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()
        cancel, self._watch_cancel = self._watch_cancel, None
        if cancel is not None:
            with contextlib.suppress(Exception):
                cancel()
        self._watch_thread = None

    # ------------------------------------------------------------------ orchestration, agent
    async def _work_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                self._ensure_watch()
                await self._work_once()
            except WharfieError as exc:
                log.warning("swarm: %s", exc)
            except Exception:  # a bug must not stop the node's work: log it, go on
                log.exception("swarm: work round failed")
            # asyncio.timeout, not wait_for: 3.11's wait_for swallows a cancellation that
            # arrives as the event fires, and `leave` then waits for this loop forever
            ended = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WORK_EVERY):
                    await self._wake.wait()
            # rounds at most every WORK_MIN_GAP; a wake after an idle wait acts at once
            await asyncio.sleep(max(0.0, ended + WORK_MIN_GAP - time.monotonic()))

    async def _work_once(self) -> None:
        state = self.state
        if state is None:
            return
        if state.role == "manager" and self.is_leader and self._kv is not None:
            written = await asyncio.to_thread(leader.tick, self._kv, state.cluster_id)
            if written:  # new or changed tasks: the workers' long polls answer now
                self._on_store_change()
        if state.role == "manager" and self._kv is not None:
            kv, key = self._kv, self._files.secret_key()
            assignments = await asyncio.to_thread(assignments_for, kv, state.node_id, key)
        elif state.role == "worker" and self._assignments is not None:
            assignments = self._assignments
        else:  # not known yet: a round now would take this node's tasks for orphans
            return
        if self._plane is not None:  # overlay networks before the tasks that use them
            async with self._claims:
                keep = self._plane.standalone()
                plane = await asyncio.to_thread(self._my_plane, state, keep)
            await self._plane.apply_networks(
                state.node_id, state.advertise_addr, self._data_port, plane
            )
        reports = await self._agent.round(assignments)
        if reports:
            await asyncio.to_thread(self._send_reports, state, reports)

    async def _assignment_loop(self) -> None:
        """A worker's assignments, long-polled from a manager: the call returns when they
        differ from the ones named by their digest (or after ASSIGNMENTS_WAIT), and wakes the
        work loop."""
        digest = ""
        while True:
            state = self.state
            if state is None or state.role != "worker":
                self._assignments, digest = None, ""
                await asyncio.sleep(HEARTBEAT_EVERY)
                continue
            try:
                answer = await asyncio.to_thread(
                    self._call_manager,
                    state,
                    "/assignments",
                    {"Wait": digest},
                    ASSIGNMENTS_WAIT + 10,
                )
            except WharfieError as exc:
                log.debug("swarm: assignments: %s", exc)
                await asyncio.sleep(HEARTBEAT_EVERY)
                continue
            if state is not self.state or state.role != "worker":
                continue
            self._assignments = _assignments_from_answer(answer)
            digest = str(answer.get("Digest") or "")
            self._wake.set()

    def _my_plane(self, state: LocalState, keep: set[str]) -> list[networks.NetworkPlane]:
        """This node's networks; the addresses of its standalone containers but `keep`'s
        given back."""
        if state.role == "manager" and self._kv is not None:
            if not self._data_port:
                self._data_port = admin.cluster(self._kv, state.cluster_id)[0].data_path_port
            networks.release(self._kv, state.node_id, keep)
            return networks.plane_for(self._kv, state.node_id)
        answer = self._call_manager(state, "/netplane", {"Keep": sorted(keep)})
        self._data_port = int(answer.get("DataPathPort") or 4789)
        return networks.plane_from_doc(list(answer.get("Networks") or []))

    async def node_plane(self, node_id: str, keep: list[str]) -> dict[str, Any]:
        """`/control/v1/netplane` for a worker: its networks' endpoints and services."""
        state, kv = self._need_manager()

        def read() -> dict[str, Any]:
            port = admin.cluster(kv, state.cluster_id)[0].data_path_port
            networks.release(kv, node_id, set(keep))
            plane = networks.plane_for(kv, node_id)
            return {"DataPathPort": port, "Networks": networks.plane_to_doc(plane)}

        return await asyncio.to_thread(read)

    async def attach_container(
        self, ref: str, container_id: str
    ) -> tuple[networks.ClusterNetwork, str, int]:
        """An address on an attachable cluster network for a standalone container of this
        node (`docker run --network`): (the network, ip/prefix, the VXLAN port)."""
        state = self.state
        if state is None:
            raise NotFoundError(f"network {ref} not found")
        if state.role == "manager" and self._kv is not None:
            kv = self._kv

            def claim() -> tuple[networks.ClusterNetwork, str, int]:
                n, addr = networks.attach(kv, state.node_id, ref, container_id)
                return n, addr, admin.cluster(kv, state.cluster_id)[0].data_path_port

            async with self._claims:
                return await asyncio.to_thread(claim)
        async with self._claims:
            answer = await asyncio.to_thread(
                self._call_manager, state, "/attach", {"Network": ref, "Container": container_id}
            )
        n = networks.from_store(json.dumps(answer["Network"]).encode())
        return n, str(answer["Address"]), int(answer.get("DataPathPort") or 4789)

    async def node_attach(self, node_id: str, ref: str, container_id: str) -> dict[str, Any]:
        """`/control/v1/attach` for a worker's standalone container."""
        state, kv = self._need_manager()

        def claim() -> dict[str, Any]:
            n, addr = networks.attach(kv, node_id, ref, container_id)
            port = admin.cluster(kv, state.cluster_id)[0].data_path_port
            return {"Network": dataclasses.asdict(n), "Address": addr, "DataPathPort": port}

        return await asyncio.to_thread(claim)

    def _send_reports(self, state: LocalState, reports: list[tuple[str, TaskStatus]]) -> None:
        if state.role == "manager" and self._kv is not None:
            servicestore.report(self._kv, state.node_id, reports)
            return
        body = {
            "Statuses": [
                {"TaskID": tid, "Status": task_to_store(st).decode()} for tid, st in reports
            ]
        }
        self._call_manager(state, "/status", body)

    def _call_manager(
        self, state: LocalState, path: str, body: dict[str, Any], timeout: float = 10
    ) -> dict[str, Any]:
        root_ca = self._files.read(self._files.identity.ca)
        errors = []
        for manager in state.managers:
            try:
                return control.call(manager, path, body, root_ca, self._files.identity, timeout)
            except Unavailable as exc:
                errors.append(str(exc))
        raise Unavailable("no swarm manager answers: " + "; ".join(errors))

    async def node_assignments(self, node_id: str, wait: str = "") -> dict[str, Any]:
        """`/control/v1/assignments` for a worker. With `wait` (the digest of the worker's
        last answer) the answer is held until the assignments differ, at most ASSIGNMENTS_WAIT
        seconds: a worker learns of a new task as soon as the store has it."""
        _, kv = self._need_manager()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ASSIGNMENTS_WAIT
        while True:
            changed = self._next_store_change()  # before reading: no change goes unseen
            answer = await asyncio.to_thread(self._assignments_answer, kv, node_id)
            remaining = deadline - loop.time()
            if not wait or answer["Digest"] != wait or remaining <= 0:
                return answer
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await asyncio.shield(changed)

    def _assignments_answer(self, kv: KV, node_id: str) -> dict[str, Any]:
        found = assignments_for(kv, node_id, self._files.secret_key())
        answer = {
            "Tasks": [
                {
                    "Task": task_to_store(a.task).decode(),
                    "Service": service_to_store(a.service).decode() if a.service else None,
                    "Status": task_to_store(a.status).decode() if a.status else None,
                    "Files": [
                        {
                            "Target": f.target,
                            "Data": base64.b64encode(f.data).decode(),
                            "UID": f.uid,
                            "GID": f.gid,
                            "Mode": f.mode,
                        }
                        for f in a.files
                    ],
                }
                for a in found
            ]
        }
        digest = hashlib.sha256(json.dumps(answer, sort_keys=True).encode()).hexdigest()
        return {**answer, "Digest": digest}

    async def node_report(self, node_id: str, statuses: list[tuple[str, TaskStatus]]) -> None:
        _, kv = self._need_manager()
        await asyncio.to_thread(servicestore.report, kv, node_id, statuses)

    # ------------------------------------------------------------------ logs
    async def local_task_log(self, caller: str, task_id: str, req: LogRequest) -> list[LogLine]:
        """`/control/v1/logs`: a manager asks for the lines of a task this node runs."""
        if self.state is None:
            raise Unavailable(NOT_IN_SWARM)
        return await asyncio.to_thread(self._agent_engine.task_log, task_id, req)

    async def task_logs(
        self, tasks: list[TaskView], req: LogRequest
    ) -> list[tuple[TaskView, LogLine]]:
        """Every line of these tasks, from the nodes that run them, in time order."""
        state, kv = self._need_manager()
        views = {v.node.id: v for v in await asyncio.to_thread(admin.nodes, kv)}

        def fetch(tv: TaskView) -> list[LogLine]:
            if tv.task.node_id == state.node_id:
                return self._agent_engine.task_log(tv.task.id, req)
            node = views.get(tv.task.node_id)
            if node is None or not node.node.control_addr or node.state != "ready":
                return []
            root_ca = self._files.read(self._files.identity.ca)
            try:
                answer = control.call(
                    node.node.control_addr,
                    "/logs",
                    {
                        "TaskID": tv.task.id,
                        "Since": req.since_ns,
                        "Tail": req.tail,
                        "Stdout": req.stdout,
                        "Stderr": req.stderr,
                    },
                    root_ca,
                    self._files.identity,
                    any_node=True,
                )
            except Unavailable as exc:  # that node's lines are missing, the others' are not
                log.warning("logs of task %s: %s", tv.task.id, exc)
                return []
            return [
                LogLine(str(stream), int(t), base64.b64decode(str(data)))
                for stream, t, data in answer.get("Lines") or []
            ]

        results = await asyncio.gather(*(asyncio.to_thread(fetch, tv) for tv in tasks))
        merged = [(tv, line) for tv, lines in zip(tasks, results, strict=True) for line in lines]
        merged.sort(key=lambda item: item[1].time_ns)
        return merged

    # ------------------------------------------------------------------ services and tasks (API)
    async def create_service(self, doc: dict[str, Any]) -> str:
        _, kv = self._need_manager()

        def create() -> str:
            secrets.check_references(kv, doc)
            networks.check_ports(kv, doc)
            return servicestore.create(kv, networks.resolve_spec(kv, doc))

        try:
            return await asyncio.to_thread(create)
        finally:
            self._wake.set()  # the leader's round plans the new tasks now

    async def services(self) -> list[servicestore.StoredService]:
        _, kv = self._need_manager()
        return await asyncio.to_thread(servicestore.services, kv)

    async def service(self, ref: str) -> servicestore.StoredService:
        _, kv = self._need_manager()
        return await asyncio.to_thread(servicestore.find, kv, ref)

    async def update_service(
        self, ref: str, version: int, doc: dict[str, Any] | None, rollback: bool
    ) -> None:
        _, kv = self._need_manager()

        def update() -> None:
            if doc is not None:
                secrets.check_references(kv, doc)
                networks.resolve_spec(kv, doc)
                networks.check_ports(kv, doc, servicestore.find(kv, ref).service.id)
            servicestore.update(kv, ref, version, doc, rollback)

        try:
            await asyncio.to_thread(update)
        finally:
            self._wake.set()

    async def remove_service(self, ref: str) -> None:
        _, kv = self._need_manager()
        await asyncio.to_thread(servicestore.remove, kv, ref)

    async def tasks(self) -> tuple[list[TaskView], dict[str, int]]:
        _, kv = self._need_manager()
        return await asyncio.to_thread(servicestore.tasks, kv)

    async def create_blob(self, kind: str, doc: dict[str, Any]) -> str:
        _, kv = self._need_manager()
        return await asyncio.to_thread(secrets.create, kv, kind, doc, self._files.secret_key())

    async def blobs(self, kind: str) -> list[tuple[secrets.Blob, int]]:
        _, kv = self._need_manager()
        return await asyncio.to_thread(secrets.all_of, kv, kind)

    async def blob(self, kind: str, ref: str) -> tuple[secrets.Blob, int]:
        _, kv = self._need_manager()
        return await asyncio.to_thread(secrets.find, kv, kind, ref)

    async def update_blob(self, kind: str, ref: str, version: int, doc: dict[str, Any]) -> None:
        _, kv = self._need_manager()
        await asyncio.to_thread(secrets.update, kv, kind, ref, version, doc)

    async def remove_blob(self, kind: str, ref: str) -> None:
        _, kv = self._need_manager()

        def remove() -> None:
            users = [st.service for st in servicestore.services(kv)]
            secrets.remove(kv, kind, ref, users)

        await asyncio.to_thread(remove)

    # ------------------------------------------------------------------ networks (networks.py)
    def network_role(self) -> str:
        """ "" outside a swarm, else this node's role (what /networks asks first)."""
        state = self.state
        return "" if state is None else state.role

    async def create_network(self, body: dict[str, Any]) -> str:
        state, kv = self._need_manager()

        def create() -> str:
            cluster, _ = admin.cluster(kv, state.cluster_id)
            return networks.create(kv, body, cluster.default_addr_pool, cluster.subnet_size)

        return await asyncio.to_thread(create)

    async def cluster_networks(self) -> list[networks.StoredNetwork]:
        state = self.state
        if state is None or state.role != "manager" or self._kv is None:
            return []
        return await asyncio.to_thread(networks.networks, self._kv)

    async def remove_network(self, ref: str) -> networks.ClusterNetwork:
        _, kv = self._need_manager()

        def remove() -> networks.ClusterNetwork:
            services = [st.service for st in servicestore.services(kv)]
            # tasks of a removed service are being shut down: they do not hold the network
            # (as `docker stack rm` removes services, then their network at once)
            known = {s.id for s in services}
            tasks = [
                tv.task
                for tv in servicestore.tasks(kv)[0]
                if tv.observed not in TERMINAL
                and tv.task.desired_state == "running"
                and tv.task.service_id in known
            ]
            return networks.remove(kv, ref, services, tasks)

        return await asyncio.to_thread(remove)

    # ------------------------------------------------------------------ helpers
    def _etcd_urls(self, addr: str) -> tuple[str, str]:
        host = f"[{addr}]" if ":" in addr else addr
        return (
            f"https://{host}:{self._ports.etcd_client}",
            f"https://{host}:{self._ports.etcd_peer}",
        )

    def _store_tls(self) -> TLSFiles | None:
        """The identity this manager reaches the store with: the external store's, or its
        certificate from the store CA."""
        if self._external is not None:
            return self._external.tls
        return self._files.store

    def _member_ports(self) -> tuple[int, int] | None:
        """For admission: the ports of a new manager's member; None with an external store
        (a new manager runs no member)."""
        if self._external is not None:
            return None
        return (self._ports.etcd_client, self._ports.etcd_peer)

    def _use_external(self, answer: dict[str, Any], state: LocalState) -> bool:
        """Whether a manager admitted by `answer` uses an external store; this daemon must
        then be set up with one (and a cluster with members cannot use it)."""
        if not answer.get("ExternalStore"):
            if self._external is not None:
                raise Unavailable(
                    "this swarm keeps its state in etcd members of its managers, but this "
                    "daemon was started with --cluster-store"
                )
            return False
        if self._external is None:
            raise Unavailable(
                "this swarm keeps its state in an external etcd: start this daemon with "
                "--cluster-store (and its --cluster-store-opt) to join it as a manager"
            )
        state.etcd_endpoints = list(self._external.endpoints)
        return True

    def _member_for_state(self) -> EtcdMember | None:
        state = self.state
        if state is None or not state.member_name:
            return None
        cfg = MemberConfig(
            name=state.member_name,
            data_dir=self._files.path("etcd", "data"),
            client_url=state.member_client_url,
            peer_url=state.member_peer_url,
            tls=self._files.store,
            initial_cluster=state.initial_cluster,
            state="new",
            cluster_token=state.cluster_id,
        )
        return EtcdMember(
            cfg, self._files.path("etcd"), self._etcd_binary, tuple(self._files.held_fds())
        )

    def _start_member(self, cluster_state: str, wait: bool = True) -> None:
        member = self._member_for_state()
        if member is None:
            return
        if cluster_state == "existing":
            member.cfg = dataclasses.replace(member.cfg, state="existing")
        os.makedirs(self._files.path("etcd"), mode=0o700, exist_ok=True)
        self._member = member
        if wait:
            member.start()
        else:
            member.start_process()

    def _connect(self) -> None:
        """After a daemon restart: the member's process is started (or found) but not waited
        for -- a member serves only once a quorum of its peers runs, and the daemon must serve
        meanwhile; the heartbeat reports the store as unreachable until it does."""
        state = self.state
        assert state is not None
        if state.role != "manager":
            return
        if self._external is not None:  # the daemon's settings win over what was saved
            state.etcd_endpoints = list(self._external.endpoints)
        self._start_member("existing", wait=False)
        self._kv = EtcdKV(state.etcd_endpoints, self._store_tls())

    def _close_kv(self) -> None:
        if isinstance(self._kv, EtcdKV):
            self._kv.close()
        self._kv = None


def assignments_for(kv: KV, node_id: str, key: bytes) -> list[Assignment]:
    """The tasks assigned to a node, with their services, last reported status, and the
    secret and config files of those still to run (decrypted: they go to that node only)."""
    store = admin.objects(kv)
    (task_e, status_e, service_e), _ = kv.ranges(
        [store.prefix("task"), leader.STATUS, store.prefix("service")]
    )
    views, _ = leader.task_views(kv, task_e, status_e)
    mine = [v for v in views if v.task.node_id == node_id]
    wanted = {v.task.service_id for v in mine}
    services = {
        s.id: service_from_store(s.body)
        for s in store.from_entries("service", service_e)
        if s.id in wanted
    }
    out = []
    for v in mine:
        service = services.get(v.task.service_id)
        files: tuple[secrets.TaskFile, ...] = ()
        if service is not None and v.task.desired_state != "shutdown" and v.status is None:
            files = tuple(secrets.files_for(kv, service, key))
        out.append(Assignment(v.task, service, v.status, files))
    return out


def _assignments_from_answer(answer: dict[str, Any]) -> list[Assignment]:
    return [
        Assignment(
            task_from_store(str(a["Task"]).encode()),
            service_from_store(str(a["Service"]).encode()) if a.get("Service") else None,
            status_from_store(str(a["Status"]).encode()) if a.get("Status") else None,
            tuple(
                secrets.TaskFile(
                    str(f["Target"]),
                    base64.b64decode(str(f["Data"])),
                    int(f["UID"]),
                    int(f["GID"]),
                    int(f["Mode"]),
                )
                for f in a.get("Files") or []
            ),
        )
        for a in answer.get("Tasks") or []
    ]


def _expiry(ns: int) -> datetime.timedelta:
    return datetime.timedelta(microseconds=ns // 1000)


def _control_addr(advertise: str, listen: str) -> str:
    port = listen.rsplit(":", 1)[-1] if ":" in listen else "2377"
    host = f"[{advertise}]" if ":" in advertise else advertise
    return f"{host}:{port}"


def parse_unlock_key(text: str) -> bytes:
    """swarmkit's human-readable unlock key, `SWMKEY-1-<base64 of 32 bytes, unpadded>`."""
    if not text.startswith(UNLOCK_KEY_PREFIX):
        raise InvalidArgument("invalid key string")
    body = text[len(UNLOCK_KEY_PREFIX) :]
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except ValueError:
        raise InvalidArgument("invalid key string") from None
    return key


def human_unlock_key(key: bytes) -> str:
    return UNLOCK_KEY_PREFIX + base64.b64encode(key).decode().rstrip("=")


def seal_unlock_key(key: bytes, secret_key: bytes) -> bytes:
    return secrets.seal(secret_key, key, b"unlock-key")


def current_unlock_key(kv: KV, secret_key: bytes) -> bytes | None:
    """The cluster's unlock key (None without autolock), opened with the secrets key."""
    entry = kv.get(admin.UNLOCK_KEY)
    return secrets.unseal(secret_key, entry.value, b"unlock-key") if entry else None


def check_spec(spec: ClusterSpec, context: str = "") -> None:
    """swarmkit's checks of a cluster spec, in its words."""
    if spec.node_cert_expiry_ns < pki.MIN_NODE_EXPIRY // datetime.timedelta(microseconds=1) * 1000:
        raise InvalidArgument(
            f"{context}rpc error: code = InvalidArgument desc = minimum certificate expiry "
            "time is: 1h0m0s"
        )
