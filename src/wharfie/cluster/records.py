"""The cluster's typed records (cluster, node) and the documents the Engine API shows of them.

Inside the cluster package objects are these dataclasses; they are stored as JSON (`to_store`
/ `from_store`) and rendered for the API by `render_*`, in the shapes dockerd's swarm mode
answers with (captured in docs/wire/swarm-dockerd-20.10.txt). The version (`Version.Index`)
is never stored inside an object: it is the etcd revision of the object's key.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from wharfie.times import format_nano

SECOND_NS = 1_000_000_000
DEFAULT_NODE_CERT_EXPIRY_NS = 90 * 24 * 3600 * SECOND_NS


def new_id() -> str:
    """Swarm's object id: 128 random bits (high bit set) in base36, 25 characters."""
    raw = bytearray(secrets.token_bytes(16))
    raw[0] |= 0x80
    n = int.from_bytes(raw, "big")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(25, "0")


@dataclass
class ClusterSpec:
    """The part of the cluster a user changes with `swarm update` (dockerd's defaults)."""

    name: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    task_history_retention_limit: int = 5
    snapshot_interval: int = 10000
    keep_old_snapshots: int = 0
    log_entries_for_slow_followers: int = 500
    election_tick: int = 10
    heartbeat_tick: int = 1
    heartbeat_period_ns: int = 5 * SECOND_NS
    node_cert_expiry_ns: int = DEFAULT_NODE_CERT_EXPIRY_NS
    autolock_managers: bool = False


@dataclass
class Cluster:
    id: str
    created_ns: int
    updated_ns: int
    spec: ClusterSpec
    root_ca_pem: str
    default_addr_pool: list[str] = field(default_factory=lambda: ["10.0.0.0/8"])
    subnet_size: int = 24
    data_path_port: int = 4789


@dataclass
class NodeDescription:
    hostname: str
    architecture: str
    os: str
    nano_cpus: int
    memory_bytes: int
    engine_version: str
    plugins: list[tuple[str, str]]  # (type, name)
    engine_labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Node:
    id: str
    created_ns: int
    updated_ns: int
    role: str  # "manager" | "worker" (the spec's desired role)
    availability: str  # "active" | "pause" | "drain"
    description: NodeDescription
    addr: str  # the node's advertise IP
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    manager_addr: str = ""  # "<ip>:<port>" of its control endpoint, managers only
    control_addr: str = ""  # "<ip>:<port>" of its control endpoint (every node: task logs)
    cert_pem: str = ""  # its current node certificate (for TLSInfo)


def to_store(record: Cluster | Node) -> bytes:
    return json.dumps(asdict(record), sort_keys=True, separators=(",", ":")).encode()


def cluster_from_store(raw: bytes) -> Cluster:
    doc = json.loads(raw)
    doc["spec"] = ClusterSpec(**doc["spec"])
    return Cluster(**doc)


def node_from_store(raw: bytes) -> Node:
    doc = json.loads(raw)
    desc = doc["description"]
    desc["plugins"] = [tuple(p) for p in desc["plugins"]]
    doc["description"] = NodeDescription(**desc)
    return Node(**doc)


# -- rendering (the Engine API's documents) --


