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
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

import wharfie.engine.etcfiles as etcfiles
from wharfie import network
from wharfie.engine import links
from wharfie.errors import Conflict, InvalidArgument, NotFound, WharfieError

if TYPE_CHECKING:
    from wharfie.engine.core import Engine
    from wharfie.engine.model import Container

log = logging.getLogger("wharfie.engine")

# kept for callers of the earlier module
HOSTS_HEAD = etcfiles.HOSTS_HEAD
resolv_conf = etcfiles.resolv_conf


def kind_of(network_mode: str) -> str:
    """ "bridge" (the default network), "host", "none", "container" or "network" (a user one)."""
    mode = network_mode or "bridge"
    if mode == "default":
        return "bridge"
    if mode in ("bridge", "host", "none"):
        return mode
    if mode.startswith("container:"):
        return "container"
    return "network"


def mode_of(network_mode: str) -> str:
    """What the runtime spec needs: "host", "none", or "bridge" (join a netns path)."""
    kind = kind_of(network_mode)
    return kind if kind in ("host", "none") else "bridge"


def check_mode(network_mode: str) -> None:
    """Kept for the create path: a malformed mode; the engine checks names in check_create."""
    if network_mode.startswith("container:") and not network_mode[len("container:") :]:
        raise InvalidArgument("invalid container format container:<name|id>")


def _endpoint_doc(
    nid: str, ep: dict[str, Any] | None, wanted: dict[str, Any] | None
) -> dict[str, Any]:
    wanted = wanted or {}
    return {
        "IPAMConfig": wanted.get("IPAMConfig") or None,
        "Links": wanted.get("Links") or None,
        "Aliases": wanted.get("Aliases") or None,
        "MacAddress": ep["mac"] if ep else "",
        "NetworkID": nid,
        "EndpointID": _endpoint_id(ep) if ep else "",
        "Gateway": ep["gateway"] if ep else "",
        "IPAddress": ep["ip"] if ep else "",
        "IPPrefixLen": ep["prefix_len"] if ep else 0,
        "IPv6Gateway": (ep.get("gateway6") or "") if ep else "",
        "GlobalIPv6Address": (ep.get("ip6") or "") if ep else "",
        "GlobalIPv6PrefixLen": (ep.get("prefix_len6") or 0) if ep else 0,
        "DriverOpts": wanted.get("DriverOpts") or None,
        "DNSNames": wanted.get("DNSNames") or None,
    }


def _endpoint_id(ep: dict[str, Any]) -> str:
    from wharfie.engine.networks import endpoint_id

    return endpoint_id({"network_id": ep.get("network_id") or "bridge", **ep})


def empty_settings(engine: Engine, mode: str) -> dict[str, Any]:
    nets: dict[str, Any] = {}
    if mode in ("bridge", "host", "none"):
        nid = engine.networks.builtin_doc(mode)["Id"]
        nets[mode] = _endpoint_doc(nid, None, None)
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "Ports": {},
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": nets,
    }


# -- create --------------------------------------------------------------------------------


def check_create(engine: Engine, host_config: dict[str, Any], networking: dict[str, Any]) -> None:
    """Refuse at create what can never start. A network or container that does not exist
    (yet) is only an error at start, as with Docker (a 404 from create would make the
    docker CLI try to pull the image)."""
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
            doc = engine.networks.find("bridge" if target == "default" else target)
        except NotFound:
            continue
        _check_static_ip(engine, doc, cfg or {})
        if (cfg or {}).get("Aliases") and not engine.networks.is_user(doc["Id"]):
            raise InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
            )


def _check_static_ip(engine: Engine, doc: dict[str, Any], cfg: dict[str, Any]) -> None:
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
    if not engine.networks.is_user(doc["Id"]):
        raise InvalidArgument(
            "user specified IP address is supported on user defined networks only"
        )
    drv = engine.networks.driver(doc["Id"])
    if ip:
        drv.ipam.allocate(set(), ip)
    if ip6:
        ipam6 = getattr(drv, "ipam6", None)
        if ipam6 is None:
            raise InvalidArgument(
                f"Invalid address {ip6}: It does not belong to any of this network's subnets"
            )
        ipam6.allocate(set(), ip6)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def on_create(engine: Engine, doc: dict[str, Any], networking: dict[str, Any]) -> None:
    """NetworkSettings.Networks of a new container: its network and EndpointsConfig's;
    its legacy links."""
    links.on_create(engine, doc)
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
            net = engine.networks.find(name)
        except NotFound:  # reported by start
            nets[name] = _endpoint_doc("", None, wanted[name] or {})
            continue
        nets[net["Name"]] = settings_for(engine, net, doc["Id"], wanted[name] or {})
    doc["NetworkSettings"]["Networks"] = nets


