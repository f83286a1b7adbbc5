"""Cluster networks: overlay networks kept in etcd, their subnets, VNIs and addresses.

A cluster network is a named object (`objects/network/<id>`, `names/network/<name>`) like a
service. What it takes from the cluster's pools is claimed by keys written in the same
transaction as the object, so a failed create leaves nothing and two managers never hand out
the same thing:
- `netalloc/vni/<vni>` -> the network id (the VXLAN id, from 4097 up: 4096 is the ingress
  network's in Docker's numbering);
- `netalloc/subnet/<cidr>` -> the network id;
- `netalloc/seq` -> a counter every create and delete moves: a create compares its revision,
  so the overlap check it made against every other network is still true when it lands;
- `netaddr/<network id>/<ip>` -> the owner of an address: `service/<id>` (its VIP on the
  network) or `task/<id>` (its endpoint).

Addresses of services (VIPs) and tasks are handed out by the leader (`reconcile` every tick,
`task_ops` with each new task); addresses whose owner is gone are released by `reconcile`.

Rendering is Docker's: `render` is `GET /networks/{id}` on a manager (Scope "swarm", the VNI in
`Options["com.docker.network.driver.overlay.vxlanid_list"]`), `render_attachment` a task's
`NetworksAttachments` entry. The pure parts (choice of VNI, subnet and address, the in-use
check, the documents) are unit-tested.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from wharfie.cluster import admin
from wharfie.cluster.kv import KV, Compare, Delete, Op, Put
from wharfie.cluster.objects import OutOfSequence
from wharfie.cluster.records import new_id
from wharfie.cluster.services import (
    TERMINAL,
    Service,
    Task,
    service_from_store,
    service_to_store,
    task_to_store,
)
from wharfie.cluster.taskspec import container_name
from wharfie.errors import Conflict, InvalidArgument, NotFound, Unavailable
from wharfie.times import format_nano

KIND = "network"
ALLOC = admin.ROOT + "netalloc/"
SEQ = ALLOC + "seq"
ADDR = admin.ROOT + "netaddr/"
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
FIRST_VNI = 4097  # 4096: the ingress network's
INGRESS_VNI = 4096
INGRESS_MARK = ALLOC + "ingress"
LAST_VNI = (1 << 24) - 1
INGRESS_SUBNET = "10.0.0.0/24"  # Docker keeps the pool's first subnet for ingress
WORKER_REMOVE = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a manager."
)
WORKER_CREATE = (
    "Cannot create a multi-host network from a worker node. Please create the network from a "
    "manager node."
)


class Forbidden(Conflict):
    """Refused as dockerd refuses with 403 (the API layer maps it)."""


class PoolOverlap(Forbidden):
    """A subnet that overlaps another cluster network's (the API answers 403)."""


@dataclass
class ClusterNetwork:
    id: str
    name: str
    created_ns: int
    updated_ns: int
    subnet: str
    gateway: str
    vni: int
    driver: str = "overlay"
    options: dict[str, str] = field(default_factory=dict)  # the user's driver options
    labels: dict[str, str] | None = None  # None: none given (shown as null)
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    ipam_options: dict[str, str] | None = None
    user_subnet: bool = False  # the subnet came from the request (shown in Spec)
    ip_range: str = ""

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def driver_options(self) -> dict[str, str]:
        return {VNI_OPTION: str(self.vni), **self.options}


def to_store(n: ClusterNetwork) -> bytes:
    return json.dumps(asdict(n), sort_keys=True, separators=(",", ":")).encode()


def from_store(raw: bytes) -> ClusterNetwork:
    return ClusterNetwork(**json.loads(raw))


@dataclass(frozen=True)
class StoredNetwork:
    network: ClusterNetwork
    version: int


# ------------------------------------------------------------------ pure choices


def check_overlap(subnet: str, taken: list[str]) -> None:
    net = ipaddress.IPv4Network(subnet, strict=False)
    for other in taken:
        if net.overlaps(ipaddress.IPv4Network(other, strict=False)):
            raise PoolOverlap("Pool overlaps with other one on this address space")


def pick_subnet(taken: list[str], pools: list[str], size: int) -> str:
    """The first /size piece of the cluster's pools that overlaps no other network."""
    busy = [ipaddress.IPv4Network(s, strict=False) for s in taken]
    for base in pools:
        for piece in ipaddress.IPv4Network(base, strict=False).subnets(new_prefix=size):
            if not any(piece.overlaps(b) for b in busy):
                return str(piece)
    raise Unavailable("could not find an available IP while allocating VIP")


def pick_vni(taken: Iterable[int]) -> int:
    used = set(taken)
    for vni in range(FIRST_VNI, LAST_VNI + 1):
        if vni not in used:
            return vni
    raise Unavailable("no VXLAN id left in the cluster's pool")