def tls_info(root_ca_pem: str) -> dict[str, str]:
    """TLSInfo as dockerd shows it: the root, its subject and public key (base64 DER)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = x509.load_pem_x509_certificate(root_ca_pem.encode())
    spki = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "TrustRoot": root_ca_pem,
        "CertIssuerSubject": base64.b64encode(ca.subject.public_bytes()).decode(),
        "CertIssuerPublicKey": base64.b64encode(spki).decode(),
    }


def render_cluster_spec(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "Name": spec.name,
        "Labels": dict(spec.labels),
        "Orchestration": {"TaskHistoryRetentionLimit": spec.task_history_retention_limit},
        "Raft": {
            "SnapshotInterval": spec.snapshot_interval,
            "KeepOldSnapshots": spec.keep_old_snapshots,
            "LogEntriesForSlowFollowers": spec.log_entries_for_slow_followers,
            "ElectionTick": spec.election_tick,
            "HeartbeatTick": spec.heartbeat_tick,
        },
        "Dispatcher": {"HeartbeatPeriod": spec.heartbeat_period_ns},
        "CAConfig": {"NodeCertExpiry": spec.node_cert_expiry_ns},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": spec.autolock_managers},
    }


def render_cluster(c: Cluster, version: int) -> dict[str, Any]:
    """The `Cluster` of `/info` (no join tokens)."""
    return {
        "ID": c.id,
        "Version": {"Index": version},
        "CreatedAt": format_nano(c.created_ns),
        "UpdatedAt": format_nano(c.updated_ns),
        "Spec": render_cluster_spec(c.spec),
        "TLSInfo": tls_info(c.root_ca_pem),
        "RootRotationInProgress": False,
        "DefaultAddrPool": list(c.default_addr_pool),
        "SubnetSize": c.subnet_size,
        "DataPathPort": c.data_path_port,
    }


def render_swarm(c: Cluster, version: int, worker_token: str, manager_token: str) -> dict[str, Any]:
    """`GET /swarm`: the cluster with its join tokens (managers only)."""
    return {
        **render_cluster(c, version),
        "JoinTokens": {"Worker": worker_token, "Manager": manager_token},
    }


def render_node(
    n: Node, version: int, root_ca_pem: str, state: str, leader: bool
) -> dict[str, Any]:
    d = n.description
    spec: dict[str, Any] = {
        "Labels": dict(n.labels),
        "Role": n.role,
        "Availability": n.availability,
    }
    if n.name:
        spec = {"Name": n.name, **spec}
    doc: dict[str, Any] = {
        "ID": n.id,
        "Version": {"Index": version},
        "CreatedAt": format_nano(n.created_ns),
        "UpdatedAt": format_nano(n.updated_ns),
        "Spec": spec,
        "Description": {
            "Hostname": d.hostname,
            "Platform": {"Architecture": d.architecture, "OS": d.os},
            "Resources": {"NanoCPUs": d.nano_cpus, "MemoryBytes": d.memory_bytes},
            "Engine": {
                "EngineVersion": d.engine_version,
                **({"Labels": dict(d.engine_labels)} if d.engine_labels else {}),
                "Plugins": [{"Type": t, "Name": name} for t, name in d.plugins],
            },
            "TLSInfo": tls_info(root_ca_pem),
        },
        "Status": {"State": state, "Addr": n.addr},
    }
    if n.role == "manager" and n.manager_addr:
        doc["ManagerStatus"] = {
            **({"Leader": True} if leader else {}),
            "Reachability": "reachable" if state == "ready" else "unreachable",
            "Addr": n.manager_addr,
        }
    return doc


def cluster_spec_from_api(doc: dict[str, Any], base: ClusterSpec | None = None) -> ClusterSpec:
    """A `swarm.Spec` document (already type-checked) over `base` (dockerd's defaults).

    As dockerd, a field the document leaves out or zero keeps the base's value for the
    sections swarmkit defaults (Raft ticks, dispatcher, CA expiry); names and labels are
    taken as given."""
    spec = ClusterSpec(**asdict(base)) if base else ClusterSpec()
    spec.name = str(doc.get("Name") or spec.name)
    if "Labels" in doc:
        spec.labels = dict(doc.get("Labels") or {})
    orch = doc.get("Orchestration") or {}
    if orch.get("TaskHistoryRetentionLimit") is not None:
        spec.task_history_retention_limit = int(orch["TaskHistoryRetentionLimit"])
    raft = doc.get("Raft") or {}
    for api_name, attr in (
        ("SnapshotInterval", "snapshot_interval"),
        ("LogEntriesForSlowFollowers", "log_entries_for_slow_followers"),
        ("ElectionTick", "election_tick"),
        ("HeartbeatTick", "heartbeat_tick"),
    ):
        if raft.get(api_name):
            setattr(spec, attr, int(raft[api_name]))
    if raft.get("KeepOldSnapshots") is not None:
        spec.keep_old_snapshots = int(raft["KeepOldSnapshots"])
    period = (doc.get("Dispatcher") or {}).get("HeartbeatPeriod")
    if period:
        spec.heartbeat_period_ns = int(period)
    expiry = (doc.get("CAConfig") or {}).get("NodeCertExpiry")
    if expiry:
        spec.node_cert_expiry_ns = int(expiry)
    enc = doc.get("EncryptionConfig") or {}
    if "AutoLockManagers" in enc:
        spec.autolock_managers = bool(enc["AutoLockManagers"])
    return spec