def settings_for(
    engine: Engine, net: dict[str, Any], cid: str, cfg: dict[str, Any]
) -> dict[str, Any]:
    """An endpoint's wanted settings; on user networks the short ID joins the aliases (1.44)."""
    aliases = [str(a) for a in cfg.get("Aliases") or []]
    if engine.networks.is_user(net["Id"]) and cid[:12] not in aliases:
        aliases.append(cid[:12])
    wanted = {**cfg, "Aliases": aliases or None}
    return _endpoint_doc(net["Id"], None, wanted)


# -- start ---------------------------------------------------------------------------------


def used_ips(engine: Engine, nid: str) -> set[str]:
    """Addresses taken on a network: its containers' and its auxiliary addresses."""
    out: set[str] = set()
    doc = engine.networks.docs.get(nid)
    if doc is not None:
        for cfg in doc["IPAM"]["Config"]:
            out.update(str(ip) for ip in (cfg.get("AuxiliaryAddresses") or {}).values())
    for c in engine.containers.values():
        ep = (c.private.get("endpoints") or {}).get(nid)
        if ep is not None:
            out.add(str(ep["ip"]))
    return out


def used_ips6(engine: Engine, nid: str) -> set[str]:
    """IPv6 addresses taken on a network by its containers."""
    out: set[str] = set()
    for c in engine.containers.values():
        ep = (c.private.get("endpoints") or {}).get(nid)
        if ep is not None and ep.get("ip6"):
            out.add(str(ep["ip6"]))
    return out


def prepare(engine: Engine, c: Container) -> tuple[str | None, dict[str, str]]:
    """Make the network ready; returns (netns path to join or None, /etc files to mount)."""
    kind = kind_of(c.network_mode)
    if kind == "container":
        return _join_container(engine, c)
    netns: str | None = None
    ip = ""
    user = False
    if kind in ("bridge", "network"):
        netns = engine.netns_path(c.id)
        network.create_netns(netns)
        try:
            ip, user = _attach_all(engine, c, netns)
            _publish_ports(engine, c)
            if user:
                _serve_dns(engine, c, netns)
        except BaseException:
            release(engine, c)
            raise
        c.doc["NetworkSettings"]["SandboxKey"] = netns
    files = etcfiles.write(engine, c, kind, ip, user)
    return netns, files


def _attach_all(engine: Engine, c: Container, netns: str) -> tuple[str, bool]:
    nets = c.doc["NetworkSettings"]["Networks"]
    c.private["endpoints"] = {}
    first_ip = ""
    user = False
    for i, (name, wanted) in enumerate(list(nets.items())):
        try:
            net = engine.networks.find(str(wanted.get("NetworkID") or name))
        except NotFound as e:
            raise NotFound(f"network {name} not found") from e
        ep = attach_one(engine, c, net, wanted, f"eth{i}", default_route=(i == 0))
        first_ip = first_ip or str(ep["ip"])
        emit(engine, "connect", net, c.id)
        user = user or engine.networks.is_user(net["Id"])
    return first_ip, user


def attach_one(
    engine: Engine,
    c: Container,
    net: dict[str, Any],
    wanted: dict[str, Any],
    ifname: str,
    default_route: bool,
) -> dict[str, Any]:
    nid = net["Id"]
    drv = engine.networks.driver(nid)
    ipam_cfg = wanted.get("IPAMConfig") or {}
    preferred = ipam_cfg.get("IPv4Address") or None
    ip = drv.ipam.allocate(used_ips(engine, nid), preferred)
    ipam6 = getattr(drv, "ipam6", None)
    ip6 = ""
    if ipam6 is not None and nid == engine.bridge_id:  # --fixed-cidr-v6: dockerd's MAC form
        ip6 = ipam6.from_mac(network.mac_for_ip(ip))
    elif ipam6 is not None:
        ip6 = ipam6.allocate(used_ips6(engine, nid), ipam_cfg.get("IPv6Address") or None)
    v6: dict[str, Any] = {"ip6": ip6} if ip6 else {}  # keywords only IPv6 drivers take
    link_local = tuple(str(a) for a in ipam_cfg.get("LinkLocalIPs") or [])
    if link_local:
        v6["link_local"] = link_local
    route = default_route and not net.get("Internal")
    netns = engine.netns_path(c.id)
    try:
        ep = drv.attach(c.id, netns, ip, ifname, route, **v6)._asdict()
    except Conflict:
        if not isinstance(drv, network.Bridge) or c.running:
            raise
        # A start right after a stop: the stop dropped the old namespace and the kernel is
        # still destroying its veth pair, whose host end has this container's name. It can
        # only be that stale pair (the container is not running): delete it, try again.
        drv.remove_link(drv.veth_name(c.id))
        ep = drv.attach(c.id, netns, ip, ifname, route, **v6)._asdict()
    ep["network_id"] = nid
    c.private.setdefault("endpoints", {})[nid] = ep
    doc = _endpoint_doc(nid, ep, wanted)
    c.doc["NetworkSettings"]["Networks"][net["Name"]] = doc
    if nid == engine.bridge_id:
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


