"""Networks: the records, their drivers, the firewall table, published ports held, and the
API's use cases (create, inspect, list, remove, prune).

A user-defined network is a `Network` record, kept in the `networks` table as its inspect
document (without `Containers`). The three built-in networks (`bridge`, `host`, `none`)
are records made from the daemon's configuration. Each bridge or macvlan network has a
driver object (`wharfie.network`) made from its record.

Which containers are on a network is the containers' own state: `NetworkSettings.Networks`
(wanted: aliases, static address) and `private["endpoints"]` (what exists now: veth,
address), keyed by network id. `engine.net.setup` attaches and detaches them at start,
stop, connect and disconnect.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wharfie import network
from wharfie.engine import filters, present
from wharfie.engine.emitter import Events
from wharfie.engine.index import ContainerIndex
from wharfie.engine.model import Container, now_rfc3339
from wharfie.engine.net import drivers, ipamconfig
from wharfie.engine.net import present as show
from wharfie.engine.net.drivers import Driver
from wharfie.engine.net.names import ContainerNames
from wharfie.engine.net.records import Network, Subnet, from_doc
from wharfie.engine.paths import Paths
from wharfie.errors import Conflict, InvalidArgument, NotFound
from wharfie.network import nft
from wharfie.network.ipam import Forbidden as Forbidden
from wharfie.network.ports import Binding

log = logging.getLogger("wharfie.engine")

BUILTIN = ("bridge", "host", "none")


class NetworkTable(Protocol):
    """Where user-defined networks are kept (the daemon's `Store`)."""

    def load_networks(self) -> list[dict[str, Any]]: ...

    def insert_network(self, nid: str, name: str, doc: dict[str, Any]) -> None: ...

    def delete_network(self, nid: str) -> None: ...

    def setting(self, key: str, make: Any) -> str: ...


@dataclass(frozen=True)
class NetConfig:
    """The daemon's settings networking reads (`engine.core.Config`'s)."""

    bridge_name: str = "wharfie0"
    masquerade: bool = True
    mtu: int = 0  # the default bridge's; 0: 1500
    dns: list[str] = field(default_factory=list)
    address_pools: list[tuple[str, int]] = field(default_factory=list)


class Networks:
    def __init__(
        self,
        table: NetworkTable,
        index: ContainerIndex,
        events: Events,
        bridge: network.Bridge,
        config: NetConfig,
        paths: Paths,
    ) -> None:
        self.table = table
        self.index = index
        self.events = events
        self.bridge = bridge  # the default network's driver
        self.config = config
        self.paths = paths
        self.user: dict[str, Network] = {}  # user-defined networks by id
        self.drivers: dict[str, Driver] = {}
        self.ports = network.ports.Reservations()
        self.relay = network.relay.PortRelay()  # ports kernel NAT cannot serve
        self.nft_table = nft.table_name(config.bridge_name)
        self.lock = asyncio.Lock()
        self._builtin_ids: dict[str, str] = {}
        self._vip_scripts: dict[str, str] = {}  # container id -> its VIP table, as applied
        self._ingress_script = ""  # the routing mesh's table in this namespace, as applied
        self._ingress_ip = ""
        # in a swarm: (network ref, container id) -> (network id, address) for a standalone
        # container on an attachable cluster network (daemon/swarmtasks.py)
        self.cluster_attach: Callable[[str, str], Awaitable[tuple[str, str]]] | None = None
        self.names = ContainerNames(index, self.user, config.dns)
        self.resolver = network.dns.Resolver(
            self.names.lookup, drivers.upstreams(), self.names.reverse, self.names.own_upstreams
        )
        for doc in table.load_networks():
            self.user[doc["Id"]] = from_doc(doc)

    # -- records -------------------------------------------------------------------------

    @property
    def bridge_id(self) -> str:
        return self.bridge.network_id

    def builtin(self, name: str) -> Network:
        if name == "bridge":
            b = self.bridge
            subnets = [Subnet(b.subnet, b.gateway)]
            if b.ipam6 is not None:
                subnets.append(Subnet(str(b.ipam6.subnet)))
            opts = {
                "com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.enable_icc": "true",
                "com.docker.network.bridge.enable_ip_masquerade": str(
                    self.config.masquerade
                ).lower(),
                "com.docker.network.bridge.name": self.config.bridge_name,
                "com.docker.network.driver.mtu": str(self.config.mtu or 1500),
            }
            return Network(
                self.bridge_id, "bridge", "bridge", subnets, opts, enable_ipv6=b.ipam6 is not None
            )
        nid = self._builtin_ids.get(name) or self.table.setting(
            f"{name}_network_id", lambda: secrets.token_hex(32)
        )
        self._builtin_ids[name] = nid
        return Network(nid, name, "host" if name == "host" else "null")

    def all(self) -> list[Network]:
        return [self.builtin(n) for n in BUILTIN] + list(self.user.values())

    def find(self, ref: str) -> Network:
        """By full id, then name, then unique id prefix (Docker's order)."""
        nets = self.all()
        for net in nets:
            if net.id == ref:
                return net
        for net in nets:
            if net.name == ref:
                return net
        hits = [n for n in nets if ref and n.id.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise NotFound(f"network {ref} is ambiguous ({len(hits)} matches found based on ID)")
        raise NotFound(f"network {ref} not found")

    def driver(self, nid: str) -> Driver:
        """The driver of a network (KeyError for one that is neither a user network nor
        the default bridge)."""
        if nid == self.bridge_id:
            return self.bridge
        drv = self.drivers.get(nid)
        if drv is None:
            drv = drivers.make(self.user[nid], self.config.masquerade)
            self.drivers[nid] = drv
        return drv

    def is_user(self, nid: str) -> bool:
        return nid in self.user

    def get_user(self, nid: str) -> Network | None:
        return self.user.get(nid)

    # -- inspect and list ----------------------------------------------------------------

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.present(self.find(ref))

    def present(self, net: Network) -> dict[str, Any]:
        return show.inspect(net, self._containers_on(net.id))

    def _containers_on(self, nid: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        mode = next((n for n in ("host", "none") if self._builtin_ids.get(n) == nid), "")
        for c in self.index.all():
            ep = (c.private.get("endpoints") or {}).get(nid)
            if ep is None:
                if mode and c.running and c.network_mode == mode:  # as Docker lists them
                    out[c.id] = show.endpoint(c.name, drivers.endpoint_id(nid, c.id), None)
                continue
            eid = drivers.endpoint_id(str(ep["network_id"]), str(ep["container_id"]))
            out[c.id] = show.endpoint(c.name, eid, ep)
        return out

    def listing(self, raw_filters: str) -> list[dict[str, Any]]:
        f = filters.parse(raw_filters)
        return [self.present(n) for n in self.all() if self._match(f, n)]

    def _match(self, f: dict[str, list[str]], net: Network) -> bool:
        for key, values in f.items():
            if key == "name" and not any(v in net.name for v in values):
                return False
            if key == "id" and not any(net.id.startswith(v) for v in values):
                return False
            if key == "driver" and net.driver not in values:
                return False
            if key == "scope" and "local" not in values:
                return False
            if key == "type":
                kind = "custom" if self.is_user(net.id) else "builtin"
                if kind not in values:
                    return False
            if key == "label" and not all(_label(net.labels, v) for v in values):
                return False
            if key == "dangling":
                dangling = not self._containers_on(net.id)
                if any((v in ("true", "1")) != dangling for v in values):
                    return False
        return True

    # -- create and remove ---------------------------------------------------------------

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self.lock:
            net = self._new(body)
            drv = drivers.make(net, self.config.masquerade)
            # the record first: a crash before the bridge exists leaves a network that the
            # next start-up ensures, never a bridge that no record owns
            self._insert(net)
            try:
                await asyncio.to_thread(drivers.ensure, drv)
            except BaseException:
                await asyncio.to_thread(drv.remove)
                self._delete(net.id)
                raise
            self.drivers[net.id] = drv
            await self.apply_firewall()
        self.events.emit("network", "create", net.id, {"name": net.name, "type": net.driver})
        return {"Id": net.id, "Warning": ""}

    def _new(self, body: dict[str, Any]) -> Network:
        name = str(body.get("Name") or "")
        if not name:
            raise InvalidArgument("network name cannot be empty")
        if any(n.name == name for n in self.all()):
            raise Conflict(f"network with name {name} already exists")
        driver = str(body.get("Driver") or "bridge")
        if driver in ("host", "null", "none"):
            raise Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver == "overlay":
            raise Forbidden(
                'This node is not a swarm manager. Use "docker swarm init" or '
                '"docker swarm join" to connect this node to swarm and try again.'
            )
        if driver not in drivers.DRIVERS:
            raise NotFound(f'plugin "{driver}" not found')
        ipv6 = bool(body.get("EnableIPv6"))
        if ipv6 and driver == "macvlan":
            raise InvalidArgument("IPv6 is not supported on macvlan networks (yet)")
        nid = secrets.token_hex(32)
        ipam = body.get("IPAM") or {}
        taken = [s.subnet for n in self.all() for s in n.subnets if s.subnet]
        subnets = ipamconfig.subnets(
            ipam, driver, ipv6, taken, drivers.host_route_list(), self.config.address_pools
        )
        return Network(
            id=nid,
            name=name,
            driver=driver,
            subnets=subnets,
            options={str(k): str(v) for k, v in (body.get("Options") or {}).items()},
            labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
            internal=bool(body.get("Internal")),
            attachable=bool(body.get("Attachable")),
            enable_ipv6=ipv6,
            created=now_rfc3339(),
            ipam_options={str(k): str(v) for k, v in (ipam.get("Options") or {}).items()},
        )

    def _insert(self, net: Network) -> None:
        try:
            self.table.insert_network(net.id, net.name, show.document(net))
        except sqlite3.IntegrityError as e:
            raise Conflict(f"network with name {net.name} already exists") from e
        self.user[net.id] = net

    def _delete(self, nid: str) -> None:
        self.table.delete_network(nid)
        self.user.pop(nid, None)

    # -- cluster networks (the swarm agent's; wharfie.cluster.networks) --------------------

    async def adopt(self, net: Network, vni: int, local: str, port: int) -> None:
        """A cluster network this node runs tasks on: known here as a user network (its
        containers' DNS, static addresses, `network ls` with Scope swarm), with its bridge
        and VXLAN device made; never stored (the cluster's store holds it)."""
        async with self.lock:
            if net.id in self.user and net.id in self.drivers:
                self.user[net.id] = net
                return
            v4 = net.v4
            drv = network.overlay.Overlay(
                net.id, net.name, v4.subnet, v4.gateway, vni, local, port or 4789
            )
            await asyncio.to_thread(drv.ensure)
            self.user[net.id] = net
            self.drivers[net.id] = drv
        # after a daemon restart, running containers on it get their embedded DNS back
        for c in self.index.all():
            if c.running and net.id in (c.private.get("endpoints") or {}):
                try:
                    await self.resolver.serve(c.id, self.paths.netns_path(c.id))
                except Exception as exc:
                    log.warning("embedded DNS of %s: %s", c.name, exc)
        self.events.emit("network", "create", net.id, {"name": net.name, "type": net.driver})

    async def program(self, nid: str, peers: set[tuple[str, str]]) -> int:
        """The remote endpoints (ip, node address) of a cluster network: its VXLAN device's
        forwarding and neighbour entries made exactly these; the number of changes."""
        drv = self.drivers.get(nid)
        if not isinstance(drv, network.overlay.Overlay):
            raise NotFound(f"overlay network {nid} is not set up on this node")
        want = {network.overlay.peer(ip, vtep) for ip, vtep in peers}
        return await asyncio.to_thread(drv.program, want)

    def set_names(self, nid: str, names: dict[str, list[str]]) -> None:
        """What the embedded DNS answers on a cluster network besides its containers' names:
        services, `tasks.<service>`, task names (wharfie.cluster.networks.dns_records)."""
        self.names.cluster[nid] = names

    async def balance(self, cid: str, vips: list[tuple[str, list[str]]]) -> bool:
        """A container's VIP table (wharfie.network.vip) made `vips`, if that changes it;
        whether it was applied."""
        script = network.vip.render(vips)
        c = self.index.get(cid)
        if c is None or not c.running or self._vip_scripts.get(cid) == script:
            return False
        await asyncio.to_thread(network.vip.apply_in, self.paths.netns_path(cid), script)
        self._vip_scripts[cid] = script
        return True

    def forget_balance(self, live: set[str]) -> None:
        """Drop what is remembered of containers' VIP tables but `live`'s (their
        namespaces, and the tables in them, went with them)."""
        for cid in set(self._vip_scripts) - live:
            del self._vip_scripts[cid]

    async def ingress(
        self, nid: str, local_ip: str, ports: list[tuple[str, int, int, list[str]]]
    ) -> None:
        """The routing mesh on this node: its address on the ingress network (`ip/prefix`)
        and the published ports' table in its own namespace (wharfie.network.vip)."""
        drv = self.drivers.get(nid)
        if not isinstance(drv, network.overlay.Overlay):
            raise NotFound(f"ingress network {nid} is not set up on this node")
        ip, _, prefix = local_ip.partition("/")
        if ip and self._ingress_ip != local_ip:
            await asyncio.to_thread(drv.set_address, ip, int(prefix or 24))
            self._ingress_ip = local_ip
        script = network.vip.render_ingress(drv.name, ports)
        if script != self._ingress_script:
            await asyncio.to_thread(nft.apply, script)
            self._ingress_script = script

    async def ingress_off(self) -> None:
        if self._ingress_script and self._ingress_script != network.vip.render_ingress("", []):
            await asyncio.to_thread(nft.apply, network.vip.render_ingress("", []))
        self._ingress_script = ""
        self._ingress_ip = ""

    def attached(self, nid: str) -> bool:
        """Whether a container (running or not) is on the network."""
        if self._containers_on(nid):
            return True
        return any(
            str(doc.get("NetworkID") or "") == nid
            for c in self.index.all()
            for doc in (c.doc["NetworkSettings"].get("Networks") or {}).values()
        )

    async def forget(self, nid: str) -> None:
        """A cluster network this node has no task on any more: its host side removed."""
        async with self.lock:
            net = self.user.pop(nid, None)
            self.names.cluster.pop(nid, None)
            if net is not None and net.name == "ingress" and net.scope == "swarm":
                await self.ingress_off()
            drv = self.drivers.pop(nid, None)
            if drv is not None:
                await asyncio.to_thread(drv.remove)
                drv.close()
        if net is not None:
            self.events.emit("network", "destroy", nid, {"name": net.name, "type": net.driver})

    async def sweep_overlays(self) -> list[str]:
        """Overlay devices in this node's namespace that no adopted cluster network owns (a
        network an earlier run of the daemon had and this node no longer has): deleted; their
        names."""
        async with self.lock:
            keep = {d.vni for d in self.drivers.values() if isinstance(d, network.overlay.Overlay)}
            return await asyncio.to_thread(network.overlay.sweep, keep)

    def swarm_scoped(self) -> list[Network]:
        return [n for n in self.user.values() if n.scope == "swarm"]

    async def remove(self, ref: str) -> None:
        net = self.find(ref)
        if net.scope == "swarm":
            raise Forbidden(f"{net.name} is a swarm network: remove it on a manager")
        if net.id not in self.user:
            raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        async with self.lock:
            if self._containers_on(net.id):
                raise Conflict(
                    f"error while removing network: network {net.name} id {net.id} "
                    "has active endpoints"
                )
            drv = self.driver(net.id)
            await asyncio.to_thread(drv.remove)
            drv.close()
            self.drivers.pop(net.id, None)
            self._delete(net.id)
            await self.apply_firewall()
        self.events.emit("network", "destroy", net.id, {"name": net.name, "type": net.driver})

    async def prune(self, raw_filters: str) -> dict[str, Any]:
        f = filters.parse(raw_filters)
        filters.validate(f, filters.PRUNE_NETWORK_FILTERS)
        until = filters.prune_until(f)
        deleted = []
        for net in list(self.user.values()):
            if net.scope == "swarm" or self._containers_on(net.id) or self._wanted(net):
                continue
            created = present.parse_time(net.created)
            if not filters.prune_match(f, net.labels, created, until):
                continue
            await self.remove(net.id)
            deleted.append(net.name)
        return {"NetworksDeleted": deleted or None}

    def _wanted(self, net: Network) -> bool:
        return any(
            net.name in (c.doc["NetworkSettings"].get("Networks") or {}) for c in self.index.all()
        )

    # -- firewall and published ports ----------------------------------------------------

    def ruleset(self) -> nft.Ruleset:
        nets = [nft.NetRule(self.config.bridge_name, self.bridge.subnet)]
        for net in self.user.values():
            if net.driver == "bridge":
                nets.append(nft.NetRule(drivers.bridge_name(net.id), net.v4.subnet, net.internal))
        ports = []
        for c in self.index.all():
            for rule in c.private.get("ports") or []:
                ports.append(nft.PortRule(**rule))
        ipv6 = self.bridge.ipam6 is not None or any(n.v6 for n in self.user.values())
        return nft.Ruleset(nets, ports, ipv6)

    async def apply_firewall(self) -> None:
        """Render and apply on the event loop, like a container start with published ports
        does: every transaction then carries the state of its moment, and a slower,
        older one can never land after a newer one (one `nft` run, a few ms)."""
        script = nft.render(self.nft_table, self.ruleset())
        try:
            nft.apply(script)
        except FileNotFoundError as e:
            log.warning("no nftables: networks are not isolated, ports not published: %s", e)
        except OSError as e:
            raise network.ports.PortAllocated(f"nftables: {e}") from e

    def firewall_now(self) -> None:
        """The table applied at once for a container's published ports (no nft: nothing)."""
        try:
            nft.apply(nft.render(self.nft_table, self.ruleset()))
        except FileNotFoundError:
            pass
        except OSError as e:
            raise network.ports.PortAllocated(f"publish ports: {e}") from e

    def relay_userland(self, c: Container) -> None:
        """The ports kernel NAT cannot serve, relayed in userland (network/relay.py); and every
        TCP port (its socket listens): what reaches it un-NATed is relayed, not left waiting."""
        targets = {
            (r["proto"], r["host_ip"], r["host_port"]): (r["container_ip"], r["container_port"])
            for r in c.private.get("ports") or []
        }
        for b, sock in self.ports.held(c.id):
            target = targets.get((b.proto, b.host_ip, b.host_port))
            if target is None:
                continue
            if b.proto == "tcp" or network.ports.relayed(b.host_ip, target[0]):
                self.relay.open(c.id, sock, target)

    def reserve_running(self, c: Container) -> None:
        """After a daemon restart: hold the published ports of a running container again."""
        wanted = [
            Binding(r["proto"], r["container_port"], r["host_ip"], r["host_port"])
            for r in c.private.get("ports") or []
        ]
        if wanted:
            self.ports.reserve(c.id, wanted)
            self.relay_userland(c)

    # -- start-up ------------------------------------------------------------------------

    async def start(self) -> None:
        """Make every network's host side (after a reboot bridges are gone)."""
        for nid in list(self.user):
            try:
                await asyncio.to_thread(drivers.ensure, self.driver(nid))
            except Exception as exc:  # one broken network must not keep the daemon down
                log.error("network %s: %s", self.user[nid].name, exc)

    async def recover(self) -> None:
        """After start-up recovery: the firewall from the state, ports held, DNS served,
        stale veths of user networks removed."""
        running = {c.id for c in self.index.all() if c.running}
        for nid in list(self.user):
            drv = self.driver(nid)
            if isinstance(drv, network.Bridge):
                for link in await asyncio.to_thread(drv.stale_links, running):
                    await asyncio.to_thread(drv.remove_link, link)
        for c in self.index.all():
            if not c.running:
                continue
            try:
                self.reserve_running(c)
            except Exception as exc:
                log.warning("ports of %s: %s", c.name, exc)
            if any(n in self.user for n in c.private.get("endpoints") or {}):
                try:
                    await self.resolver.serve(c.id, self.paths.netns_path(c.id))
                except Exception as exc:
                    log.warning("embedded DNS of %s: %s", c.name, exc)
        await self.apply_firewall()


def _label(labels: dict[str, str], want: str) -> bool:
    key, eq, value = want.partition("=")
    return key in labels and (not eq or labels[key] == value)
