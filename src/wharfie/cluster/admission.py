"""A manager's side of the control endpoint: admitting a joining node, and keeping workers'
liveness. Blocking functions of the KV (the daemon calls them in a thread).

Admission checks the join token against the cluster's two (constant-time), signs the node's
certificate request with the root CA (and, for a manager, with the store CA), records the node,
and for a manager announces its etcd member (`member add`) before answering, so the joining
node starts its member with `initial-cluster-state existing`. The node object is written first:
once the member is added, a cluster of one manager needs the new member to commit anything.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from wharfie.cluster import admin, pki
from wharfie.cluster.kv import KV, Delete, Put
from wharfie.cluster.records import Node, NodeDescription, new_id, to_store
from wharfie.errors import InvalidArgument

BAD_TOKEN = (
    "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster"
)
WORKER_LEASE_TTL = 5


@dataclass(frozen=True)
class JoinRequest:
    token: str
    csr_pem: bytes
    advertise_addr: str
    listen_addr: str
    availability: str
    description: NodeDescription


def role_for_token(tokens: dict[str, str], token: str) -> str:
    """'worker' or 'manager' for a token of this cluster; the swarmkit error otherwise."""
    pki.parse_join_token(token)  # "invalid join token" for a malformed one
    for role in ("manager", "worker"):
        expected = tokens.get(role, "")
        if expected and pki.token_matches(expected, token):
            return role
    raise InvalidArgument(BAD_TOKEN)


def admit(
    kv: KV, cluster_id: str, req: JoinRequest, etcd_ports: tuple[int, int] | None
) -> dict[str, Any]:
    """A joining node's identity; a manager also gets its etcd membership (`etcd_ports`:
    the ports of its member; None with an external store, where it runs none)."""
    role = role_for_token(admin.tokens(kv), req.token)
    if req.availability not in ("", "active", "pause", "drain"):
        raise InvalidArgument(f"invalid availability {req.availability!r}")
    cluster, _ = admin.cluster(kv, cluster_id)
    root_key = kv.get(admin.ROOT_CA_KEY)
    if root_key is None:
        raise InvalidArgument("this cluster's root CA key is missing from the store")
    root = pki.KeyPair(cluster.root_ca_pem.encode(), root_key.value)
    expiry = datetime.timedelta(microseconds=cluster.spec.node_cert_expiry_ns // 1000)
    node_id = new_id()
    pki_role = pki.MANAGER if role == "manager" else pki.WORKER
    cert = pki.sign_request(
        root, req.csr_pem, node_id, pki_role, cluster_id, [req.advertise_addr], expiry
    )
    now = time.time_ns()
    node = Node(
        id=node_id,
        created_ns=now,
        updated_ns=now,
        role=role,
        availability=req.availability or "active",
        description=req.description,
        addr=req.advertise_addr,
        manager_addr=f"{req.advertise_addr}:{_port(req.listen_addr)}" if role == "manager" else "",
        control_addr=f"{req.advertise_addr}:{_port(req.listen_addr)}",
        cert_pem=cert.decode(),
    )
    admin.objects(kv).create("node", node_id, to_store(node))
    managers = [v.node.manager_addr for v in admin.nodes(kv) if v.node.role == "manager"]
    out: dict[str, Any] = {
        "NodeID": node_id,
        "ClusterID": cluster_id,
        "Role": role,
        "RootCA": cluster.root_ca_pem,
        "Certificate": cert.decode(),
        "Managers": [m for m in managers if m],
    }
    if role == "manager":
        out.update(_add_member(kv, node_id, req, cluster_id, expiry, etcd_ports))
    return out


def promote(
    kv: KV,
    cluster_id: str,
    node_id: str,
    csr_pem: bytes,
    listen_addr: str,
    ports: tuple[int, int] | None,
) -> dict[str, Any]:
    """A worker whose node object says `manager` asks for its manager identity: a new node
    certificate, a store certificate and its etcd membership."""
    from wharfie.cluster.records import node_from_store

    stored = admin.objects(kv).get("node", node_id)
    node = node_from_store(stored.body)
    if node.role != "manager":
        raise InvalidArgument(f"node {node_id} is not to be a manager")
    cluster, _ = admin.cluster(kv, cluster_id)
    expiry = datetime.timedelta(microseconds=cluster.spec.node_cert_expiry_ns // 1000)
    cert = _identity(
        kv, cluster.root_ca_pem, csr_pem, node_id, pki.MANAGER, cluster_id, node.addr, expiry
    )
    node.manager_addr = f"{node.addr}:{_port(listen_addr)}"
    node.cert_pem = cert.decode()
    node.updated_ns = time.time_ns()
    admin.objects(kv).update("node", node_id, stored.version, to_store(node))
    req = JoinRequest("", csr_pem, node.addr, listen_addr, node.availability, node.description)
    out = {"Certificate": cert.decode(), "RootCA": cluster.root_ca_pem}
    out.update(_add_member(kv, node_id, req, cluster_id, expiry, ports))
    return out


def renew(kv: KV, cluster_id: str, node_id: str, csr_pem: bytes) -> dict[str, Any]:
    """A new node certificate with the role the node object holds now (after a demotion)."""
    from wharfie.cluster.records import node_from_store

    node = node_from_store(admin.objects(kv).get("node", node_id).body)
    cluster, _ = admin.cluster(kv, cluster_id)
    expiry = datetime.timedelta(microseconds=cluster.spec.node_cert_expiry_ns // 1000)
    role = pki.MANAGER if node.role == "manager" else pki.WORKER
    cert = _identity(kv, cluster.root_ca_pem, csr_pem, node_id, role, cluster_id, node.addr, expiry)
    return {"Certificate": cert.decode(), "Role": node.role}


def renew_store(kv: KV, cluster_id: str, node_id: str, csr_pem: bytes, addr: str) -> bytes:
    """A manager's new store (etcd) certificate, for the key in its CSR."""
    cluster, _ = admin.cluster(kv, cluster_id)
    expiry = datetime.timedelta(microseconds=cluster.spec.node_cert_expiry_ns // 1000)
    store_ca = kv.get(admin.STORE_CA)
    if store_ca is None:
        raise InvalidArgument("this cluster's store CA is missing from the store")
    ca = json.loads(store_ca.value)
    store = pki.KeyPair(ca["cert"].encode(), ca["key"].encode())
    return pki.sign_request(
        store, csr_pem, node_id, pki.MANAGER, cluster_id, [addr, "127.0.0.1"], expiry
    )


def _identity(
    kv: KV,
    root_ca_pem: str,
    csr_pem: bytes,
    node_id: str,
    role: str,
    cluster_id: str,
    addr: str,
    expiry: datetime.timedelta,
) -> bytes:
    root_key = kv.get(admin.ROOT_CA_KEY)
    if root_key is None:
        raise InvalidArgument("this cluster's root CA key is missing from the store")
    root = pki.KeyPair(root_ca_pem.encode(), root_key.value)
    return pki.sign_request(root, csr_pem, node_id, role, cluster_id, [addr], expiry)


def leave_store(kv: KV, node_id: str) -> None:
    """A demoted manager's etcd member leaves the store (its node object stays)."""
    from wharfie.cluster.kv import EtcdKV

    if isinstance(kv, EtcdKV):
        for m in kv.members().get("members") or []:
            if m.get("name") == node_id:
                kv.member_remove(int(m["ID"]))


def _add_member(
    kv: KV,
    node_id: str,
    req: JoinRequest,
    cluster_id: str,
    expiry: datetime.timedelta,
    etcd_ports: tuple[int, int] | None,
) -> dict[str, Any]:
    if etcd_ports is None:
        return {"ExternalStore": True}
    store_ca = kv.get(admin.STORE_CA)
    if store_ca is None:
        raise InvalidArgument("this cluster's store CA is missing from the store")
    ca = json.loads(store_ca.value)
    store = pki.KeyPair(ca["cert"].encode(), ca["key"].encode())
    store_cert = pki.sign_request(
        store, req.csr_pem, node_id, pki.MANAGER, cluster_id, [req.advertise_addr], expiry
    )
    host = f"[{req.advertise_addr}]" if ":" in req.advertise_addr else req.advertise_addr
    client_url = f"https://{host}:{etcd_ports[0]}"
    peer_url = f"https://{host}:{etcd_ports[1]}"
    members = _add_when_ready(kv, peer_url)
    initial = {}
    endpoints = [client_url]
    for m in members:
        peers = list(m.get("peerURLs") or [])
        if not peers:
            continue
        name = str(m.get("name") or "") or (node_id if peer_url in peers else "")
        if name:
            initial[name] = peers[0]
        endpoints += [u for u in m.get("clientURLs") or [] if u not in endpoints]
    return {
        "StoreCA": ca["cert"],
        "StoreCertificate": store_cert.decode(),
        "MemberName": node_id,
        "MemberClientURL": client_url,
        "MemberPeerURL": peer_url,
        "InitialCluster": initial,
        "EtcdEndpoints": endpoints,
    }


def _add_when_ready(kv: KV, peer_url: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """`member add`, retried while etcd refuses it as unsafe: etcd (strict reconfiguration
    check) adds a voting member only once every member has been up for a few seconds, so a
    manager joining right after another waits here rather than failing."""
    from wharfie.cluster.kv import EtcdKV, StoreUnavailable

    if not isinstance(kv, EtcdKV):
        raise InvalidArgument("adding a manager needs the etcd store")
    deadline = time.monotonic() + timeout
    while True:
        try:
            return kv.member_add([peer_url])
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def forget(kv: KV, node_id: str) -> None:
    """A node that failed to finish joining (or a manager leaving): its member and object."""
    from wharfie.cluster.kv import EtcdKV

    if isinstance(kv, EtcdKV):
        for m in kv.members().get("members") or []:
            if m.get("name") == node_id:
                kv.member_remove(int(m["ID"]))
    kv.txn([], [Delete(admin.objects(kv).key("node", node_id)), Delete(admin.ALIVE + node_id)])


class WorkerLeases:
    """The liveness of workers, which cannot reach etcd: each heartbeat a worker sends to a
    manager renews a lease that manager holds for it, under `alive/<node id>`."""

    def __init__(self) -> None:
        self._leases: dict[str, int] = {}
        self._lock = threading.Lock()

    def beat(self, kv: KV, node_id: str) -> None:
        with self._lock:
            lease = self._leases.get(node_id, 0)
        if lease and kv.keepalive(lease) > 0:
            return
        lease = kv.grant(WORKER_LEASE_TTL)
        kv.txn([], [Put(admin.ALIVE + node_id, b"1", lease=lease)])
        with self._lock:
            self._leases[node_id] = lease


def _port(listen_addr: str) -> int:
    try:
        return int(listen_addr.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        raise InvalidArgument(f"invalid listen address {listen_addr!r}") from None
