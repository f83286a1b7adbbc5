"""The VM's network: a tap in the container's network namespace, redirected to its eth0.

The engine makes the namespace and its interface (a veth on a bridge) as for any container.
The shim, inside that namespace, creates a tap for QEMU, takes eth0's address away from the
namespace (the guest owns it now: same IP, same MAC), and joins the two with tc `mirred`
redirects, both ways (as Kata's "tcfilter" model): every frame arriving on eth0 leaves on the
tap and the reverse, so published ports, user-defined networks and their firewall rules apply
unchanged. The namespace, and everything in it, is the engine's to delete.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
from dataclasses import dataclass

from wharfie.errors import Unavailable

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TAP = "wxtap0"


@dataclass(frozen=True)
class GuestNet:
    cidr: str  # address/prefix the guest takes
    gateway: str
    mac: str
    mtu: int

    def record(self) -> str:
        return f"net={self.cidr}|{self.gateway}"


def _ip(*args: str) -> str:
    try:
        out = subprocess.run(["ip", *args], capture_output=True, text=True, check=True)
    except subprocess.CalledProcessError as exc:
        raise Unavailable(f"wharfie-vm: ip {' '.join(args)}: {exc.stderr.strip()}") from exc
    return out.stdout


def _tc(*args: str) -> None:
    try:
        subprocess.run(["tc", *args], capture_output=True, text=True, check=True)
    except subprocess.CalledProcessError as exc:
        raise Unavailable(f"wharfie-vm: tc {' '.join(args)}: {exc.stderr.strip()}") from exc


def read_eth0() -> GuestNet | None:
    """eth0's IPv4 address, MAC and the default gateway, in the current namespace."""
    try:
        links = json.loads(_ip("-j", "addr", "show", "dev", "eth0"))
    except Unavailable:
        return None
    if not links:
        return None
    link = links[0]
    addrs = [a for a in link.get("addr_info", []) if a.get("family") == "inet"]
    if not addrs:
        return None
    routes = json.loads(_ip("-j", "route", "show", "default") or "[]")
    gw = str(routes[0].get("gateway", "")) if routes else ""
    return GuestNet(
        f"{addrs[0]['local']}/{addrs[0]['prefixlen']}",
        gw,
        str(link.get("address", "")),
        int(link.get("mtu", 1500)),
    )


def open_tap(name: str = TAP) -> int:
    """A tap device owned by this process (the fd goes to QEMU)."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def wire(net: GuestNet, tap: str = TAP) -> None:
    """Give eth0's address to the guest and redirect frames between eth0 and the tap."""
    _ip("link", "set", tap, "mtu", str(net.mtu), "up")
    _ip("addr", "flush", "dev", "eth0")
    for a, b in (("eth0", tap), (tap, "eth0")):
        _tc("qdisc", "add", "dev", a, "ingress")
        _tc(
            "filter", "add", "dev", a, "parent", "ffff:", "protocol", "all", "u32", "match",
            "u8", "0", "0", "action", "mirred", "egress", "redirect", "dev", b,
        )  # fmt: skip