def requested_vni(options: dict[str, Any]) -> int | None:
    """The VNI a user asked for with `--opt com.docker.network.driver.overlay.vxlanid_list=N`
    (libnetwork takes the first of a comma list), if it is one a VXLAN header holds."""
    first = str(options.get(VNI_OPTION) or "").split(",")[0].strip()
    if not first.isdigit() or not 0 < int(first) < 1 << 24:
        return None
    return int(first)


def choose_subnet(
    ipam: dict[str, Any], taken: list[str], pools: list[str], size: int
) -> tuple[str, str, str, bool]:
    """(subnet, gateway, ip range, given by the user) for a new network; the overlap with
    another cluster network refused in libnetwork's words."""
    if (ipam.get("Driver") or "default") != "default":
        raise NotFound(f'plugin "{ipam.get("Driver")}" not found')
    configs = [c for c in ipam.get("Config") or [] if c]
    if not configs:
        subnet = pick_subnet([*taken, INGRESS_SUBNET], pools, size)
        net = ipaddress.IPv4Network(subnet)
        return subnet, str(net.network_address + 1), "", False
    if len(configs) > 1:
        raise InvalidArgument("only one IPv4 subnet per overlay network is supported")
    cfg = configs[0]
    text = str(cfg.get("Subnet") or "")
    if not text:
        raise InvalidArgument("IPAM config needs a Subnet")
    try:
        net = ipaddress.IPv4Network(text, strict=False)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {text}: {e}") from e
    check_overlap(str(net), taken)
    gateway = str(cfg.get("Gateway") or net.network_address + 1)
    try:
        if ipaddress.IPv4Address(gateway) not in net:
            raise InvalidArgument(
                f"failed to allocate gateway ({gateway}): Requested address is out of range"
            )
    except ValueError as e:
        raise InvalidArgument(f"invalid gateway {gateway}") from e
    ip_range = str(cfg.get("IPRange") or "")
    if ip_range:
        try:
            rng = ipaddress.IPv4Network(ip_range, strict=False)
        except ValueError as e:
            raise InvalidArgument(f"invalid ip range {ip_range}: {e}") from e
        if not rng.subnet_of(net):
            raise InvalidArgument(f"ip range {ip_range} is not in subnet {net}")
    return str(net), gateway, ip_range, True


def pick_address(n: ClusterNetwork, taken: set[str]) -> str:
    """The lowest free host address of the network (its range, if it has one), gateway left."""
    net = ipaddress.IPv4Network(n.subnet)
    pool = ipaddress.IPv4Network(n.ip_range) if n.ip_range else net
    for host in pool.hosts():
        ip = str(host)
        if ip != n.gateway and ip not in taken and host != net.broadcast_address:
            return ip
    raise Unavailable(f"no address left in network {n.name} ({n.subnet})")


