"""Go shapes of the network and volume request bodies, for engine.gojson (canonical field
names and Go's type errors). The container and exec bodies' shapes live in engine.validate."""

from __future__ import annotations

from typing import Any

from wharfie.engine import gojson

__all__ = ["NETWORK_CONNECT", "NETWORK_CREATE", "NETWORK_DISCONNECT", "VOLUME_CREATE", "decode"]

_STR_MAP = "map[string]string"
IPAM_CONFIG = ("network.IPAMConfig", {
    "Subnet": "string", "IPRange": "string", "Gateway": "string",
    "AuxiliaryAddresses": _STR_MAP,
})  # fmt: skip
IPAM = ("network.IPAM", {
    "Driver": "string", "Options": _STR_MAP, "Config": ("[]network.IPAMConfig", IPAM_CONFIG),
})  # fmt: skip
NETWORK_CREATE = ("types.NetworkCreateRequest", {
    "Name": "string", "CheckDuplicate": "bool", "Driver": "string", "Scope": "string",
    "EnableIPv6": "bool", "IPAM": IPAM, "Internal": "bool", "Attachable": "bool",
    "Ingress": "bool", "ConfigOnly": "bool",
    "ConfigFrom": ("network.ConfigReference", {"Network": "string"}),
    "Options": _STR_MAP, "Labels": _STR_MAP,
})  # fmt: skip
ENDPOINT_SETTINGS = ("network.EndpointSettings", {
    "IPAMConfig": ("network.EndpointIPAMConfig", {
        "IPv4Address": "string", "IPv6Address": "string", "LinkLocalIPs": "[]string"}),
    "Links": "[]string", "Aliases": "[]string", "MacAddress": "string",
    "DriverOpts": _STR_MAP, "NetworkID": "string", "EndpointID": "string",
    "Gateway": "string", "IPAddress": "string", "IPPrefixLen": "int",
})  # fmt: skip
NETWORK_CONNECT = ("types.NetworkConnect", {
    "Container": "string", "EndpointConfig": ENDPOINT_SETTINGS,
})  # fmt: skip
NETWORK_DISCONNECT = ("types.NetworkDisconnect", {"Container": "string", "Force": "bool"})
VOLUME_CREATE = ("volume.CreateOptions", {
    "Name": "string", "Driver": "string", "DriverOpts": _STR_MAP, "Labels": _STR_MAP,
})  # fmt: skip


def decode(body: Any, schema: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """`body` (already JSON-decoded) checked against `schema`, with Go's field names."""
    if not isinstance(body, dict):
        raise gojson.type_error(body, "", schema[0])
    out: dict[str, Any] = gojson.canonical(body, schema)
    gojson.check(out, schema)
    return out
