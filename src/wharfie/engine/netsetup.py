"""A container's network at start and stop: namespace, endpoint, /etc files.

Modes of this issue: "none" (a fresh netns with only lo, made by the runtime),
"host" (no netns), and the default bridge (a netns prepared here, then a veth
pair on `wharfie0` with an address from the bridge's pool). User-defined
networks come with the networking issue.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

from wharfie import network
from wharfie.errors import InvalidArgument, NotImplementedFeature

if TYPE_CHECKING:
    from wharfie.engine.core import Engine
    from wharfie.engine.model import Container

HOSTS_HEAD = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def mode_of(network_mode: str) -> str:
    mode = network_mode or "bridge"
    if mode == "default":
        return "bridge"
    if mode in ("bridge", "none", "host"):
        return mode
    if mode.startswith("container:"):
        raise NotImplementedFeature("network mode container:<name> is not supported yet")
    raise NotImplementedFeature(
        f"network {mode} not found: user-defined networks are not supported yet"
    )


def empty_settings(engine: Engine, mode: str) -> dict[str, Any]:
    nets: dict[str, Any] = {}
    if mode in ("bridge", "host", "none"):
        nets[mode] = _endpoint_doc(engine, mode, None)
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


def _endpoint_doc(engine: Engine, mode: str, ep: network.Endpoint | None) -> dict[str, Any]:
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "MacAddress": ep.mac if ep else "",
        "NetworkID": engine.bridge_id if mode == "bridge" else _static_id(engine, mode),
        "EndpointID": (ep.container_id[:32] + ep.host_veth.encode().hex()[:32]) if ep else "",
        "Gateway": ep.gateway if ep else "",
        "IPAddress": ep.ip if ep else "",
        "IPPrefixLen": ep.prefix_len if ep else 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DriverOpts": None,
        "DNSNames": None,
    }


def _static_id(engine: Engine, mode: str) -> str:
    return engine.store.setting(f"{mode}_network_id", lambda: os.urandom(32).hex())


def used_ips(engine: Engine) -> set[str]:
    return {
        str(c.private["endpoint"]["ip"])
        for c in engine.containers.values()
        if c.private.get("endpoint")
    }


def prepare(engine: Engine, c: Container) -> tuple[str | None, dict[str, str]]:
    """Make the network ready; returns (netns path to join or None, /etc files to mount)."""
    mode = mode_of(c.network_mode)
    netns: str | None = None
    ip = ""
    if mode == "bridge":
        netns = engine.netns_path(c.id)
        network.create_netns(netns)
        try:
            ip = engine.ipam.allocate(used_ips(engine))
            ep = engine.bridge.attach(c.id, netns, ip)
        except BaseException:
            network.delete_netns(netns)
            raise
        c.private["endpoint"] = ep._asdict()
        _publish(engine, c, ep)
    files = write_etc_files(engine, c, mode, ip)
    return netns, files


def _publish(engine: Engine, c: Container, ep: network.Endpoint) -> None:
    settings = c.doc["NetworkSettings"]
    doc = _endpoint_doc(engine, "bridge", ep)
    settings["Networks"]["bridge"] = doc
    settings.update(
        SandboxKey=ep.netns,
        EndpointID=doc["EndpointID"],
        Gateway=ep.gateway,
        IPAddress=ep.ip,
        IPPrefixLen=ep.prefix_len,
        MacAddress=ep.mac,
    )


def release(engine: Engine, c: Container) -> None:
    """Undo prepare(); safe to call twice and after a crash."""
    ep = c.private.pop("endpoint", None)
    netns = engine.netns_path(c.id)
    if os.path.exists(netns):
        # The container's processes are gone: dropping the last reference to the netns
        # makes the kernel destroy eth0 and its host-side peer in the background. An
        # explicit veth delete waits for an RCU grace period (~20 ms) on this path.
        network.delete_netns(netns)
    elif ep is not None:
        engine.bridge.detach(network.Endpoint(**ep))
    mode = "bridge" if c.network_mode in ("default", "bridge") else c.network_mode
    if mode in ("bridge", "host", "none"):
        c.doc["NetworkSettings"] = empty_settings(engine, mode)


def hostname_of(c: Container) -> str:
    if c.network_mode == "host":
        return socket.gethostname()
    return str(c.config.get("Hostname") or c.id[:12])


def write_etc_files(engine: Engine, c: Container, mode: str, ip: str) -> dict[str, str]:
    cdir = engine.container_dir(c.id)
    hostname = hostname_of(c)
    domain = c.config.get("Domainname") or ""
    paths = {
        "/etc/hostname": os.path.join(cdir, "hostname"),
        "/etc/hosts": os.path.join(cdir, "hosts"),
        "/etc/resolv.conf": os.path.join(cdir, "resolv.conf"),
    }
    _write(paths["/etc/hostname"], hostname + "\n")
    if mode == "host":
        _write(paths["/etc/hosts"], _read("/etc/hosts"))
    else:
        fqdn = f"{hostname}.{domain} {hostname}" if domain else hostname
        extra = "".join(
            f"{h.split(':', 1)[1]}\t{h.split(':', 1)[0]}\n"
            for h in c.host_config.get("ExtraHosts") or []
            if ":" in h
        )
        _write(paths["/etc/hosts"], HOSTS_HEAD + extra + (f"{ip}\t{fqdn}\n" if ip else ""))
    _write(paths["/etc/resolv.conf"], resolv_conf(_read("/etc/resolv.conf"), mode))
    c.doc.update(
        HostnamePath=paths["/etc/hostname"],
        HostsPath=paths["/etc/hosts"],
        ResolvConfPath=paths["/etc/resolv.conf"],
    )
    return paths


def resolv_conf(host: str, mode: str) -> str:
    """The host's resolv.conf; for a private netns, loopback servers are unreachable and are
    replaced by public ones, as Docker does."""
    if mode == "host":
        return host
    lines = [
        ln for ln in host.splitlines() if not (ln.startswith("nameserver") and _is_loopback(ln))
    ]
    if not any(ln.startswith("nameserver") for ln in lines):
        lines += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(lines) + "\n"


def _is_loopback(line: str) -> bool:
    parts = line.split()
    return len(parts) > 1 and (parts[1].startswith("127.") or parts[1] == "::1")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def check_mode(network_mode: str) -> None:
    try:
        mode_of(network_mode)
    except NotImplementedFeature as exc:
        raise InvalidArgument(str(exc)) from None
