"""The overlay network driver on one node: a bridge with no address, a kernel VXLAN device
on it, and one veth pair per attached container (the bridge driver's).

The VXLAN device is made with `nolearning` and `proxy`: no multicast group, no learning from
flooded traffic. What it knows of the other nodes is programmed over netlink from the
cluster's endpoint records (`program`): for each remote endpoint, a forwarding entry (its MAC
behind the remote node's address, `bridge fdb ... dst`) and a neighbour entry (its IP at that
MAC, answered by the device itself for ARP). `program` diffs what the kernel holds against
what is wanted (`diff`, pure) and changes only the difference, so running connections are
never disturbed by a round that changes nothing for them.

The MTU of the bridge, the VXLAN device and the veths is the underlay's minus the 50 bytes of
VXLAN encapsulation (outer IPv4, UDP and VXLAN headers, inner Ethernet).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from wharfie.errors import FailedPrecondition, Unavailable
from wharfie.network import _nlmsg as m
from wharfie.network._rtnl import Netlink
from wharfie.network.bridge import Bridge, _error, _mac_bytes
from wharfie.network.ipam import mac_for_ip

VXLAN_OVERHEAD = 50
DEFAULT_PORT = 4789

RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
NDA_DST, NDA_LLADDR = 1, 2
NUD_NOARP, NUD_PERMANENT = 0x40, 0x80
NTF_SELF = 0x02
IFLA_VXLAN_ID, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LEARNING = 1, 4, 7
IFLA_VXLAN_PROXY, IFLA_VXLAN_PORT = 11, 15
_NDMSG = struct.Struct("=BBHiHBB")


@dataclass(frozen=True, order=True)
class Peer:
    """A remote endpoint: its overlay IP, its MAC, and the address of the node it is on."""

    ip: str
    mac: str
    vtep: str


def peer(ip: str, vtep: str) -> Peer:
    return Peer(ip, mac_for_ip(ip), vtep)


def diff(
    have_fdb: set[tuple[str, str]],
    have_neigh: set[tuple[str, str]],
    want: set[Peer],
) -> tuple[set[tuple[str, str]], set[tuple[str, str]], set[tuple[str, str]], set[tuple[str, str]]]:
    """(fdb to add, fdb to delete, neighbours to add, neighbours to delete): fdb entries are
    (mac, vtep), neighbours (ip, mac)."""
    want_fdb = {(p.mac, p.vtep) for p in want}
    want_neigh = {(p.ip, p.mac) for p in want}
    return (
        want_fdb - have_fdb,
        have_fdb - want_fdb,
        want_neigh - have_neigh,
        have_neigh - want_neigh,
    )


def names(vni: int) -> tuple[str, str]:
    """The bridge's and the VXLAN device's names for a VNI (at most 11 characters)."""
    return f"wov{vni}", f"wvx{vni}"


def stale(links: Iterable[str], keep: set[int]) -> list[str]:
    """The overlay devices among `links` (names) whose VNI is not in `keep`: VXLAN devices
    first, then the bridges they were on."""
    found: list[tuple[int, str]] = []
    for name in links:
        prefix, digits = name[:3], name[3:]
        if prefix in ("wvx", "wov") and digits.isdigit() and int(digits) not in keep:
            found.append((0 if prefix == "wvx" else 1, name))
    return [name for _, name in sorted(found)]


def sweep(keep: set[int]) -> list[str]:
    """Delete this namespace's overlay devices whose VNI is not in `keep` (left by an earlier
    run of the daemon, for a network this node no longer has); the names deleted."""
    nl = Netlink()
    try:
        gone = stale((link.name for link in nl.links()), keep)
        for name in gone:
            nl.delete_link(name)
    except OSError as e:
        raise _error(e, "remove stale overlay devices") from e
    finally:
        nl.close()
    return gone


class Overlay(Bridge):
    def __init__(
        self,
        network_id: str,
        network_name: str,
        subnet: str,
        gateway: str,
        vni: int,
        local: str,
        port: int = DEFAULT_PORT,
        underlay_mtu: int = 1500,
    ) -> None:
        bridge, vxlan = names(vni)
        super().__init__(
            bridge,
            subnet,
            network_id,
            gateway,
            network_name,
            user_defined=True,
            masquerade=False,
            mtu=underlay_mtu - VXLAN_OVERHEAD,
        )
        self.vni = vni
        self.vxlan = vxlan
        self.local = local
        self.port = port

    def __repr__(self) -> str:
        return f"Overlay({self.name!r}, vni={self.vni}, {self.subnet!r})"

    def ensure(self, masquerade: bool | None = None) -> None:
        """The bridge (no address: the subnet's routes stay in the containers) and the VXLAN
        device on it, both up; idempotent."""
        bridge = self._ensure_link()
        nl = self._netlink()
        try:
            if not bridge.up:
                nl.set_up(bridge.index, self.name)
            link = nl.get_link(self.vxlan)
            if link is not None and link.kind != "vxlan":
                raise FailedPrecondition(f"{self.vxlan} exists and is not a vxlan device")
            if link is None:
                self._create_vxlan(bridge.index)
                link = nl.get_link(self.vxlan)
            if link is None:
                raise Unavailable(f"vxlan device {self.vxlan} vanished while being created")
            if not link.up:
                nl.set_up(link.index, self.vxlan)
        except OSError as e:
            raise _error(e, f"set up overlay {self.name} (vni {self.vni})") from e

    def _create_vxlan(self, master: int) -> None:
        data = m.nested(
            m.IFLA_INFO_DATA,
            m.attr_u32(IFLA_VXLAN_ID, self.vni),
            m.attr(IFLA_VXLAN_LOCAL, socket.inet_aton(self.local)),
            m.attr(IFLA_VXLAN_LEARNING, b"\x00"),
            m.attr(IFLA_VXLAN_PROXY, b"\x01"),
            m.attr(IFLA_VXLAN_PORT, struct.pack("!H", self.port)),
        )
        body = (
            m.ifinfomsg(flags=m.IFF_UP, change=m.IFF_UP)
            + m.attr_str(m.IFLA_IFNAME, self.vxlan)
            + m.attr_u32(m.IFLA_MTU, self.mtu)
            + m.attr_u32(m.IFLA_MASTER, master)
            + m.nested(m.IFLA_LINKINFO, m.attr_str(m.IFLA_INFO_KIND, "vxlan"), data)
        )
        try:
            self._netlink().request(
                m.RTM_NEWLINK, m.NLM_F_CREATE | m.NLM_F_EXCL, body, f"create vxlan {self.vxlan}"
            )
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise

    def set_address(self, ip: str, prefix_len: int) -> None:
        """This node's own address on the network (ingress: the routing mesh's source)."""
        nl = self._netlink()
        try:
            link = nl.get_link(self.name)
            if link is None:
                raise FailedPrecondition(f"bridge {self.name} does not exist")
            bcast = str(ipaddress.IPv4Network(f"{ip}/{prefix_len}", strict=False).broadcast_address)
            nl.add_address(
                link.index, socket.inet_aton(ip), prefix_len, socket.inet_aton(bcast), self.name,
                replace=True,
            )  # fmt: skip
        except OSError as e:
            raise _error(e, f"address {ip} on {self.name}") from e

    def remove(self) -> None:
        """Delete the VXLAN device and the bridge (their entries go with them); idempotent."""
        self.remove_link(self.vxlan)
        self.remove_link(self.name)

    # -- remote endpoints ----------------------------------------------------------------

    def entries(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(fdb (mac, vtep), neighbours (ip, mac)) the kernel holds on the VXLAN device."""
        nl = self._netlink()
        link = nl.get_link(self.vxlan)
        if link is None:
            return set(), set()
        fdb: set[tuple[str, str]] = set()
        neigh: set[tuple[str, str]] = set()
        for family, found in ((m.AF_BRIDGE, fdb), (m.AF_INET, neigh)):
            body = _NDMSG.pack(family, 0, 0, link.index, 0, 0, 0)
            for payload in nl.request(RTM_GETNEIGH, m.NLM_F_DUMP, body, "list neighbours"):
                fam, _, _, index, state, _, _ = _NDMSG.unpack_from(payload, 0)
                if index != link.index or not state & NUD_PERMANENT:
                    continue
                attrs = m.parse_attrs(payload, _NDMSG.size)
                mac = attrs.get(NDA_LLADDR, b"")
                dst = attrs.get(NDA_DST, b"")
                if len(mac) != 6 or len(dst) != 4:
                    continue
                text_mac = ":".join(f"{b:02x}" for b in mac)
                if fam == m.AF_BRIDGE:
                    found.add((text_mac, socket.inet_ntoa(dst)))
                else:
                    found.add((socket.inet_ntoa(dst), text_mac))
        return fdb, neigh

    def program(self, want: set[Peer]) -> int:
        """Make the VXLAN device's entries exactly `want`; the number of changes."""
        nl = self._netlink()
        link = nl.get_link(self.vxlan)
        if link is None:
            raise FailedPrecondition(f"vxlan device {self.vxlan} does not exist")
        try:
            fdb, neigh = self.entries()
            add_fdb, del_fdb, add_neigh, del_neigh = diff(fdb, neigh, want)
            for ip, mac in del_neigh:
                self._neigh(RTM_DELNEIGH, 0, m.AF_INET, link.index, ip, mac)
            for mac, vtep in del_fdb:
                self._neigh(RTM_DELNEIGH, 0, m.AF_BRIDGE, link.index, vtep, mac)
            flags = m.NLM_F_CREATE | m.NLM_F_REPLACE
            for mac, vtep in add_fdb:
                self._neigh(RTM_NEWNEIGH, flags, m.AF_BRIDGE, link.index, vtep, mac)
            for ip, mac in add_neigh:
                self._neigh(RTM_NEWNEIGH, flags, m.AF_INET, link.index, ip, mac)
        except OSError as e:
            raise _error(e, f"program overlay {self.name} (vni {self.vni})") from e
        return len(add_fdb) + len(del_fdb) + len(add_neigh) + len(del_neigh)

    def _neigh(self, kind: int, flags: int, family: int, index: int, dst: str, mac: str) -> None:
        ntf = NTF_SELF if family == m.AF_BRIDGE else 0
        body = (
            _NDMSG.pack(family, 0, 0, index, NUD_PERMANENT | NUD_NOARP, ntf, 0)
            + m.attr(NDA_DST, socket.inet_aton(dst))
            + m.attr(NDA_LLADDR, _mac_bytes(mac))
        )
        what = "fdb" if family == m.AF_BRIDGE else "neighbour"
        try:
            self._netlink().request(kind, flags, body, f"{what} {mac} {dst} on {self.vxlan}")
        except OSError as e:
            if kind == RTM_DELNEIGH and e.errno == errno.ENOENT:
                return
            raise
