"""A container's network at create, start, stop, connect and disconnect.

Modes: "none" (a fresh netns with only lo, made by the runtime), "host" (no netns),
"container:<ref>" (the other container's namespace is joined), and the networks: the
default `bridge` and user-defined ones (bridge, macvlan). For networks, start creates
`<exec-root>/netns/<id>`, attaches one interface per network (`eth0` first, with the
default route), reserves and DNATs published ports, and on user networks serves the
embedded DNS at 127.0.0.11 inside the namespace. Stop undoes it; dropping the namespace
destroys the container's interfaces (and their host-side peers) in the kernel.

Wanted state is `NetworkSettings.Networks` (name -> EndpointSettings: aliases, static
address); what exists is `private["endpoints"]` (network id -> Endpoint) and
`private["ports"]` (the nft PortRules).

The pure parts (modes, the `NetworkSettings` document) are `engine.net.modes`; `NetSetup`
is the service, built with the networks, the container index, the event bus,
the /etc files writer, the links and the paths.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from typing import Any, Protocol

from wharfie import network
from wharfie.engine.emitter import Events
from wharfie.engine.index import ContainerIndex
from wharfie.engine.model import Container
from wharfie.engine.net.etcfiles import EtcFiles
from wharfie.engine.net.modes import (
    check_mode,
    endpoint_settings,
    hostname_of,
    kind_of,
    network_settings,
)
from wharfie.engine.net.networks import Networks
from wharfie.engine.net.records import Network
from wharfie.engine.paths import Paths
from wharfie.errors import Conflict, InvalidArgument, NotFound, WharfieError

log = logging.getLogger("wharfie.engine")


class LinkCheck(Protocol):
    """What create asks of the legacy links (`engine.links.Links`)."""

    def on_create(self, doc: dict[str, Any]) -> None: ...


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _primary(c: Container) -> dict[str, Any] | None:
    for ep in (c.private.get("endpoints") or {}).values():
        return dict(ep)
    return None


def _free_index(c: Container) -> int:
    used = {str(ep.get("ifname") or "eth0") for ep in (c.private.get("endpoints") or {}).values()}
    i = 0
    while f"eth{i}" in used:
        i += 1
    return i


class NetSetup:
    def __init__(
        self,
        networks: Networks,
        index: ContainerIndex,
        events: Events,
        etc: EtcFiles,
        links: LinkCheck,
        paths: Paths,
        *,
        default_bind_ip: str = "",
    ) -> None:
        self.networks = networks
        self.index = index
        self.events = events
        self.etc = etc
        self.links = links
        self.paths = paths
        self.default_bind_ip = default_bind_ip  # the daemon's --ip: ports without a HostIp

    def empty_settings(self, mode: str) -> dict[str, Any]:
        nets: dict[str, Any] = {}
        if mode in ("bridge", "host", "none"):
            nets[mode] = endpoint_settings(self.networks.builtin(mode).id, None, None)
        return network_settings(nets)

    # -- create --------------------------------------------------------------------------

    def check_create(self, host_config: dict[str, Any], networking: dict[str, Any]) -> None:
        """Refuse at create what can never start. A network or container that does not
        exist (yet) is only an error at start, as with Docker (a 404 from create would make
        the docker CLI try to pull the image)."""
        mode = str(host_config.get("NetworkMode") or "bridge")
        check_mode(mode)
        kind = kind_of(mode)
        if kind == "container":
            if host_config.get("PortBindings") or host_config.get("PublishAllPorts"):
                raise InvalidArgument(
                    "conflicting options: port publishing and the container type network mode"
                )
            return
        for name, cfg in (networking.get("EndpointsConfig") or {}).items():
            target = mode if name == "default" else name
            if kind_of(target) in ("host", "none") and target != mode:
                raise InvalidArgument(
                    f"container cannot be connected to {target} network and {mode} at the same time"
                )
            try:
                net = self.networks.find("bridge" if target == "default" else target)
            except NotFound:
                continue
            self._check_static_ip(net, cfg or {})
            if (cfg or {}).get("Aliases") and not self.networks.is_user(net.id):
                raise InvalidArgument(
                    "network-scoped alias is supported only for containers in user defined networks"
                )

    def _check_static_ip(self, net: Network, cfg: dict[str, Any]) -> None:
        ipam = cfg.get("IPAMConfig") or {}
        ip, ip6 = ipam.get("IPv4Address") or "", ipam.get("IPv6Address") or ""
        if ip6:
            try:
                ipaddress.IPv6Address(str(ip6))
            except ValueError as e:
                raise InvalidArgument(f"invalid IPv6 address: {ip6}") from e
        bad = [str(a) for a in ipam.get("LinkLocalIPs") or [] if not _is_ip(str(a))]
        if bad:
            raise InvalidArgument(f"Invalid link-local IP address: [{' '.join(bad)}]")
        if not (ip or ip6):
            return
        if not self.networks.is_user(net.id):
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
        drv = self.networks.driver(net.id)
        if ip:
            drv.ipam.allocate(set(), ip)
        if ip6:
            ipam6 = getattr(drv, "ipam6", None)
            if ipam6 is None:
                raise InvalidArgument(
                    f"Invalid address {ip6}: It does not belong to any of this network's subnets"
                )
            ipam6.allocate(set(), ip6)

    def on_create(self, doc: dict[str, Any], networking: dict[str, Any]) -> None:
        """NetworkSettings.Networks of a new container: its network and EndpointsConfig's;
        its legacy links."""
        self.links.on_create(doc)
        mode = str(doc["HostConfig"].get("NetworkMode") or "bridge")
        if kind_of(mode) == "container":
            doc["NetworkSettings"]["Networks"] = {}
            return
        if kind_of(mode) in ("host", "none"):
            return
        wanted = dict(networking.get("EndpointsConfig") or {})
        if "default" in wanted:
            wanted.setdefault(mode, wanted.pop("default"))
        wanted.setdefault(mode, {})
        nets: dict[str, Any] = {}
        for name in [mode, *[n for n in wanted if n != mode]]:
            try:
                net = self.networks.find(name)
            except NotFound:  # reported by start
                nets[name] = endpoint_settings("", None, wanted[name] or {})
                continue
            nets[net.name] = self.settings_for(net, doc["Id"], wanted[name] or {})
        doc["NetworkSettings"]["Networks"] = nets

    def settings_for(self, net: Network, cid: str, cfg: dict[str, Any]) -> dict[str, Any]:
        """An endpoint's wanted settings; on user networks the short ID joins the aliases
        (1.44)."""
        aliases = [str(a) for a in cfg.get("Aliases") or []]
        if self.networks.is_user(net.id) and cid[:12] not in aliases:
            aliases.append(cid[:12])
        return endpoint_settings(net.id, None, {**cfg, "Aliases": aliases or None})

    # -- start ---------------------------------------------------------------------------

    def used_ips(self, nid: str) -> set[str]:
        """Addresses taken on a network: its containers' and its auxiliary addresses."""
        net = self.networks.get_user(nid)
        out: set[str] = net.aux_addresses() if net is not None else set()
        for c in self.index.all():
            ep = (c.private.get("endpoints") or {}).get(nid)
            if ep is not None:
                out.add(str(ep["ip"]))
        return out

    def used_ips6(self, nid: str) -> set[str]:
        """IPv6 addresses taken on a network by its containers."""
        out: set[str] = set()
        for c in self.index.all():
            ep = (c.private.get("endpoints") or {}).get(nid)
            if ep is not None and ep.get("ip6"):
                out.add(str(ep["ip6"]))
        return out

    async def join_cluster(self, c: Container) -> None:
        """Before `prepare`: a standalone container on an attachable cluster network gets its
        address from the cluster, and the network is set up on this node
        (`Networks.cluster_attach`, given by the daemon in a swarm)."""
        attach = self.networks.cluster_attach
        if attach is None or (c.config.get("Labels") or {}).get("com.docker.swarm.task.id"):
            return
        for name, wanted in list((c.doc["NetworkSettings"].get("Networks") or {}).items()):
            if (wanted.get("IPAMConfig") or {}).get("IPv4Address"):
                continue
            ref = str(wanted.get("NetworkID") or name)
            try:
                if self.networks.find(ref).scope != "swarm":
                    continue
            except NotFound:
                pass
            nid, ip = await attach(ref, c.id)
            c.private.setdefault("cluster_ips", {})[nid] = ip
            if name != ref or not wanted.get("NetworkID"):
                wanted["NetworkID"] = nid

    def prepare(self, c: Container) -> tuple[str | None, dict[str, str]]:
        """Make the network ready; returns (netns path to join or None, /etc files to
        mount)."""
        kind = kind_of(c.network_mode)
        if kind == "container":
            return self._join_container(c)
        netns: str | None = None
        ip = ""
        user = False
        if kind in ("bridge", "network"):
            netns = self.paths.netns_path(c.id)
            network.create_netns(netns)
            try:
                ip, user = self._attach_all(c, netns)
                self._publish_ports(c)
                if user:
                    self.networks.resolver.open(c.id, netns)
            except BaseException:
                self.release(c)
                raise
            c.doc["NetworkSettings"]["SandboxKey"] = netns
        files = self.etc.write(c, kind, ip, user)
        return netns, files

    def _attach_all(self, c: Container, netns: str) -> tuple[str, bool]:
        nets = c.doc["NetworkSettings"]["Networks"]
        c.private["endpoints"] = {}
        first_ip = ""
        user = False
        for i, (name, wanted) in enumerate(list(nets.items())):
            try:
                net = self.networks.find(str(wanted.get("NetworkID") or name))
            except NotFound as e:
                raise NotFound(f"network {name} not found") from e
            ep = self.attach_one(c, net, wanted, f"eth{i}", default_route=(i == 0))
            first_ip = first_ip or str(ep["ip"])
            self.emit("connect", net, c.id)
            user = user or self.networks.is_user(net.id)
        return first_ip, user

    def attach_one(
        self,
        c: Container,
        net: Network,
        wanted: dict[str, Any],
        ifname: str,
        default_route: bool,
    ) -> dict[str, Any]:
        nid = net.id
        drv = self.networks.driver(nid)
        ipam_cfg = wanted.get("IPAMConfig") or {}
        # an address the cluster gave a standalone container on a cluster network
        preferred = ipam_cfg.get("IPv4Address") or (c.private.get("cluster_ips") or {}).get(nid)
        ip = drv.ipam.allocate(self.used_ips(nid), preferred)
        ipam6 = getattr(drv, "ipam6", None)
        ip6 = ""
        bridge_id = self.networks.bridge_id
        if ipam6 is not None and nid == bridge_id:  # --fixed-cidr-v6: dockerd's MAC form
            ip6 = ipam6.from_mac(network.mac_for_ip(ip))
        elif ipam6 is not None:
            ip6 = ipam6.allocate(self.used_ips6(nid), ipam_cfg.get("IPv6Address") or None)
        v6: dict[str, Any] = {"ip6": ip6} if ip6 else {}  # keywords only IPv6 drivers take
        link_local = tuple(str(a) for a in ipam_cfg.get("LinkLocalIPs") or [])
        if link_local:
            v6["link_local"] = link_local
        route = default_route and not net.internal
        netns = self.paths.netns_path(c.id)
        try:
            ep = drv.attach(c.id, netns, ip, ifname, route, **v6)._asdict()
        except Conflict:
            if not isinstance(drv, network.Bridge) or c.running:
                raise
            # A start right after a stop: the stop dropped the old namespace and the kernel
            # is still destroying its veth pair, whose host end has this container's name.
            # It can only be that stale pair (the container is not running): delete it, try
            # again.
            drv.remove_link(drv.veth_name(c.id))
            ep = drv.attach(c.id, netns, ip, ifname, route, **v6)._asdict()
        ep["network_id"] = nid
        c.private.setdefault("endpoints", {})[nid] = ep
        doc = endpoint_settings(nid, ep, wanted)
        c.doc["NetworkSettings"]["Networks"][net.name] = doc
        if nid == bridge_id:
            c.doc["NetworkSettings"].update(
                EndpointID=doc["EndpointID"],
                Gateway=ep["gateway"],
                IPAddress=ep["ip"],
                IPPrefixLen=ep["prefix_len"],
                MacAddress=ep["mac"],
                GlobalIPv6Address=doc["GlobalIPv6Address"],
                GlobalIPv6PrefixLen=doc["GlobalIPv6PrefixLen"],
                IPv6Gateway=doc["IPv6Gateway"],
            )
        return ep

    def emit(self, action: str, net: Network, cid: str) -> None:
        """A `network connect|disconnect` event, as Docker sends on start, stop and the API."""
        self.events.emit(
            "network", action, net.id, {"container": cid, "name": net.name, "type": net.driver}
        )

    def _publish_ports(self, c: Container) -> None:
        plan = network.ports.plan(
            c.host_config.get("PortBindings"),
            c.config.get("ExposedPorts"),
            bool(c.host_config.get("PublishAllPorts")),
            self.default_bind_ip,
        )
        c.doc["NetworkSettings"]["Ports"] = network.ports.port_map([], c.config.get("ExposedPorts"))
        ep = _primary(c)
        if not plan or ep is None:
            return
        ip6 = str(ep.get("ip6") or "")
        ports = self.networks.ports
        bound = ports.reserve(c.id, plan)
        if ip6 or network.ports.host_has_ipv6():  # dockerd publishes on :: too
            bound += ports.reserve(c.id, network.ports.ipv6_twins(bound))
        bridge = getattr(self.networks.driver(ep["network_id"]), "name", "")
        c.private["ports"] = [
            {
                "proto": b.proto,
                "host_ip": b.host_ip,
                "host_port": b.host_port,
                "container_ip": network.ports.container_target(b, ep["ip"], ip6),
                "container_port": b.container_port,
                "bridge": bridge,
            }
            for b in bound
        ]
        c.doc["NetworkSettings"]["Ports"] = network.ports.port_map(
            bound, c.config.get("ExposedPorts")
        )
        self.networks.firewall_now()
        self.networks.relay_userland(c)

    def _join_container(self, c: Container) -> tuple[str, dict[str, str]]:
        ref = c.network_mode[len("container:") :]
        other = self.index.find(ref)
        if other.id == c.id:
            raise InvalidArgument("cannot join own network")
        if not other.running:
            raise Conflict(f"cannot join network of a non running container: {other.id}")
        if kind_of(other.network_mode) == "container":
            return self._join_container(other)
        path = self.paths.netns_path(other.id)
        if not os.path.exists(path):
            path = f"/proc/{other.state.pid}/ns/net"
            if kind_of(other.network_mode) == "host":
                raise InvalidArgument("joining a container on the host network is not supported")
        files = {
            "/etc/hostname": str(other.doc["HostnamePath"]),
            "/etc/hosts": str(other.doc["HostsPath"]),
            "/etc/resolv.conf": str(other.doc["ResolvConfPath"]),
        }
        c.doc.update(
            HostnamePath=files["/etc/hostname"],
            HostsPath=files["/etc/hosts"],
            ResolvConfPath=files["/etc/resolv.conf"],
        )
        # as Docker: the joining container takes the other's host and domain names
        c.config["Hostname"] = hostname_of(other)
        c.config["Domainname"] = other.config.get("Domainname") or ""
        c.doc["NetworkSettings"]["SandboxKey"] = path
        return path, files

    # -- stop ----------------------------------------------------------------------------

    def release(self, c: Container) -> None:
        """Undo prepare(); safe to call twice and after a crash."""
        nets = self.networks
        nets.resolver.stop(c.id)
        nets.relay.stop(c.id)
        nets.ports.release(c.id)
        if c.private.pop("ports", None):
            try:
                nets.firewall_now()
            except WharfieError as exc:  # the exit path goes on; start-up renders it again
                log.warning("removing the published ports of %s: %s", c.id[:12], exc)
        eps = c.private.pop("endpoints", None) or {}
        legacy = c.private.pop("endpoint", None)
        if legacy:
            eps.setdefault(nets.bridge_id, legacy)
        netns = self.paths.netns_path(c.id)
        for nid in eps:
            try:
                self.emit("disconnect", nets.find(nid), c.id)
            except NotFound:
                pass
        if os.path.exists(netns):
            # The container's processes are gone: dropping the last reference to the netns
            # makes the kernel destroy its interfaces and their host-side peers in the
            # background. An explicit veth delete waits for an RCU grace period (~20 ms).
            network.delete_netns(netns)
        else:
            for nid, ep in eps.items():
                self._detach(nid, ep)
        self._clear_settings(c)

    def _detach(self, nid: str, ep: dict[str, Any]) -> None:
        try:
            drv = self.networks.driver(nid)
        except KeyError:
            if ep.get("host_veth"):
                self.networks.bridge.remove_link(str(ep["host_veth"]))
            return
        fields = {k: v for k, v in ep.items() if k in network.Endpoint._fields}
        drv.detach(network.Endpoint(**fields))

    def _clear_settings(self, c: Container) -> None:
        kind = kind_of(c.network_mode)
        old = c.doc["NetworkSettings"].get("Networks") or {}
        settings = self.empty_settings(kind if kind != "network" else "")
        if kind in ("bridge", "network"):
            settings["Networks"] = {
                name: endpoint_settings(str(doc.get("NetworkID") or ""), None, doc)
                for name, doc in old.items()
            }
        c.doc["NetworkSettings"] = settings

    # -- connect and disconnect ----------------------------------------------------------

    async def connect(self, c: Container, net: Network, cfg: dict[str, Any]) -> None:
        kind = kind_of(c.network_mode)
        if kind in ("host", "container"):
            raise InvalidArgument(
                "container sharing network namespace with another container "
                "or host cannot be connected to any other network"
            )
        if kind == "none":
            raise InvalidArgument(
                "container cannot be connected to multiple networks with one "
                "of the networks in private (none) mode"
            )
        if net.driver in ("host", "null"):
            raise InvalidArgument(
                "container cannot be disconnected from host network or connected to host network"
            )
        nets = c.doc["NetworkSettings"]["Networks"]
        if net.name in nets:
            raise network.ipam.Forbidden(
                f"endpoint with name {c.name} already exists in network {net.name}"
            )
        self._check_static_ip(net, cfg)
        wanted = self.settings_for(net, c.id, cfg)
        if not c.running:
            nets[net.name] = wanted
            return
        ifname = f"eth{_free_index(c)}"
        # on the loop, as start does: the address is taken and recorded with no await between
        self.attach_one(c, net, wanted, ifname, False)
        netns = self.paths.netns_path(c.id)
        if self.networks.is_user(net.id) and os.path.exists(netns):
            self.networks.resolver.open(c.id, netns)
        self.etc.rewrite_resolv(c)

    async def disconnect(self, c: Container, net: Network, force: bool) -> None:
        nets = c.doc["NetworkSettings"]["Networks"]
        if net.name not in nets:
            if force:
                return
            # dockerd's wording, with a 409 (dockerd: 500): the client named a pair that is
            # not connected, nothing broke in the daemon (found by the schema fuzzer)
            raise Conflict(f"container {c.id} is not connected to network {net.name}")
        if net.driver in ("host", "null"):
            raise InvalidArgument(
                "container cannot be disconnected from host network or connected to host network"
            )
        ep = (c.private.get("endpoints") or {}).pop(net.id, None)
        del nets[net.name]
        if ep is not None:
            await asyncio.to_thread(self._detach, net.id, ep)
        if not any(self.networks.is_user(n) for n in c.private.get("endpoints") or {}):
            self.networks.resolver.stop(c.id)
