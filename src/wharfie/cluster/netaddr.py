"""The address a node advertises when `swarm init/join` names none, or names an interface:
dockerd's choice (one global unicast address on a non-loopback interface) and its errors."""

from __future__ import annotations

import json
import subprocess

from wharfie.errors import InvalidArgument


def _addresses() -> list[tuple[str, str]]:
    """(interface, address) of every global unicast address on the host's interfaces."""
    try:
        out = subprocess.run(
            ["ip", "-j", "addr", "show"], capture_output=True, check=True, timeout=10
        ).stdout
        links = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise InvalidArgument(f"could not list the system's addresses: {exc}") from exc
    found = []
    for link in links:
        if "LOOPBACK" in (link.get("flags") or []):
            continue
        for a in link.get("addr_info") or []:
            if a.get("scope") == "global" and a.get("family") in ("inet", "inet6"):
                found.append((str(link.get("ifname")), str(a.get("local"))))
    return found


def choose(addresses: list[tuple[str, str]]) -> str:
    """dockerd's rule over (interface, address) pairs (pure): the IPv4 address if exactly one
    interface has one, else an error that names the candidates."""
    v4 = [(i, a) for i, a in addresses if ":" not in a]
    pool = v4 or addresses
    if not pool:
        raise InvalidArgument(
            "could not find the system's IP address - specify one with --advertise-addr"
        )
    interfaces = {i for i, _ in pool}
    if len(interfaces) > 1 or len(pool) > 1:
        first, second = pool[0], pool[1]
        kind = "addresses on different interfaces" if len(interfaces) > 1 else "addresses"
        raise InvalidArgument(
            f"could not choose an IP address to advertise since this system has multiple "
            f"{kind} ({first[1]} on {first[0]} and {second[1]} on {second[0]})"
        )
    return pool[0][1]


def default_address() -> str:
    return choose(_addresses())


def interface_address(name: str) -> str:
    mine = [(i, a) for i, a in _addresses() if i == name]
    if not mine:
        raise InvalidArgument(
            f"advertise address must be a non-zero IP address or network interface "
            f"(with optional port number): {name} is neither"
        )
    return choose(mine)
