"""Routes of swarm mode (/swarm, /nodes, /services, /tasks, /secrets, /configs) and /plugins.

`/swarm` and `/nodes` are served by the node's swarm membership (wharfie.cluster.swarm,
through the narrow `SwarmBackend` below). Services, tasks, secrets and configs are not yet
kept: on a node outside a swarm they answer as dockerd does there (503 with its wording); in a
swarm they answer 501. No plugins are installed: `GET /plugins` is an empty list.
"""

from __future__ import annotations

from typing import Any, Protocol

from wharfie.api import schemas_swarm
from wharfie.api.decoding import arg, flag, json_body, number
from wharfie.api.http import HTTPError, Reply, Request, Response, Router, json_response
from wharfie.api.routes_secrets import BlobBackend, BlobRoutes
from wharfie.api.routes_services import ServiceBackend, ServiceRoutes
from wharfie.api.swarmnetworks import ClusterNetworks
from wharfie.cluster import records
from wharfie.cluster.admin import NodeView
from wharfie.cluster.nodefiles import InvalidUnlockKey
from wharfie.cluster.records import ClusterSpec, Node
from wharfie.cluster.swarm import NOT_IN_SWARM, InitRequest, JoinRequest
from wharfie.engine import filters, gojson
from wharfie.errors import InvalidArgument

ANY = r"(?:/.*)?"
NODE = r"(?P<ref>[^/]+)"
NODE_FILTERS = ("id", "label", "membership", "name", "node.label", "role")


class SwarmBackend(ServiceBackend, BlobBackend, ClusterNetworks, Protocol):
    """What the routes need of the node's swarm membership."""

    state: Any

    async def init(self, req: InitRequest) -> str: ...
    async def join(self, req: JoinRequest) -> None: ...
    async def leave(self, force: bool) -> None: ...
    def ping_header(self) -> str: ...
    async def info(self) -> dict[str, Any]: ...
    async def inspect(self) -> tuple[records.Cluster, int, dict[str, str]]: ...
    async def update(
        self,
        version: int,
        spec: ClusterSpec,
        rotate_worker: bool,
        rotate_manager: bool,
        rotate_unlock: bool = False,
    ) -> None: ...
    async def unlock(self, key_text: str) -> None: ...
    async def unlock_key(self) -> str: ...
    async def nodes(self) -> tuple[list[NodeView], str, str]: ...
    async def node(self, ref: str) -> tuple[NodeView, str, str]: ...
    async def update_node(self, ref: str, version: int, spec: dict[str, Any]) -> None: ...
    async def remove_node(self, ref: str, force: bool) -> None: ...


