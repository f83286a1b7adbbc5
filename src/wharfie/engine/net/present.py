"""A network as the API shows it (`GET /networks`, `GET /networks/{id}`), rendered from its
record; the same document, without `Containers`, is what the store keeps."""

from __future__ import annotations

from typing import Any

from wharfie.engine.net.records import Network, Subnet

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: the built-in networks' Created


def subnet(s: Subnet) -> dict[str, Any]:
    out: dict[str, Any] = {"Subnet": s.subnet}
    if s.gateway:
        out["Gateway"] = s.gateway
    if s.ip_range:
        out["IPRange"] = s.ip_range
    if s.aux:
        out["AuxiliaryAddresses"] = dict(s.aux)
    return out


def document(net: Network) -> dict[str, Any]:
    """The network's document without `Containers` (moby's field order)."""
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created or ZERO_TIME,
        "Scope": net.scope,
        "Driver": net.driver,
        "EnableIPv6": net.enable_ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": None if net.ipam_options is None else dict(net.ipam_options),
            "Config": [subnet(s) for s in net.subnets],
        },
        "Internal": net.internal,
        "Attachable": net.attachable,
        "Ingress": net.scope == "swarm" and net.name == "ingress",
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Options": dict(net.options),
        "Labels": dict(net.labels),
    }


def inspect(net: Network, containers: dict[str, Any]) -> dict[str, Any]:
    """`GET /networks/{id}`: the document and the endpoints on the network."""
    return {**document(net), "Containers": containers}


def endpoint(name: str, endpoint_id: str, ep: dict[str, Any] | None) -> dict[str, Any]:
    """One entry of `Containers`; `ep` None for a container on `host` or `none`."""
    if ep is None:
        return {
            "Name": name,
            "EndpointID": endpoint_id,
            "MacAddress": "",
            "IPv4Address": "",
            "IPv6Address": "",
        }
    return {
        "Name": name,
        "EndpointID": endpoint_id,
        "MacAddress": ep["mac"],
        "IPv4Address": f"{ep['ip']}/{ep['prefix_len']}",
        "IPv6Address": f"{ep['ip6']}/{ep['prefix_len6']}" if ep.get("ip6") else "",
    }