def service_networks(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The networks a service spec names (TaskTemplate.Networks, else the old top-level
    Networks), as given."""
    template = doc.get("TaskTemplate") or {}
    return list(template.get("Networks") or doc.get("Networks") or [])


def has_ingress(s: Service) -> bool:
    return any(p.mode == "ingress" for p in s.spec.ports)


def task_networks(s: Service, ingress: str) -> list[str]:
    """The network ids a service's tasks are attached to: the ingress network first when it
    publishes ports through the routing mesh, then the ones its spec names."""
    out = [ingress] if ingress and has_ingress(s) else []
    for e in service_networks(s.spec.doc):
        nid = str(e.get("Target") or "")
        if nid and nid not in out:
            out.append(nid)
    return out


def wants_vip(s: Service) -> bool:
    mode = str((s.spec.doc.get("EndpointSpec") or {}).get("Mode") or "vip")
    return mode == "vip"


def users(
    network_id: str, services: list[Service], tasks: list[Task], ingress: bool = False
) -> str:
    """Why a network cannot be removed, in swarmkit's words ("" when nothing uses it)."""
    for s in services:
        if ingress and has_ingress(s):
            return (
                "rpc error: code = FailedPrecondition desc = ingress network cannot be removed "
                f"because service {s.id} depends on it"
            )
        if any(str(n.get("Target")) == network_id for n in service_networks(s.spec.doc)):
            return (
                f"rpc error: code = FailedPrecondition desc = network {network_id} is in use by "
                f"service {s.id}"
            )
    alive = {s.id for s in services}
    for t in tasks:
        # swarmkit counts only tasks meant to run; a removed service's tasks are on their way
        # out (`stack rm` removes the services, then at once their networks)
        if t.service_id not in alive or t.desired_state != "running":
            continue
        if network_id in t.addresses:
            return (
                f"rpc error: code = FailedPrecondition desc = network {network_id} is in use by "
                f"task {t.id}"
            )
    return ""


# ------------------------------------------------------------------ documents


def render(
    n: ClusterNetwork,
    containers: dict[str, Any] | None = None,
    peers: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """`GET /networks/{id}` on a manager (and on a node that has endpoints on it)."""
    doc: dict[str, Any] = {
        "Name": n.name,
        "Id": n.id,
        "Created": format_nano(n.created_ns),
        "Scope": "swarm",
        "Driver": n.driver,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None if n.ipam_options is None else dict(n.ipam_options),
            "Config": [_ipam_config(n)],
        },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": n.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers or None,
        "Options": n.driver_options(),
        "Labels": None if n.labels is None else dict(n.labels),
    }
    if peers:
        doc["Peers"] = peers
    return doc


def _ipam_config(n: ClusterNetwork) -> dict[str, str]:
    cfg = {"Subnet": n.subnet, "Gateway": n.gateway}
    if n.ip_range:
        cfg["IPRange"] = n.ip_range
    return cfg


def render_attachment(n: ClusterNetwork, version: int, address: str) -> dict[str, Any]:
    """One entry of a task's `NetworksAttachments` (swarmkit's Network object)."""
    driver: dict[str, Any] = {"Name": n.driver}
    if n.options:
        driver["Options"] = dict(n.options)
    spec: dict[str, Any] = {
        "Name": n.name,
        "Labels": dict(n.labels or {}),
        "DriverConfiguration": driver,
    }
    if n.internal:
        spec["Internal"] = True
    if n.attachable:
        spec["Attachable"] = True
    if n.ingress:
        spec["Ingress"] = True
    spec_ipam: dict[str, Any] = {"Driver": {"Name": "default"}}
    if n.user_subnet:
        spec_ipam["Configs"] = [_ipam_config(n)]
    spec["IPAMOptions"] = spec_ipam
    spec["Scope"] = "swarm"
    return {
        "Network": {
            "ID": n.id,
            "Version": {"Index": version},
            "CreatedAt": format_nano(n.created_ns),
            "UpdatedAt": format_nano(n.updated_ns),
            "Spec": spec,
            "DriverState": {"Name": n.driver, "Options": {VNI_OPTION: str(n.vni)}},
            "IPAMOptions": {"Driver": {"Name": "default"}, "Configs": [_ipam_config(n)]},
        },
        "Addresses": [address],
    }


def matches(f: dict[str, list[str]], n: ClusterNetwork, dangling: bool) -> bool:
    """`GET /networks?filters=...` for a cluster network."""
    for key, values in f.items():
        if key == "name" and not any(v in n.name for v in values):
            return False
        if key == "id" and not any(n.id.startswith(v) for v in values):
            return False
        if key == "driver" and n.driver not in values:
            return False
        if key == "scope" and "swarm" not in values:
            return False
        if key == "type" and "custom" not in values:
            return False
        if key == "label":
            labels = n.labels or {}
            for want in values:
                k, eq, v = want.partition("=")
                if k not in labels or (eq and labels[k] != v):
                    return False
        if key == "dangling" and any((v in ("true", "1")) != dangling for v in values):
            return False
    return True


# ------------------------------------------------------------------ the store


def networks(kv: KV) -> list[StoredNetwork]:
    stored, _ = admin.objects(kv).list(KIND)
    return [StoredNetwork(from_store(s.body), s.version) for s in stored]


def find(kv: KV, ref: str) -> StoredNetwork:
    """By id, then name, then unique id prefix (dockerd's order)."""
    found = networks(kv)
    hit = pick(ref, [s.network for s in found])
    return next(s for s in found if s.network is hit)


def pick(ref: str, nets: list[ClusterNetwork]) -> ClusterNetwork:
    """The network `ref` names: by id, then name, then unique id prefix (dockerd's order)."""
    for n in nets:
        if n.id == ref:
            return n
    for n in nets:
        if n.name == ref:
            return n
    hits = [n for n in nets if ref and n.id.startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise NotFound(f"network {ref} is ambiguous ({len(hits)} matches found based on ID)")
    raise NotFound(f"network {ref} not found")


def create(kv: KV, body: dict[str, Any], pools: list[str], subnet_size: int) -> str:
    """`POST /networks/create` with the overlay driver on a manager: the object, its name,
    VNI and subnet in one transaction (tried again if another create won the race)."""
    name = str(body.get("Name") or "")
    if not name:
        raise InvalidArgument("network name cannot be empty")
    if body.get("EnableIPv6"):
        raise InvalidArgument("IPv6 is not supported on overlay networks here")
    if "encrypted" in (body.get("Options") or {}):
        check_encryption()
    store = admin.objects(kv)
    for _ in range(5):
        seq = kv.get(SEQ)
        existing = [s.network for s in networks(kv)]
        if any(n.name == name for n in existing):
            raise Conflict(f"network with name {name} already exists")
        subnet, gateway, ip_range, given = choose_subnet(
            dict(body.get("IPAM") or {}), [n.subnet for n in existing], pools, subnet_size
        )
        options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        vni = requested_vni(options) or pick_vni(n.vni for n in existing)
        # the network's VNI is shown from its record, not from what the user wrote
        options.pop(VNI_OPTION, None)
        holder = next((e for e in existing if e.vni == vni), None)
        if holder is not None:
            raise Conflict(f"VXLAN id {vni} is already in use by network {holder.name}")
        now = time.time_ns()
        ipam = body.get("IPAM") or {}
        n = ClusterNetwork(
            id=new_id(),
            name=name,
            created_ns=now,
            updated_ns=now,
            subnet=subnet,
            gateway=gateway,
            vni=vni,
            options=options,
            # swarmkit keeps no empty maps: what a client sent empty is shown as null
            labels={str(k): str(v) for k, v in body["Labels"].items()}
            if body.get("Labels")
            else None,
            internal=bool(body.get("Internal")),
            attachable=bool(body.get("Attachable")),
            ingress=bool(body.get("Ingress")),
            ipam_options={str(k): str(v) for k, v in ipam["Options"].items()}
            if ipam.get("Options")
            else None,
            user_subnet=given,
            ip_range=ip_range,
        )
        key, name_key = store.key(KIND, n.id), store.name_key(KIND, name)
        vni_key, subnet_key = f"{ALLOC}vni/{vni}", f"{ALLOC}subnet/{subnet}"
        compares = [
            Compare.absent(key),
            Compare.absent(name_key),
            Compare.absent(vni_key),
            Compare.absent(subnet_key),
            Compare.absent(SEQ) if seq is None else Compare.unchanged(SEQ, seq.mod_revision),
        ]
        ops: list[Op] = [
            Put(key, to_store(n)),
            Put(name_key, n.id.encode()),
            Put(vni_key, n.id.encode()),
            Put(subnet_key, n.id.encode()),
            Put(SEQ, _next(seq.value if seq else b"")),
        ]
        if kv.txn(compares, ops).succeeded:
            return n.id
        if store.lookup(KIND, name) is not None:
            raise Conflict(f"network with name {name} already exists")
    raise Unavailable("could not allocate the network: the cluster store kept changing")


def _next(raw: bytes) -> bytes:
    return str(int(raw or b"0") + 1).encode()


def remove(kv: KV, ref: str, services: list[Service], tasks: list[Task]) -> ClusterNetwork:
    stored = find(kv, ref)
    n = stored.network
    why = users(n.id, services, tasks, n.ingress)
    if why:
        raise InvalidArgument(why)
    store = admin.objects(kv)
    seq = kv.get(SEQ)
    ops: list[Op] = [
        Delete(store.key(KIND, n.id)),
        Delete(store.name_key(KIND, n.name)),
        Delete(f"{ALLOC}vni/{n.vni}"),
        Delete(f"{ALLOC}subnet/{n.subnet}"),
        Delete(f"{ADDR}{n.id}/", prefix=True),
        Put(SEQ, _next(seq.value if seq else b"")),
    ]
    if not kv.txn([Compare.unchanged(store.key(KIND, n.id), stored.version)], ops).succeeded:
        raise OutOfSequence()
    return n


def resolve_spec(kv: KV, doc: dict[str, Any]) -> dict[str, Any]:
    """A service spec with its networks named by id (dockerd resolves names before it hands
    the spec to the cluster); an unknown one refused as dockerd does."""
    template = doc.get("TaskTemplate") or {}
    lists = [template.get("Networks"), doc.get("Networks")]
    if not any(lists):
        return doc
    known = [s.network for s in networks(kv)]
    for entries in lists:
        for entry in entries or []:
            entry["Target"] = pick(str(entry.get("Target") or ""), known).id
    return doc


# ------------------------------------------------------------------ addresses (the leader)


class Addresses:
    """The addresses taken on every network, read once per leader tick, and what is claimed
    while the tick goes on."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self.networks = {s.network.id: s.network for s in networks(kv)}
        self.ingress = next((n.id for n in self.networks.values() if n.ingress), "")
        self.taken: dict[str, dict[str, str]] = {}  # network id -> ip -> owner
        for e in kv.range(ADDR)[0]:
            nid, _, ip = e.key[len(ADDR) :].partition("/")
            self.taken.setdefault(nid, {})[ip] = e.value.decode()

    def claim(self, nid: str, owner: str) -> tuple[str, Compare, Put]:
        """A free address of a network for `owner`: (ip/prefix, the compare, the put)."""
        n = self.networks[nid]
        used = self.taken.setdefault(nid, {})
        ip = pick_address(n, set(used))
        used[ip] = owner
        key = f"{ADDR}{nid}/{ip}"
        return f"{ip}/{n.prefix_len}", Compare.absent(key), Put(key, owner.encode())

    def task_ops(self, t: Task, s: Service | None) -> tuple[list[Compare], list[Op]]:
        """The addresses of a new task on its service's networks (set in `t.addresses`), and
        the claims to write with it."""
        compares: list[Compare] = []
        ops: list[Op] = []
        if s is None:
            return compares, ops
        for nid in task_networks(s, self.ingress):
            if nid not in self.networks or nid in t.addresses:
                continue
            addr, cmp, put = self.claim(nid, f"task/{t.id}")
            t.addresses[nid] = addr
            compares.append(cmp)
            ops.append(put)
        return compares, ops


def task_writes(addresses: Addresses, t: Task, s: Service | None) -> tuple[list[Compare], list[Op]]:
    """A new task's transaction parts: the task's key still absent and written, and the claims
    of its addresses (set in `t.addresses`)."""
    key = admin.objects(addresses.kv).key("task", t.id)
    compares, ops = addresses.task_ops(t, s)
    return [Compare.absent(key), *compares], [Put(key, task_to_store(t)), *ops]


def create_task(kv: KV, addresses: Addresses, t: Task, s: Service | None) -> bool:
    """Store a new task with its addresses claimed in the same transaction."""
    return kv.txn(*task_writes(addresses, t, s)).succeeded


def reconcile(kv: KV) -> int:
    """The leader's pass: VIPs for services that want them, released addresses of owners that
    are gone; the number of changes written."""
    store = admin.objects(kv)
    written = ensure_ingress(kv)
    addresses = Addresses(kv)
    services = {s.id: (service_from_store(s.body), s.version) for s in store.list("service")[0]}
    task_ids = {s.id for s in store.list("task")[0]}
    node_ids = {s.id for s in store.list("node")[0]}
    if addresses.ingress:  # every node's own address on the ingress network (the mesh's SNAT)
        held = {o for o in addresses.taken.get(addresses.ingress, {}).values()}
        for nid in sorted(node_ids):
            if f"node/{nid}" not in held:
                _, cmp, put = addresses.claim(addresses.ingress, f"node/{nid}")
                if kv.txn([cmp], [put]).succeeded:
                    written += 1
    for s, version in services.values():
        wanted = [nid for nid in task_networks(s, addresses.ingress) if nid in addresses.networks]
        want = set(wanted) if wants_vip(s) else set()
        if set(s.vips) == want:
            continue
        compares: list[Compare] = [Compare.unchanged(store.key("service", s.id), version)]
        ops: list[Op] = []
        vips = {nid: a for nid, a in s.vips.items() if nid in want}
        for nid, addr in s.vips.items():
            if nid not in want:
                ops.append(Delete(f"{ADDR}{nid}/{addr.split('/')[0]}"))
        for nid in wanted:
            if nid in want and nid not in vips:
                vips[nid], cmp, put = addresses.claim(nid, f"service/{s.id}")
                compares.append(cmp)
                ops.append(put)
        s.vips = vips
        ops.insert(0, Put(store.key("service", s.id), service_to_store(s)))
        if kv.txn(compares, ops).succeeded:
            written += 1
    # addresses whose owner is gone (a removed service or a deleted task)
    stale = [
        (nid, ip, owner)
        for nid, owners in addresses.taken.items()
        for ip, owner in owners.items()
        if _gone(owner, set(services), task_ids, node_ids)
    ]
    if stale:  # a task created since the first read holds its claim: read the tasks again
        task_ids = {s.id for s in store.list("task")[0]}
        drop: list[Op] = [
            Delete(f"{ADDR}{nid}/{ip}")
            for nid, ip, owner in stale
            if _gone(owner, set(services), task_ids, node_ids)
        ]
        if drop:
            kv.txn([], drop)
            written += len(drop)
    return written


def _gone(owner: str, services: set[str], tasks: set[str], nodes: set[str]) -> bool:
    kind, _, oid = owner.partition("/")
    return (
        (kind == "service" and oid not in services)
        or (kind == "task" and oid not in tasks)
        or (kind == "node" and oid not in nodes)
    )


def ensure_ingress(kv: KV) -> int:
    """The ingress network (Docker makes it at `swarm init`): made once by the leader, from
    the first piece of the cluster's pool and VNI 4096; a user may remove it (then services
    that publish through the mesh are refused, as dockerd refuses them)."""
    mark = kv.get(INGRESS_MARK)
    if mark is not None:
        return 0
    from wharfie.cluster.records import cluster_from_store

    clusters = admin.objects(kv).list("cluster")[0]
    if not clusters:
        return 0
    cluster = cluster_from_store(clusters[0].body)
    store = admin.objects(kv)
    seq = kv.get(SEQ)
    existing = [s.network for s in networks(kv)]
    if any(n.name == "ingress" or n.ingress for n in existing):
        kv.txn([Compare.absent(INGRESS_MARK)], [Put(INGRESS_MARK, b"1")])
        return 0
    subnet = pick_subnet(
        [n.subnet for n in existing], cluster.default_addr_pool, cluster.subnet_size
    )
    now = time.time_ns()
    n = ClusterNetwork(
        id=new_id(),
        name="ingress",
        created_ns=now,
        updated_ns=now,
        subnet=subnet,
        gateway=str(ipaddress.IPv4Network(subnet).network_address + 1),
        vni=INGRESS_VNI,
        labels={},
        ingress=True,
    )
    ok = kv.txn(
        [
            Compare.absent(INGRESS_MARK),
            Compare.absent(store.name_key(KIND, n.name)),
            Compare.absent(f"{ALLOC}vni/{n.vni}"),
            Compare.absent(SEQ) if seq is None else Compare.unchanged(SEQ, seq.mod_revision),
        ],
        [
            Put(store.key(KIND, n.id), to_store(n)),
            Put(store.name_key(KIND, n.name), n.id.encode()),
            Put(f"{ALLOC}vni/{n.vni}", n.id.encode()),
            Put(f"{ALLOC}subnet/{n.subnet}", n.id.encode()),
            Put(SEQ, _next(seq.value if seq else b"")),
            Put(INGRESS_MARK, b"1"),
        ],
    )
    return 1 if ok.succeeded else 0


def check_ports(kv: KV, doc: dict[str, Any], service_id: str = "") -> None:
    """A service's ingress ports against the others' (dockerd's words), with the ingress
    network required; a published port left out gets the first free one from 30000 (written
    into the spec: swarmkit keeps it in the endpoint only)."""
    ports = (doc.get("EndpointSpec") or {}).get("Ports") or []
    mesh = [p for p in ports if str(p.get("PublishMode") or "ingress") == "ingress"]
    if not mesh:
        return
    if not any(n.network.ingress for n in networks(kv)):
        raise InvalidArgument(
            "rpc error: code = FailedPrecondition desc = service needs ingress network, but no "
            "ingress network is present"
        )
    used: dict[tuple[str, int], tuple[str, str]] = {}
    for st in admin.objects(kv).list("service")[0]:
        other = service_from_store(st.body)
        if other.id == service_id:
            continue
        for op in other.spec.ports:
            if op.mode == "ingress" and op.published:
                used[(op.protocol, op.published)] = (other.spec.name, other.id)
    for p in mesh:
        proto = str(p.get("Protocol") or "tcp")
        published = int(p.get("PublishedPort") or 0)
        if not published:
            published = next(port for port in range(30000, 32768) if (proto, port) not in used)
            p["PublishedPort"] = published
        holder = used.get((proto, published))
        if holder is not None:
            raise InvalidArgument(
                f"rpc error: code = InvalidArgument desc = port '{published}' is already in "
                f"use by service '{holder[0]}' ({holder[1]}) as an ingress port"
            )
        used[(proto, published)] = (str(doc.get("Name") or ""), service_id)


def check_encryption() -> None:
    """`--opt encrypted` needs IPsec ESP in the kernel; refuse rather than run in clear."""
    missing = esp_missing()
    if missing:
        raise InvalidArgument(
            "encrypted overlay networks need IPsec ESP (xfrm with esp4) in the kernel, and "
            f"this node's kernel has none ({missing}): refusing to create a network whose "
            "traffic would go in clear"
        )
    raise InvalidArgument(
        "encrypted overlay networks are not supported by this wharfied yet: refusing to "
        "create a network whose traffic would go in clear"
    )


def esp_missing() -> str:
    """What the kernel said when asked for an ESP security association in a namespace of
    its own (nothing is left behind: the namespace goes with the command); "" if it has ESP."""
    import subprocess

    key = "0x" + "01" * 16
    try:
        done = subprocess.run(
            ["unshare", "-n", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst",
             "192.0.2.2", "proto", "esp", "spi", "0x100", "mode", "transport",
             "enc", "cbc(aes)", key, "auth", "hmac(sha256)", key + "01" * 16],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot ask the kernel: {exc}"
    if done.returncode == 0:
        return ""
    return done.stderr.strip() or f"ip xfrm exited {done.returncode}"


# ------------------------------------------------------------------ standalone containers


def not_attachable(ref: str) -> str:
    return (
        f"Could not attach to network {ref}: rpc error: code = PermissionDenied desc = "
        f"network {ref} not manually attachable"
    )


def attach(kv: KV, node_id: str, ref: str, container_id: str) -> tuple[ClusterNetwork, str]:
    """An address on an attachable network for a standalone container of a node (`docker run
    --network`): claimed as `attach/<node>/<container>`, the same one again if it has one."""
    n = find(kv, ref).network
    if not n.attachable:
        raise Forbidden(not_attachable(ref))
    owner = f"attach/{node_id}/{container_id}"
    for _ in range(5):
        entries, _ = kv.range(f"{ADDR}{n.id}/")
        taken = {e.key.rsplit("/", 1)[1]: e.value.decode() for e in entries}
        mine = next((ip for ip, o in taken.items() if o == owner), None)
        if mine is not None:
            return n, f"{mine}/{n.prefix_len}"
        ip = pick_address(n, set(taken))
        key = f"{ADDR}{n.id}/{ip}"
        if kv.txn([Compare.absent(key)], [Put(key, owner.encode())]).succeeded:
            return n, f"{ip}/{n.prefix_len}"
    raise Unavailable("could not allocate an address: the cluster store kept changing")


def release(kv: KV, node_id: str, keep: set[str]) -> int:
    """A node's standalone containers' addresses but `keep`'s given back; how many."""
    prefix = f"attach/{node_id}/"
    drop: list[Op] = [
        Delete(e.key)
        for e in kv.range(ADDR)[0]
        if e.value.decode().startswith(prefix) and e.value.decode()[len(prefix) :] not in keep
    ]
    if drop:
        kv.txn([], drop)
    return len(drop)


# ------------------------------------------------------------------ a node's view (the data plane)


class PlaneEngine(Protocol):
    """What the swarm needs of the node's engine for the data plane (daemon/swarmtasks.py)."""

    async def apply_networks(
        self, node_id: str, local_addr: str, port: int, plane: list[NetworkPlane]
    ) -> None: ...
    async def leave_networks(self) -> None: ...
    def standalone(self) -> set[str]: ...  # containers (not tasks) on cluster networks


@dataclass(frozen=True)
class PlaneEndpoint:
    """A task's endpoint on a network, as the nodes program it."""

    ip: str  # without the prefix
    node_id: str
    node_addr: str  # the node's advertise address: the VXLAN peer
    task_id: str
    service_id: str
    service_name: str
    task_name: str
    running: bool


@dataclass(frozen=True)
class PlaneService:
    id: str
    name: str
    vip: str  # without the prefix; "" in dnsrr mode
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanePort:
    """A port published through the routing mesh, and the running tasks behind it."""

    protocol: str
    published: int
    target: int
    backends: tuple[str, ...]  # the tasks' addresses on the ingress network


@dataclass
class NetworkPlane:
    network: ClusterNetwork
    endpoints: list[PlaneEndpoint] = field(default_factory=list)
    services: list[PlaneService] = field(default_factory=list)
    local_ip: str = ""  # ingress: this node's own address on it ("ip/prefix")
    ports: list[PlanePort] = field(default_factory=list)  # ingress: the mesh's ports


def plane_to_doc(plane: list[NetworkPlane]) -> list[dict[str, Any]]:
    return [asdict(p) for p in plane]


def plane_from_doc(docs: list[dict[str, Any]]) -> list[NetworkPlane]:
    out = []
    for d in docs:
        services = []
        for s in d.get("services") or []:
            services.append(PlaneService(**{**s, "aliases": tuple(s.get("aliases") or ())}))
        out.append(
            NetworkPlane(
                ClusterNetwork(**d["network"]),
                [PlaneEndpoint(**e) for e in d.get("endpoints") or []],
                services,
                str(d.get("local_ip") or ""),
                [
                    PlanePort(**{**pp, "backends": tuple(pp.get("backends") or ())})
                    for pp in d.get("ports") or []
                ],
            )
        )
    return out


def plane(
    node_id: str,
    nets: list[ClusterNetwork],
    services: list[Service],
    tasks: list[tuple[Task, str]],  # (task, its observed state)
    nodes: dict[str, tuple[str, bool]],  # node id -> (address, alive)
    attachments: tuple[tuple[str, str, str, str], ...] = (),  # (nid, ip, node, container)
    ingress_nodes: dict[str, str] | None = None,  # node id -> its address on ingress
) -> list[NetworkPlane]:
    """What a node must know of the networks its tasks are on (pure): every live endpoint on
    them, on any node that is alive (a dead node's endpoints go with its lease), and the
    services with their VIPs."""
    by_id = {n.id: n for n in nets}
    names = {s.id: s.spec.name for s in services}
    live = [
        (t, observed)
        for t, observed in tasks
        if t.desired_state in ("running", "complete")
        and observed not in TERMINAL
        and t.node_id
        and nodes.get(t.node_id, ("", False))[1]
    ]
    mine = {nid for t, _ in live if t.node_id == node_id for nid in t.addresses}
    mine |= {nid for nid, _, node, _ in attachments if node == node_id}
    ingress = next((n for n in nets if n.ingress), None)
    mesh = [s for s in services if has_ingress(s)]
    on_ingress = ingress_nodes or {}
    if ingress is not None and mesh and node_id in on_ingress:
        mine.add(ingress.id)  # every node answers the mesh's ports
    out = []
    for nid in sorted(mine):
        n = by_id.get(nid)
        if n is None:
            continue
        p = NetworkPlane(n)
        for t, observed in live:
            addr = t.addresses.get(nid)
            if not addr or t.service_id not in names:
                continue
            p.endpoints.append(
                PlaneEndpoint(
                    ip=addr.split("/")[0],
                    node_id=t.node_id,
                    node_addr=nodes[t.node_id][0],
                    task_id=t.id,
                    service_id=t.service_id,
                    service_name=names[t.service_id],
                    task_name=container_name(names[t.service_id], t),
                    running=observed == "running",
                )
            )
        for anid, ip, node, cid in attachments:
            if anid == nid and nodes.get(node, ("", False))[1]:
                p.endpoints.append(PlaneEndpoint(ip, node, nodes[node][0], cid, "", "", "", True))
        if n.ingress:
            for node, ip in sorted(on_ingress.items()):
                if nodes.get(node, ("", False))[1]:
                    p.endpoints.append(
                        PlaneEndpoint(ip.split("/")[0], node, nodes[node][0], "", "", "", "", True)
                    )
            p.local_ip = on_ingress.get(node_id, "")
            for s in mesh:
                backends = tuple(
                    sorted(
                        t.addresses[nid].split("/")[0]
                        for t, observed in live
                        if t.service_id == s.id and nid in t.addresses and observed == "running"
                    )
                )
                for port in s.spec.ports:
                    if port.mode == "ingress" and port.published:
                        p.ports.append(
                            PlanePort(port.protocol, port.published, port.target, backends)
                        )
        for s in services:
            entry = next(
                (e for e in service_networks(s.spec.doc) if str(e.get("Target")) == nid), None
            )
            if entry is None:
                continue
            vip = s.vips.get(nid, "").split("/")[0]
            aliases = tuple(str(a) for a in entry.get("Aliases") or [])
            p.services.append(PlaneService(s.id, s.spec.name, vip, aliases))
        out.append(p)
    return out


def plane_for(kv: KV, node_id: str) -> list[NetworkPlane]:
    """`plane` from the store (on a manager, for itself or for a worker that asks)."""
    from wharfie.cluster.leader import read_tasks

    views, _ = read_tasks(kv)
    nodes = {v.node.id: (v.node.addr, v.state == "ready") for v in admin.nodes(kv)}
    services = [service_from_store(s.body) for s in admin.objects(kv).list("service")[0]]
    attachments = []
    ingress_nodes = {}
    for e in kv.range(ADDR)[0]:
        owner = e.value.decode()
        nid, _, ip = e.key[len(ADDR) :].partition("/")
        if owner.startswith("attach/"):
            _, node, cid = owner.split("/", 2)
            attachments.append((nid, ip, node, cid))
        elif owner.startswith("node/"):
            ingress_nodes[owner[len("node/") :]] = ip
    return plane(
        node_id,
        [s.network for s in networks(kv)],
        services,
        [(v.task, v.observed) for v in views],
        nodes,
        tuple(attachments),
        {
            node: f"{ip}/{n.prefix_len}"
            for n in (s.network for s in networks(kv))
            if n.ingress
            for node, ip in ingress_nodes.items()
        },
    )


def dns_records(p: NetworkPlane) -> dict[str, list[str]]:
    """What the embedded DNS answers on a network (pure, names in lower case): a service's
    name and aliases -> its VIP (its running tasks' addresses in dnsrr mode);
    `tasks.<service>` -> its running tasks' addresses; a task's name -> its address."""
    running: dict[str, list[str]] = {}
    out: dict[str, list[str]] = {}
    if p.network.ingress:  # no names on the routing mesh's network
        return out
    for e in p.endpoints:
        if not e.service_id:  # a standalone container: its name is its node's to answer
            continue
        out[e.task_name.lower()] = [e.ip]
        if e.running:
            running.setdefault(e.service_id, []).append(e.ip)
    for s in p.services:
        ips = sorted(running.get(s.id, []), key=ipaddress.IPv4Address)
        answer = [s.vip] if s.vip else ips
        for name in (s.name, *s.aliases):
            if answer:
                out[name.lower()] = answer
        if ips:
            out[f"tasks.{s.name}".lower()] = ips
    return out


def vip_table(p: NetworkPlane) -> list[tuple[str, list[str]]]:
    """(VIP, its running tasks' addresses) of each vip-mode service on the network (pure)."""
    running: dict[str, list[str]] = {}
    for e in p.endpoints:
        if e.running and e.service_id:
            running.setdefault(e.service_id, []).append(e.ip)
    return [(s.vip, sorted(running.get(s.id, []))) for s in p.services if s.vip]