def emit(engine: Engine, action: str, net: dict[str, Any], cid: str) -> None:
    """A `network connect|disconnect` event, as Docker sends on start, stop and the API."""
    engine.events.emit(
        "network", action, net["Id"], {"container": cid, "name": net["Name"], "type": net["Driver"]}
    )


def _primary(engine: Engine, c: Container) -> dict[str, Any] | None:
    for ep in (c.private.get("endpoints") or {}).values():
        return dict(ep)
    return None


def _publish_ports(engine: Engine, c: Container) -> None:
    plan = network.ports.plan(
        c.host_config.get("PortBindings"),
        c.config.get("ExposedPorts"),
        bool(c.host_config.get("PublishAllPorts")),
        engine.config.default_bind_ip,
    )
    c.doc["NetworkSettings"]["Ports"] = network.ports.port_map([], c.config.get("ExposedPorts"))
    ep = _primary(engine, c)
    if not plan or ep is None:
        return
    ip6 = str(ep.get("ip6") or "")
    bound = engine.networks.ports.reserve(c.id, plan)
    if ip6 or network.ports.host_has_ipv6():  # dockerd publishes on :: too
        bound += engine.networks.ports.reserve(c.id, network.ports.ipv6_twins(bound))
    bridge = getattr(engine.networks.driver(ep["network_id"]), "name", "")
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
    c.doc["NetworkSettings"]["Ports"] = network.ports.port_map(bound, c.config.get("ExposedPorts"))
    _firewall_now(engine)
    _relay_userland(engine, c)


def _relay_userland(engine: Engine, c: Container) -> None:
    """The ports kernel NAT cannot serve, relayed in userland (network/relay.py); and every
    TCP port (its socket listens): what reaches it un-NATed is relayed, not left waiting."""
    targets = {
        (r["proto"], r["host_ip"], r["host_port"]): (r["container_ip"], r["container_port"])
        for r in c.private.get("ports") or []
    }
    for b, sock in engine.networks.ports.held(c.id):
        target = targets.get((b.proto, b.host_ip, b.host_port))
        if target is None:
            continue
        if b.proto == "tcp" or network.ports.relayed(b.host_ip, target[0]):
            engine.networks.relay.open(c.id, sock, target)


def _firewall_now(engine: Engine) -> None:
    from wharfie.network import nft

    try:
        nft.apply(nft.render(engine.networks.table, engine.networks.ruleset()))
    except FileNotFoundError:
        pass
    except OSError as e:
        raise network.ports.PortAllocated(f"publish ports: {e}") from e


def _serve_dns(engine: Engine, c: Container, netns: str) -> None:
    engine.networks.resolver.open(c.id, netns)


def reserve_running(engine: Engine, c: Container) -> None:
    """After a daemon restart: hold the published ports of a running container again."""
    from wharfie.network.ports import Binding

    wanted = [
        Binding(r["proto"], r["container_port"], r["host_ip"], r["host_port"])
        for r in c.private.get("ports") or []
    ]
    if wanted:
        engine.networks.ports.reserve(c.id, wanted)
        _relay_userland(engine, c)


def _join_container(engine: Engine, c: Container) -> tuple[str, dict[str, str]]:
    ref = c.network_mode[len("container:") :]
    other = engine.find(ref)
    if other.id == c.id:
        raise InvalidArgument("cannot join own network")
    if not other.running:
        raise Conflict(f"cannot join network of a non running container: {other.id}")
    if kind_of(other.network_mode) == "container":
        return _join_container(engine, other)
    path = engine.netns_path(other.id)
    if not os.path.exists(path):
        path = f"/proc/{other.state['Pid']}/ns/net"
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


# -- stop ----------------------------------------------------------------------------------


