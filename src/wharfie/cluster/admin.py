"""Reading and changing the cluster's objects on a manager: the cluster, its nodes, the join
tokens. Functions of a KV and the cluster id, so that each is usable (and testable) without a
running daemon; blocking (the daemon calls them in a thread).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from wharfie.cluster import pki
from wharfie.cluster.kv import KV, Entry, Put
from wharfie.cluster.objects import ObjectStore
from wharfie.cluster.records import (
    Cluster,
    ClusterSpec,
    Node,
    cluster_from_store,
    node_from_store,
    to_store,
)
from wharfie.errors import InvalidArgument, NotFound

ROOT = "/wharfie/swarm/"
TOKENS = ROOT + "private/join-tokens"
ROOT_CA_KEY = ROOT + "private/root-ca-key"
STORE_CA = ROOT + "private/store-ca"  # {"cert": pem, "key": pem}
ALIVE = ROOT + "alive/"
LEADER = ROOT + "leader"
UNLOCK_KEY = ROOT + "private/unlock-key"  # autolock: the unlock key, sealed with the secrets key


@dataclass(frozen=True)
class NodeView:
    node: Node
    version: int
    state: str  # "ready" | "down"


def objects(kv: KV) -> ObjectStore:
    return ObjectStore(kv, ROOT)


def cluster(kv: KV, cluster_id: str) -> tuple[Cluster, int]:
    stored = objects(kv).get("cluster", cluster_id)
    return cluster_from_store(stored.body), stored.version


def tokens(kv: KV) -> dict[str, str]:
    entry = kv.get(TOKENS)
    return json.loads(entry.value) if entry else {}


def alive(kv: KV) -> set[str]:
    return {e.key[len(ALIVE) :] for e in kv.range(ALIVE)[0]}


def leader(kv: KV) -> str:
    entry = kv.get(LEADER)
    return entry.value.decode() if entry else ""


def nodes(kv: KV) -> list[NodeView]:
    (node_entries, alive_entries), _ = kv.ranges([objects(kv).prefix("node"), ALIVE])
    return node_views(kv, node_entries, alive_entries)


def node_views(kv: KV, node_entries: list[Entry], alive_entries: list[Entry]) -> list[NodeView]:
    """Nodes and their state from the entries under the node prefix and ALIVE."""
    stored = objects(kv).from_entries("node", node_entries)
    up = {e.key[len(ALIVE) :] for e in alive_entries}
    return [
        NodeView(node_from_store(s.body), s.version, "ready" if s.id in up else "down")
        for s in stored
    ]


def find_node(kv: KV, ref: str) -> NodeView:
    """By id, then name or hostname, then unique id prefix (dockerd's order)."""
    views = nodes(kv)
    for match in (
        lambda v: v.node.id == ref,
        lambda v: ref in (v.node.name, v.node.description.hostname),
        lambda v: bool(ref) and v.node.id.startswith(ref),
    ):
        hits = [v for v in views if match(v)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise InvalidArgument(f"node {ref} is ambiguous ({len(hits)} matches found)")
    raise NotFound(f"node {ref} not found")


def update_cluster(kv: KV, cluster_id: str, version: int, spec: ClusterSpec) -> None:
    c, _ = cluster(kv, cluster_id)
    c.spec = spec
    c.updated_ns = time.time_ns()
    objects(kv).update("cluster", cluster_id, version, to_store(c))


def rotate_tokens(kv: KV, root_ca_pem: str, worker: bool, manager: bool) -> None:
    current = tokens(kv)
    if worker:
        current["worker"] = pki.new_join_token(root_ca_pem.encode())
    if manager:
        current["manager"] = pki.new_join_token(root_ca_pem.encode())
    kv.txn([], [Put(TOKENS, json.dumps(current).encode())])


def update_node(kv: KV, ref: str, version: int, spec: dict[str, Any]) -> None:
    """`POST /nodes/{id}/update`: name, labels, role and availability, with swarmkit's checks."""
    view = find_node(kv, ref)
    node = view.node
    role = str(spec.get("Role") or node.role)
    availability = str(spec.get("Availability") or node.availability)
    if role not in ("manager", "worker"):
        raise InvalidArgument(f"invalid role {role!r}")
    if availability not in ("active", "pause", "drain"):
        raise InvalidArgument(f"invalid availability {availability!r}")
    if role != node.role:
        managers = [v for v in nodes(kv) if v.node.role == "manager" and v.node.id != node.id]
        if role == "worker" and not managers:
            raise InvalidArgument(
                "rpc error: code = FailedPrecondition desc = attempting to demote the last "
                "manager of the swarm"
            )
        node.role = role  # the node itself acts on it at its next heartbeat
    node.name = str(spec.get("Name") or "")
    node.labels = dict(spec.get("Labels") or {})
    node.availability = availability
    node.updated_ns = time.time_ns()
    objects(kv).update("node", node.id, version, to_store(node))


def remove_node(kv: KV, ref: str, force: bool) -> None:
    view = find_node(kv, ref)
    node = view.node
    if node.role == "manager":
        raise InvalidArgument(
            f"rpc error: code = FailedPrecondition desc = node {node.id} is a cluster manager "
            "and is a member of the raft cluster. It must be demoted to worker before removal"
        )
    if view.state != "down" and not force:
        raise InvalidArgument(
            f"rpc error: code = FailedPrecondition desc = node {node.id} is not down and can't "
            "be removed"
        )
    objects(kv).delete("node", node.id)
