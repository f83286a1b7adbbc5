"""The network record: what the engine knows of one network (typed), and its parse from
the stored document.

The `networks` table keeps each user-defined network as the document `GET /networks/{id}`
shows (without `Containers`), as it always has; `from_doc` reads it back, and
`engine.net.present.document` writes it. Built-in networks (`bridge`, `host`, `none`) are
records made from the daemon's configuration and never stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Subnet:
    """One IPAM config entry: an IPv4 or IPv6 subnet and what the user fixed in it."""

    subnet: str
    gateway: str = ""
    ip_range: str = ""
    aux: dict[str, str] = field(default_factory=dict)  # AuxiliaryAddresses: host -> ip

    @property
    def is_v6(self) -> bool:
        return ":" in self.subnet


@dataclass
class Network:
    id: str
    name: str
    driver: str  # bridge, macvlan, host, null
    subnets: list[Subnet] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    created: str = ""  # RFC 3339; "" for a built-in network
    ipam_options: dict[str, str] | None = None  # None for a built-in network
    scope: str = "local"  # "swarm": a cluster network this node has tasks on (not stored)

    @property
    def v4(self) -> Subnet:
        """The IPv4 subnet (a bridge or macvlan network has exactly one)."""
        return self.subnets[0]

    @property
    def v6(self) -> Subnet | None:
        """The IPv6 subnet of an IPv6-enabled network, else None."""
        if not self.enable_ipv6:
            return None
        return next((s for s in self.subnets if s.is_v6), None)

    def aux_addresses(self) -> set[str]:
        return {ip for s in self.subnets for ip in s.aux.values()}


def subnet_from(cfg: dict[str, Any]) -> Subnet:
    return Subnet(
        subnet=str(cfg.get("Subnet") or ""),
        gateway=str(cfg.get("Gateway") or ""),
        ip_range=str(cfg.get("IPRange") or ""),
        aux={str(k): str(v) for k, v in (cfg.get("AuxiliaryAddresses") or {}).items()},
    )


def from_doc(doc: dict[str, Any]) -> Network:
    """A stored network document (inspect's shape) as a record."""
    ipam = doc.get("IPAM") or {}
    opts = ipam.get("Options")
    return Network(
        id=str(doc["Id"]),
        name=str(doc["Name"]),
        driver=str(doc.get("Driver") or "bridge"),
        subnets=[subnet_from(c) for c in ipam.get("Config") or []],
        options={str(k): str(v) for k, v in (doc.get("Options") or {}).items()},
        labels={str(k): str(v) for k, v in (doc.get("Labels") or {}).items()},
        internal=bool(doc.get("Internal")),
        attachable=bool(doc.get("Attachable")),
        enable_ipv6=bool(doc.get("EnableIPv6")),
        created=str(doc.get("Created") or ""),
        ipam_options=None if opts is None else {str(k): str(v) for k, v in opts.items()},
    )
