"""Network modes and a container's `NetworkSettings` document (pure).

`kind_of` and `mode_of` read `HostConfig.NetworkMode`; `endpoint_settings` and
`network_settings` make the document inspect shows under `NetworkSettings`; `ps_ports` the
`Ports` of a `GET /containers/json` row.
"""

from __future__ import annotations

import socket
from typing import Any

from wharfie.engine.model import Container
from wharfie.engine.net.drivers import endpoint_id
from wharfie.errors import InvalidArgument


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


def hostname_of(c: Container) -> str:
    if c.network_mode == "host":
        return socket.gethostname()
    return str(c.config.get("Hostname") or c.id[:12])


def endpoint_settings(
    nid: str, ep: dict[str, Any] | None, wanted: dict[str, Any] | None
) -> dict[str, Any]:
    """One entry of a container's `NetworkSettings.Networks` (moby's EndpointSettings)."""
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
    return endpoint_id(str(ep.get("network_id", "bridge")), str(ep["container_id"]))


def network_settings(nets: dict[str, Any]) -> dict[str, Any]:
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
