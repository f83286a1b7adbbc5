"""Networks: records in the store, drivers, the firewall table, and the API's use cases.

A network record is the document `GET /networks/{id}` shows, minus `Containers`, kept in
the `networks` table of the daemon's database. The three built-in networks (`bridge`,
`host`, `none`) are not stored: they are made from the daemon's configuration. Each
bridge or macvlan network has a driver object (`wharfie.network`) made from its record.

Which containers are on a network is the containers' own state: `NetworkSettings.Networks`
(wanted: aliases, static address) and `private["endpoints"]` (what exists now: veth,
address), keyed by network id. `netsetup` attaches and detaches them at start and stop;
`connect` and `disconnect` here do it on a running container too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from wharfie import network
from wharfie.engine import filters, present
from wharfie.engine.model import now_rfc3339
from wharfie.errors import Conflict, InvalidArgument, NotFound, WharfieError
from wharfie.network import nft
from wharfie.network.ipam import Forbidden as Forbidden
from wharfie.network.ipam import check_overlap, host_routes, pick_subnet
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.core import Engine
    from wharfie.engine.model import Container

log = logging.getLogger("wharfie.engine")

BUILTIN = ("bridge", "host", "none")
# User-defined bridges default to a jumbo MTU: container-to-container TCP then runs at
# ~0.9x loopback instead of ~0.65x at 1500 (bench/network.py). Traffic leaving the host is
# unaffected: TCP takes the smaller MSS of both ends, and the host (the first hop) answers
# oversized DF packets with ICMP "fragmentation needed". `-o
# com.docker.network.driver.mtu=1500` gives Docker's default back.
USER_BRIDGE_MTU = 65520
DRIVERS = ("bridge", "macvlan", "host", "null")


class Driver(Protocol):
    """What a network driver does for the engine (bridge, macvlan; overlay later).

    `ensure()` makes the host side (idempotent: start-up and create), `attach()` gives
    a container namespace an interface and address, `detach()` takes it away, `remove()`
    deletes the host side when the network goes, `close()` frees sockets."""

    network_id: str
    ipam: network.IPAM

    def attach(
        self, container_id: str, netns_path: str, ip: str, ifname: str, default_route: bool
    ) -> network.Endpoint: ...

    def detach(self, endpoint: network.Endpoint) -> None: ...

    def remove(self) -> None: ...

    def close(self) -> None: ...


class Networks:
    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.docs: dict[str, dict[str, Any]] = {}  # user-defined networks by id
        self.drivers: dict[str, Driver] = {}
        self.ports = network.ports.Reservations()
        self.relay = network.relay.PortRelay()  # ports kernel NAT cannot serve
        self.table = nft.table_name(engine.config.bridge_name)
        self.lock = asyncio.Lock()
        self._builtin_ids: dict[str, str] = {}
        self.resolver = network.dns.Resolver(
            self.lookup, _upstreams(), self.reverse, self.own_upstreams
        )
        with engine.store.lock:
            rows = engine.store.db.execute("SELECT doc FROM networks").fetchall()
        for (text,) in rows:
            doc = jsonio.loads(text)
            self.docs[doc["Id"]] = doc

    # -- records -------------------------------------------------------------------------

    def builtin_doc(self, name: str) -> dict[str, Any]:
        e = self.e
        if name == "bridge":
            ipam = [{"Subnet": e.bridge.subnet, "Gateway": e.bridge.gateway}]
            if e.bridge.ipam6 is not None:
                ipam.append({"Subnet": str(e.bridge.ipam6.subnet)})
            opts = {
                "com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.enable_icc": "true",
                "com.docker.network.bridge.enable_ip_masquerade": str(e.config.masquerade).lower(),
                "com.docker.network.bridge.name": e.config.bridge_name,
                "com.docker.network.driver.mtu": str(e.config.mtu or 1500),
            }
            doc = _doc(e.bridge_id, "bridge", "bridge", ipam, opts, {}, False, "")
            doc["EnableIPv6"] = e.bridge.ipam6 is not None
            return doc
        nid = self._builtin_ids.get(name) or e.store.setting(
            f"{name}_network_id", lambda: secrets.token_hex(32)
        )
        self._builtin_ids[name] = nid
        return _doc(nid, name, "host" if name == "host" else "null", [], {}, {}, False, "")

    def all_docs(self) -> list[dict[str, Any]]:
        return [self.builtin_doc(n) for n in BUILTIN] + list(self.docs.values())

    def find(self, ref: str) -> dict[str, Any]:
        """By full id, then name, then unique id prefix (Docker's order)."""
        docs = self.all_docs()
        for doc in docs:
            if doc["Id"] == ref:
                return doc
        for doc in docs:
            if doc["Name"] == ref:
                return doc
        hits = [d for d in docs if ref and d["Id"].startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise NotFound(f"network {ref} is ambiguous ({len(hits)} matches found based on ID)")
        raise NotFound(f"network {ref} not found")

    def driver(self, nid: str) -> Driver:
        if nid == self.e.bridge_id:
            return self.e.bridge
        drv = self.drivers.get(nid)
        if drv is None:
            drv = _make_driver(self.docs[nid], self.e.config.masquerade)
            self.drivers[nid] = drv
        return drv

    def is_user(self, nid: str) -> bool:
        return nid in self.docs

    # -- inspect and list ----------------------------------------------------------------

    def present(self, doc: dict[str, Any]) -> dict[str, Any]:
        out = dict(doc)
        out["Containers"] = self._containers_on(doc["Id"])
        return out

    def _containers_on(self, nid: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        mode = next((n for n in ("host", "none") if self._builtin_ids.get(n) == nid), "")
        for c in self.e.containers.values():
            ep = (c.private.get("endpoints") or {}).get(nid)
            if ep is None:
                if mode and c.running and c.network_mode == mode:  # as Docker lists them
                    out[c.id] = {
                        "Name": c.name,
                        "EndpointID": endpoint_id({"network_id": nid, "container_id": c.id}),
                        "MacAddress": "",
                        "IPv4Address": "",
                        "IPv6Address": "",
                    }
                continue
            out[c.id] = {
                "Name": c.name,
                "EndpointID": endpoint_id(ep),
                "MacAddress": ep["mac"],
                "IPv4Address": f"{ep['ip']}/{ep['prefix_len']}",
                "IPv6Address": f"{ep['ip6']}/{ep['prefix_len6']}" if ep.get("ip6") else "",
            }
        return out

    def listing(self, raw_filters: str) -> list[dict[str, Any]]:
        f = filters.parse(raw_filters)
        return [self.present(d) for d in self.all_docs() if _match(f, d, self)]

    # -- create and remove ---------------------------------------------------------------

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self.lock:
            doc = self._new_doc(body)
            drv = _make_driver(doc, self.e.config.masquerade)
            # the record first: a crash before the bridge exists leaves a network that the
            # next start-up ensures, never a bridge that no record owns
            self._insert(doc)
            try:
                await asyncio.to_thread(_ensure, drv)
            except BaseException:
                await asyncio.to_thread(drv.remove)
                self._delete(doc["Id"])
                raise
            self.drivers[doc["Id"]] = drv
            await self.apply_firewall()
        self.e.events.emit(
            "network", "create", doc["Id"], {"name": doc["Name"], "type": doc["Driver"]}
        )
        return {"Id": doc["Id"], "Warning": ""}

    def _new_doc(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("Name") or "")
        if not name:
            raise InvalidArgument("network name cannot be empty")
        if any(d["Name"] == name for d in self.all_docs()):
            raise Conflict(f"network with name {name} already exists")
        driver = str(body.get("Driver") or "bridge")
        if driver in ("host", "null", "none"):
            raise Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver == "overlay":
            raise Forbidden(
                'This node is not a swarm manager. Use "docker swarm init" or '
                '"docker swarm join" to connect this node to swarm and try again.'
            )
        if driver not in DRIVERS:
            raise NotFound(f'plugin "{driver}" not found')
        ipv6 = bool(body.get("EnableIPv6"))
        if ipv6 and driver == "macvlan":
            raise InvalidArgument("IPv6 is not supported on macvlan networks (yet)")
        nid = secrets.token_hex(32)
        ipam = self._ipam_config(body.get("IPAM") or {}, driver, ipv6)
        opts = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        labels = {str(k): str(v) for k, v in (body.get("Labels") or {}).items()}
        doc = _doc(nid, name, driver, ipam, opts, labels, bool(body.get("Internal")), now_rfc3339())
        doc["Attachable"] = bool(body.get("Attachable"))
        doc["EnableIPv6"] = ipv6
        doc["IPAM"]["Options"] = (body.get("IPAM") or {}).get("Options") or {}
        return doc

    def _ipam_config(
        self, ipam: dict[str, Any], driver: str, ipv6: bool = False
    ) -> list[dict[str, Any]]:
        if (ipam.get("Driver") or "default") != "default":
            raise NotFound(f'plugin "{ipam.get("Driver")}" not found')
        configs = [dict(c) for c in ipam.get("Config") or [] if c]
        v6 = [c for c in configs if ":" in str(c.get("Subnet") or "")]
        v4 = self._ipam_v4([c for c in configs if c not in v6], driver)
        if len(v6) > 1:
            raise Forbidden("bridge driver doesn't support multiple subnets")
        if not v6:
            if ipv6:
                raise NotFound(
                    "could not find an available, non-overlapping IPv6 address pool among "
                    "the defaults to assign to the network"
                )
            return v4
        return [*v4, self._ipam_v6(v6[0])]

    def _taken(self) -> list[str]:
        return [
            str(c["Subnet"])
            for d in self.all_docs()
            for c in d["IPAM"]["Config"]
            if c.get("Subnet")
        ]

    def _ipam_v6(self, cfg: dict[str, Any]) -> dict[str, Any]:
        try:
            net = ipaddress.IPv6Network(str(cfg["Subnet"]), strict=False)
        except ValueError as e:
            raise InvalidArgument(f"Invalid subnet {cfg['Subnet']} : {e}") from e
        for other in self._taken():
            if ":" in other and net.overlaps(ipaddress.IPv6Network(other, strict=False)):
                raise Forbidden("Pool overlaps with other one on this address space")
        out: dict[str, Any] = {"Subnet": str(net)}
        if cfg.get("Gateway"):
            gateway = str(cfg["Gateway"])
            try:
                inside = ipaddress.IPv6Address(gateway) in net
            except ValueError as e:
                raise InvalidArgument(f"invalid gateway {gateway}") from e
            if not inside:
                raise WharfieError(
                    f"failed to allocate gateway ({gateway}): Requested address is out of range"
                )
            out["Gateway"] = gateway
        network.ipam.IPAM6(str(net), out.get("Gateway"))
        return out

    def _ipam_v4(self, configs: list[dict[str, Any]], driver: str) -> list[dict[str, Any]]:
        taken = [t for t in self._taken() if ":" not in t]
        if not configs:
            subnet = pick_subnet(taken, _host_routes(), self.e.config.address_pools)
            net = ipaddress.IPv4Network(subnet)
            return [{"Subnet": subnet, "Gateway": str(net.network_address + 1)}]
        if len(configs) > 1:
            raise InvalidArgument("only one IPv4 subnet per network is supported")
        cfg = configs[0]
        if not cfg.get("Subnet"):
            raise InvalidArgument("IPAM config needs a Subnet")
        try:
            net = ipaddress.IPv4Network(str(cfg["Subnet"]), strict=False)
        except ValueError as e:
            raise InvalidArgument(f"invalid subnet {cfg['Subnet']}: {e}") from e
        if driver == "bridge":
            check_overlap(str(net), taken)
        out = {"Subnet": str(net)}
        network.IPAM(str(net), cfg.get("Gateway") or None, "", cfg.get("IPRange") or None)
        out["Gateway"] = str(cfg.get("Gateway") or net.network_address + 1)
        if cfg.get("IPRange"):
            out["IPRange"] = str(cfg["IPRange"])
        aux = {str(k): str(v) for k, v in (cfg.get("AuxiliaryAddresses") or {}).items()}
        for host, ip in aux.items():
            try:
                inside = ipaddress.IPv4Address(ip) in net
            except ValueError as e:
                raise InvalidArgument(f"invalid auxiliary address {host}={ip}") from e
            if not inside:
                raise InvalidArgument(f"auxiliary address {host}={ip} is not in subnet {net}")
        result: dict[str, Any] = dict(out)
        if aux:
            result["AuxiliaryAddresses"] = aux
        return [result]

    def _insert(self, doc: dict[str, Any]) -> None:
        import sqlite3

        try:
            with self.e.store.lock:
                self.e.store.db.execute(
                    "INSERT INTO networks (id, name, doc) VALUES (?, ?, ?)",
                    (doc["Id"], doc["Name"], jsonio.dumps(doc)),
                )
        except sqlite3.IntegrityError as e:
            raise Conflict(f"network with name {doc['Name']} already exists") from e
        self.docs[doc["Id"]] = doc

    def _delete(self, nid: str) -> None:
        with self.e.store.lock:
            self.e.store.db.execute("DELETE FROM networks WHERE id = ?", (nid,))
        self.docs.pop(nid, None)

    async def remove(self, ref: str) -> None:
        doc = self.find(ref)
        if doc["Name"] in BUILTIN and doc["Id"] not in self.docs:
            raise Forbidden(f"{doc['Name']} is a pre-defined network and cannot be removed")
        async with self.lock:
            users = self._containers_on(doc["Id"])
            if users:
                raise Conflict(
                    f"error while removing network: network {doc['Name']} id {doc['Id']} "
                    "has active endpoints"
                )
            drv = self.driver(doc["Id"])
            await asyncio.to_thread(drv.remove)
            drv.close()
            self.drivers.pop(doc["Id"], None)
            self._delete(doc["Id"])
            await self.apply_firewall()
        self.e.events.emit(
            "network", "destroy", doc["Id"], {"name": doc["Name"], "type": doc["Driver"]}
        )

    async def prune(self, raw_filters: str) -> dict[str, Any]:
        f = filters.parse(raw_filters)
        filters.validate(f, filters.PRUNE_NETWORK_FILTERS)
        until = filters.prune_until(f)
        deleted = []
        for doc in list(self.docs.values()):
            if self._containers_on(doc["Id"]) or self._wanted_by(doc):
                continue
            created = present.parse_time(str(doc["Created"]))
            if not filters.prune_match(f, doc.get("Labels"), created, until):
                continue
            await self.remove(doc["Id"])
            deleted.append(doc["Name"])
        return {"NetworksDeleted": deleted or None}

    def _wanted_by(self, doc: dict[str, Any]) -> bool:
        return any(
            doc["Name"] in (c.doc["NetworkSettings"].get("Networks") or {})
            for c in self.e.containers.values()
        )

    # -- firewall ------------------------------------------------------------------------

    def ruleset(self) -> nft.Ruleset:
        nets = [nft.NetRule(self.e.config.bridge_name, self.e.bridge.subnet)]
        for doc in self.docs.values():
            if doc["Driver"] == "bridge":
                cfg = doc["IPAM"]["Config"][0]
                nets.append(
                    nft.NetRule(bridge_name(doc["Id"]), cfg["Subnet"], bool(doc["Internal"]))
                )
        ports = []
        for c in self.e.containers.values():
            for rule in c.private.get("ports") or []:
                ports.append(nft.PortRule(**rule))
        ipv6 = self.e.bridge.ipam6 is not None or any(
            ipv6_config(doc) for doc in self.docs.values()
        )
        return nft.Ruleset(nets, ports, ipv6)

    async def apply_firewall(self) -> None:
        """Render and apply on the event loop, like a container start with published ports
        does: every transaction then carries the state of its moment, and a slower,
        older one can never land after a newer one (one `nft` run, a few ms)."""
        script = nft.render(self.table, self.ruleset())
        try:
            nft.apply(script)
        except FileNotFoundError as e:
            log.warning("no nftables: networks are not isolated, ports not published: %s", e)
        except OSError as e:
            raise network.ports.PortAllocated(f"nftables: {e}") from e

    # -- embedded DNS --------------------------------------------------------------------

    def lookup(self, asker: str, name: str) -> list[str] | None:
        """Addresses of `name` on the user networks `asker` is on; None if none has it."""
        me = self.e.containers.get(asker)
        if me is None:
            return None
        mine = {nid for nid in me.private.get("endpoints") or {} if nid in self.docs}
        found: list[str] = []
        for nid in mine:
            suffix = "." + self.docs[nid]["Name"].lower()
            short = name[: -len(suffix)] if name.endswith(suffix) else name
            targets = self._link_targets(me, nid, short)
            for c in self.e.containers.values():
                ep = (c.private.get("endpoints") or {}).get(nid)
                if ep is None:
                    continue
                if short in _names_of(c, self.docs[nid]["Name"]) or c.id in targets:
                    found.append(str(ep["ip"]))
                    if ep.get("ip6"):
                        found.append(str(ep["ip6"]))
        return found or None

    def _link_targets(self, me: Container, nid: str, alias: str) -> set[str]:
        """Network-scoped links (`--link name:alias` on a user network, EndpointsConfig
        Links): the ids `alias` names for `me` alone on network `nid`."""
        wanted = (me.doc["NetworkSettings"].get("Networks") or {}).get(self.docs[nid]["Name"])
        out = set()
        for spec in (wanted or {}).get("Links") or []:
            name, _, link_alias = str(spec).partition(":")
            if (link_alias or name) == alias:
                try:
                    out.add(self.e.find(name.lstrip("/")).id)
                except NotFound:
                    continue
        return out

    def reverse(self, asker: str, ip: str) -> list[str] | None:
        """Names of the container holding `ip` on a user network `asker` shares (PTR)."""
        me = self.e.containers.get(asker)
        if me is None:
            return None
        mine = {nid for nid in me.private.get("endpoints") or {} if nid in self.docs}
        for nid in mine:
            for c in self.e.containers.values():
                ep = (c.private.get("endpoints") or {}).get(nid)
                if ep is not None and ip in (ep["ip"], ep.get("ip6")):
                    return [f"{c.name}.{self.docs[nid]['Name']}"]
        return None

    def own_upstreams(self, asker: str) -> list[tuple[str, int]] | None:
        """A container's `--dns` servers: where its embedded DNS forwards (as Docker)."""
        c = self.e.containers.get(asker)
        servers = (c.host_config.get("Dns") or self.e.config.dns) if c is not None else []
        return [(s, 53) for s in servers if ":" not in s] or None

    async def recover(self) -> None:
        """After start-up recovery: the firewall from the state, ports held, DNS served,
        stale veths of user networks removed."""
        from wharfie.engine import netsetup

        running = {c.id for c in self.e.containers.values() if c.running}
        for nid, _doc in self.docs.items():
            drv = self.driver(nid)
            if isinstance(drv, network.Bridge):
                for link in await asyncio.to_thread(drv.stale_links, running):
                    await asyncio.to_thread(drv.remove_link, link)
        for c in self.e.containers.values():
            if not c.running:
                continue
            try:
                netsetup.reserve_running(self.e, c)
            except Exception as exc:
                log.warning("ports of %s: %s", c.name, exc)
            netns = self.e.netns_path(c.id)
            if any(n in self.docs for n in c.private.get("endpoints") or {}):
                try:
                    await self.resolver.serve(c.id, netns)
                except Exception as exc:
                    log.warning("embedded DNS of %s: %s", c.name, exc)
        await self.apply_firewall()

    # -- start-up --------------------------------------------------------------------------

    async def start(self) -> None:
        """Make every network's host side (after a reboot bridges are gone)."""
        for nid in list(self.docs):
            try:
                await asyncio.to_thread(_ensure, self.driver(nid))
            except Exception as exc:  # one broken network must not keep the daemon down
                log.error("network %s: %s", self.docs[nid]["Name"], exc)


def bridge_name(nid: str) -> str:
    return "br-" + nid[:12]


def endpoint_id(ep: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(f"{ep['network_id']}/{ep['container_id']}".encode()).hexdigest()


def _names_of(c: Any, net_name: str) -> set[str]:
    settings = (c.doc["NetworkSettings"].get("Networks") or {}).get(net_name) or {}
    names = {c.name.lower(), c.id[:12]}
    names.update(str(a).lower() for a in settings.get("Aliases") or [])
    return names


def _upstreams() -> list[tuple[str, int]]:
    """The host's resolvers, or WHARFIE_DNS_UPSTREAMS ("ip[:port],...", empty: none)."""
    override = os.environ.get("WHARFIE_DNS_UPSTREAMS")
    if override is not None:
        out = []
        for item in override.split(","):
            host, _, port = item.strip().partition(":")
            if host:
                out.append((host, int(port or 53)))
        return out
    try:
        with open("/etc/resolv.conf") as f:
            return network.dns.upstreams_of(f.read())
    except OSError:
        return []


def _ensure(drv: Driver) -> None:
    ensure = getattr(drv, "ensure", None)
    if ensure is not None:
        ensure()


def _host_routes() -> list[str]:
    try:
        with open("/proc/net/route") as f:
            return host_routes(f.read())
    except OSError:
        return []


def _make_driver(doc: dict[str, Any], masquerade: bool) -> Driver:
    cfg = doc["IPAM"]["Config"][0]
    opts = doc.get("Options") or {}
    internal = bool(doc.get("Internal"))
    if doc["Driver"] == "macvlan":
        mode = opts.get("macvlan_mode", "bridge")
        if mode != "bridge":
            raise InvalidArgument(f"macvlan mode {mode!r} is not supported (only bridge)")
        return network.Macvlan(
            opts.get("parent", ""),
            cfg["Subnet"],
            doc["Id"],
            cfg.get("Gateway"),
            doc["Name"],
            internal,
        )
    v6 = ipv6_config(doc)
    masq = (
        masquerade
        and not internal
        and opts.get("com.docker.network.bridge.enable_ip_masquerade", "true") != "false"
    )
    bridge = network.Bridge(
        bridge_name(doc["Id"]),
        cfg["Subnet"],
        doc["Id"],
        cfg.get("Gateway"),
        doc["Name"],
        user_defined=True,
        ip_range=cfg.get("IPRange"),
        masquerade=masq,
        mtu=_mtu(opts) or USER_BRIDGE_MTU,
        subnet6=v6["Subnet"] if v6 else None,
        gateway6=v6.get("Gateway") if v6 else None,
    )
    return bridge


def ipv6_config(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The IPv6 IPAM config of an IPv6-enabled network, else None."""
    if not doc.get("EnableIPv6"):
        return None
    return next((c for c in doc["IPAM"]["Config"] if ":" in str(c.get("Subnet") or "")), None)


def _mtu(opts: dict[str, str]) -> int:
    text = opts.get("com.docker.network.driver.mtu", "") or "0"
    try:
        mtu = int(text)
    except ValueError as e:
        raise InvalidArgument(f"invalid MTU {text!r}") from e
    if mtu and not 68 <= mtu <= 65535:
        raise InvalidArgument(f"invalid MTU {mtu}: between 68 and 65535")
    return mtu


def _doc(
    nid: str,
    name: str,
    driver: str,
    ipam: list[dict[str, Any]],
    opts: dict[str, str],
    labels: dict[str, str],
    internal: bool,
    created: str,
) -> dict[str, Any]:
    return {
        "Name": name,
        "Id": nid,
        "Created": created or "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None if not created else {}, "Config": ipam},
        "Internal": internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Options": opts,
        "Labels": labels,
    }


def _match(f: dict[str, list[str]], doc: dict[str, Any], nets: Networks) -> bool:
    for key, values in f.items():
        if key == "name" and not any(v in doc["Name"] for v in values):
            return False
        if key == "id" and not any(doc["Id"].startswith(v) for v in values):
            return False
        if key == "driver" and doc["Driver"] not in values:
            return False
        if key == "scope" and doc["Scope"] not in values:
            return False
        if key == "type":
            kind = "custom" if nets.is_user(doc["Id"]) else "builtin"
            if kind not in values:
                return False
        if key == "label" and not all(_label(doc["Labels"], v) for v in values):
            return False
        if key == "dangling":
            dangling = not nets._containers_on(doc["Id"])
            if any((v in ("true", "1")) != dangling for v in values):
                return False
    return True


def _label(labels: dict[str, str], want: str) -> bool:
    key, eq, value = want.partition("=")
    return key in labels and (not eq or labels[key] == value)