class SwarmRoutes:
    def __init__(self, swarm: SwarmBackend) -> None:
        self.swarm = swarm

    def register(self, r: Router) -> None:
        r.add("GET", "/swarm", self.inspect)
        r.add("POST", "/swarm/init", self.init)
        r.add("POST", "/swarm/join", self.join)
        r.add("POST", "/swarm/leave", self.leave)
        r.add("POST", "/swarm/update", self.update)
        r.add("GET", "/swarm/unlockkey", self.unlock_key)
        r.add("POST", "/swarm/unlock", self.unlock)
        r.add("GET", "/nodes", self.list_nodes)
        r.add("GET", f"/nodes/{NODE}", self.inspect_node)
        r.add("POST", f"/nodes/{NODE}/update", self.update_node)
        r.add("DELETE", f"/nodes/{NODE}", self.remove_node)
        for routes in (
            ServiceRoutes(self.swarm),
            BlobRoutes(self.swarm, "secret"),
            BlobRoutes(self.swarm, "config"),
        ):
            routes.register(r)
        r.add("GET", "/plugins", _plugins)

    async def inspect(self, req: Request) -> Reply:
        cluster, version, tokens = await self.swarm.inspect()
        return json_response(
            records.render_swarm(
                cluster, version, tokens.get("worker", ""), tokens.get("manager", "")
            )
        )

    async def init(self, req: Request) -> Reply:
        body = _decode(await json_body(req, empty={}), schemas_swarm.INIT_REQUEST)
        spec = records.cluster_spec_from_api(body.get("Spec") or {})
        if body.get("AutoLockManagers"):
            spec.autolock_managers = True
        listen = str(body.get("ListenAddr") or "0.0.0.0:2377")
        advertise = _advertise_addr(str(body.get("AdvertiseAddr") or ""), listen)
        subnet_size = int(body.get("SubnetSize") or 24)
        if not 0 < subnet_size <= 32:
            raise InvalidArgument(f"invalid subnet size {subnet_size}")
        node_id = await self.swarm.init(
            InitRequest(
                listen_addr=listen,
                advertise_addr=advertise,
                spec=spec,
                default_addr_pool=list(body.get("DefaultAddrPool") or ["10.0.0.0/8"]),
                subnet_size=subnet_size,
                data_path_port=int(body.get("DataPathPort") or 4789),
            )
        )
        return json_response(node_id)

    async def join(self, req: Request) -> Reply:
        body = _decode(await json_body(req, empty={}), schemas_swarm.JOIN_REQUEST)
        listen = str(body.get("ListenAddr") or "0.0.0.0:2377")
        await self.swarm.join(
            JoinRequest(
                listen_addr=listen,
                advertise_addr=_advertise_addr(str(body.get("AdvertiseAddr") or ""), listen),
                remote_addrs=[str(a) for a in body.get("RemoteAddrs") or []],
                token=str(body.get("JoinToken") or ""),
                availability=str(body.get("Availability") or ""),
            )
        )
        return Response(200)

    async def leave(self, req: Request) -> Reply:
        await self.swarm.leave(flag(req, "force"))
        return Response(200)

    async def update(self, req: Request) -> Reply:
        version = _version(req)
        body = _decode(await json_body(req, empty={}), schemas_swarm.SPEC)
        cluster, _, _ = await self.swarm.inspect()
        spec = records.cluster_spec_from_api(body, cluster.spec)
        await self.swarm.update(
            version,
            spec,
            flag(req, "rotateWorkerToken"),
            flag(req, "rotateManagerToken"),
            flag(req, "rotateManagerUnlockKey"),
        )
        return Response(200)

    async def unlock_key(self, req: Request) -> Reply:
        return json_response({"UnlockKey": await self.swarm.unlock_key()})

    async def unlock(self, req: Request) -> Reply:
        """moby's UnlockSwarm: an active manager answers "swarm is not locked" (409), a node
        outside a swarm 503, a malformed key 400 and a key that opens nothing 401."""
        body = await json_body(req, empty={})
        if not isinstance(body, dict) or not isinstance(body.get("UnlockKey") or "", str):
            raise InvalidArgument('invalid unlock request: want {"UnlockKey": string}')
        try:
            await self.swarm.unlock(str(body.get("UnlockKey") or ""))
        except InvalidUnlockKey as exc:
            raise HTTPError(401, str(exc)) from None
        return Response(200)

    async def list_nodes(self, req: Request) -> Reply:
        f = filters.parse(arg(req, "filters"))
        filters.validate(f, NODE_FILTERS)
        views, leader, root_ca = await self.swarm.nodes()
        out = [
            records.render_node(v.node, v.version, root_ca, v.state, v.node.id == leader)
            for v in views
            if _node_matches(f, v.node)
        ]
        return json_response(out)

    async def inspect_node(self, req: Request, ref: str) -> Reply:
        v, leader, root_ca = await self.swarm.node(ref)
        return json_response(
            records.render_node(v.node, v.version, root_ca, v.state, v.node.id == leader)
        )

    async def update_node(self, req: Request, ref: str) -> Reply:
        version = _version(req)
        body = _decode(await json_body(req, empty={}), schemas_swarm.NODE_SPEC)
        await self.swarm.update_node(ref, version, body)
        return Response(200)

    async def remove_node(self, req: Request, ref: str) -> Reply:
        await self.swarm.remove_node(ref, flag(req, "force"))
        return Response(200)


async def _plugins(req: Request) -> Reply:
    return json_response([])


def _decode(body: Any, schema: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise gojson.type_error(body, "", schema[0])
    out: dict[str, Any] = gojson.canonical(body, schema)
    gojson.check(out, schema)
    return out


def _version(req: Request) -> int:
    if not arg(req, "version"):
        raise InvalidArgument("invalid swarm version ''")  # dockerd: strconv error wording
    return number(req, "version", 0)


def _advertise_addr(given: str, listen: str) -> str:
    """The address other nodes reach this one at: the given one (an IP, IP:port, or an
    interface name), else the listen address when it is a specific IP."""
    import ipaddress

    candidate = given or listen.rsplit(":", 1)[0]
    host = candidate.rsplit(":", 1)[0] if candidate.count(":") == 1 else candidate
    host = host.strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        from wharfie.cluster.netaddr import interface_address

        return interface_address(host)
    if ip.is_unspecified:
        from wharfie.cluster.netaddr import default_address

        return default_address()
    return str(ip)


def _node_matches(f: dict[str, list[str]], n: Node) -> bool:
    if "id" in f and not any(n.id.startswith(v) for v in f["id"]):
        return False
    if "name" in f and not any(v in (n.name or n.description.hostname) for v in f["name"]):
        return False
    if "role" in f and n.role not in f["role"]:
        return False
    if "membership" in f and "accepted" not in f["membership"]:
        return False
    for key in ("label", "node.label"):
        labels = n.description.engine_labels if key == "label" else n.labels
        for want in f.get(key, []):
            k, _, v = want.partition("=")
            if k not in labels or ("=" in want and labels[k] != v):
                return False
    return True


__all__ = ["NOT_IN_SWARM", "SwarmBackend", "SwarmRoutes"]