def release(engine: Engine, c: Container) -> None:
    """Undo prepare(); safe to call twice and after a crash."""
    engine.networks.resolver.stop(c.id)
    engine.networks.relay.stop(c.id)
    engine.networks.ports.release(c.id)
    if c.private.pop("ports", None):
        try:
            _firewall_now(engine)
        except WharfieError as exc:  # the exit path goes on; start-up renders the table again
            log.warning("removing the published ports of %s: %s", c.id[:12], exc)
    eps = c.private.pop("endpoints", None) or {}
    legacy = c.private.pop("endpoint", None)
    if legacy:
        eps.setdefault(engine.bridge_id, legacy)
    netns = engine.netns_path(c.id)
    for nid in eps:
        try:
            emit(engine, "disconnect", engine.networks.find(nid), c.id)
        except NotFound:
            pass
    if os.path.exists(netns):
        # The container's processes are gone: dropping the last reference to the netns
        # makes the kernel destroy its interfaces and their host-side peers in the
        # background. An explicit veth delete waits for an RCU grace period (~20 ms).
        network.delete_netns(netns)
    else:
        for nid, ep in eps.items():
            _detach(engine, nid, ep)
    _clear_settings(engine, c)


def _detach(engine: Engine, nid: str, ep: dict[str, Any]) -> None:
    try:
        drv = engine.networks.driver(nid)
    except KeyError:
        if ep.get("host_veth"):
            engine.bridge.remove_link(str(ep["host_veth"]))
        return
    fields = {k: v for k, v in ep.items() if k in network.Endpoint._fields}
    drv.detach(network.Endpoint(**fields))


def _clear_settings(engine: Engine, c: Container) -> None:
    kind = kind_of(c.network_mode)
    old = c.doc["NetworkSettings"].get("Networks") or {}
    settings = empty_settings(engine, kind if kind != "network" else "")
    if kind in ("bridge", "network"):
        settings["Networks"] = {
            name: _endpoint_doc(str(doc.get("NetworkID") or ""), None, doc)
            for name, doc in old.items()
        }
    c.doc["NetworkSettings"] = settings


def hostname_of(c: Container) -> str:
    if c.network_mode == "host":
        return socket.gethostname()
    return str(c.config.get("Hostname") or c.id[:12])


# -- connect and disconnect ----------------------------------------------------------------


async def connect(engine: Engine, c: Container, net: dict[str, Any], cfg: dict[str, Any]) -> None:
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
    if net["Driver"] in ("host", "null"):
        raise InvalidArgument(
            "container cannot be disconnected from host network or connected to host network"
        )
    nets = c.doc["NetworkSettings"]["Networks"]
    if net["Name"] in nets:
        raise network.ipam.Forbidden(
            f"endpoint with name {c.name} already exists in network {net['Name']}"
        )
    _check_static_ip(engine, net, cfg)
    wanted = settings_for(engine, net, c.id, cfg)
    if not c.running:
        nets[net["Name"]] = wanted
        return
    ifname = f"eth{_free_index(c)}"
    # on the loop, as start does: the address is taken and recorded with no await between
    attach_one(engine, c, net, wanted, ifname, False)
    if engine.networks.is_user(net["Id"]) and os.path.exists(engine.netns_path(c.id)):
        _serve_dns(engine, c, engine.netns_path(c.id))
    etcfiles.rewrite_resolv(engine, c)


def _free_index(c: Container) -> int:
    used = {str(ep.get("ifname") or "eth0") for ep in (c.private.get("endpoints") or {}).values()}
    i = 0
    while f"eth{i}" in used:
        i += 1
    return i


async def disconnect(engine: Engine, c: Container, net: dict[str, Any], force: bool) -> None:
    nets = c.doc["NetworkSettings"]["Networks"]
    if net["Name"] not in nets:
        if force:
            return
        raise WharfieError(f"container {c.id} is not connected to network {net['Name']}")
    if net["Driver"] in ("host", "null"):
        raise InvalidArgument(
            "container cannot be disconnected from host network or connected to host network"
        )
    ep = (c.private.get("endpoints") or {}).pop(net["Id"], None)
    del nets[net["Name"]]
    if ep is not None:
        await asyncio.to_thread(_detach, engine, net["Id"], ep)
    if not any(engine.networks.is_user(n) for n in c.private.get("endpoints") or {}):
        engine.networks.resolver.stop(c.id)


def ps_ports(c: Container) -> list[dict[str, Any]]:
    """`Ports` of a `GET /containers/json` row."""
    out: list[dict[str, Any]] = []
    for key, hosts in (c.doc["NetworkSettings"].get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        if not hosts:
            out.append({"PrivatePort": int(port), "Type": proto})
            continue
        for h in hosts:
            out.append(
                {
                    "IP": h["HostIp"],
                    "PrivatePort": int(port),
                    "PublicPort": int(h["HostPort"]),
                    "Type": proto,
                }
            )
    return out
