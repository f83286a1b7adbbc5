"""A NETLINK_ROUTE socket and the few rtnetlink requests the bridge driver makes.

A netlink socket acts in the network namespace it was created in, wherever it is used
from afterwards; `_netns.socket_in` makes one inside a container's namespace. Every
request asks for an ACK, so a failure comes back as an NLMSG_ERROR that is raised as
`NetlinkError` (an OSError) naming what was attempted. One socket is safe to share
between threads: a lock serialises each request with its replies.
"""

from __future__ import annotations

import os
import socket
import threading

from wharfie.network import _nlmsg as m

_SOL_NETLINK = 270
_NETLINK_CAP_ACK = 10
_NETLINK_EXT_ACK = 11
_RECV_SIZE = 1 << 16


class NetlinkError(OSError):
    """An rtnetlink request the kernel refused: errno plus "<what>: <strerror>"."""


class Netlink:
    def __init__(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
            )
        self._sock = sock
        self._seq = 0
        self._lock = threading.Lock()
        try:
            sock.setsockopt(_SOL_NETLINK, _NETLINK_EXT_ACK, 1)
            sock.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)
        except OSError:
            pass  # older kernels: plain errno without the kernel's message
        sock.bind((0, 0))

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, body: bytes, what: str) -> list[bytes]:
        """Send one request (ACK asked) and return the payloads of its replies."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            flags |= m.NLM_F_REQUEST | m.NLM_F_ACK
            self._sock.send(m.message(msg_type, flags, seq, body))
            return self._replies(seq, what)

    def _replies(self, seq: int, what: str) -> list[bytes]:
        out: list[bytes] = []
        while True:
            for msg_type, flags, got_seq, payload in m.split_messages(self._sock.recv(_RECV_SIZE)):
                if got_seq != seq:
                    continue  # a late reply to an abandoned request
                if msg_type == m.NLMSG_DONE:
                    return out
                if msg_type == m.NLMSG_ERROR:
                    err, text = m.parse_error(flags, payload)
                    if err:
                        detail = f"{os.strerror(err)} ({text})" if text else os.strerror(err)
                        raise NetlinkError(err, f"{what}: {detail}")
                    return out
                out.append(payload)

    # -- links -----------------------------------------------------------------------------

    def get_link(self, name: str) -> m.Link | None:
        body = m.ifinfomsg() + m.attr_str(m.IFLA_IFNAME, name)
        try:
            replies = self.request(m.RTM_GETLINK, 0, body, f"look up link {name}")
        except NetlinkError as e:
            if e.errno == 19:  # ENODEV
                return None
            raise
        return m.parse_link(replies[0])

    def links(self, master: int = 0) -> list[m.Link]:
        body = m.ifinfomsg()
        if master:
            body += m.attr_u32(m.IFLA_MASTER, master)  # the kernel filters the dump
        links = [
            m.parse_link(p) for p in self.request(m.RTM_GETLINK, m.NLM_F_DUMP, body, "list links")
        ]
        return [link for link in links if not master or link.master == master]

    def create_bridge(self, name: str, mac: bytes, mtu: int = 0) -> None:
        body = (
            m.ifinfomsg(flags=m.IFF_UP, change=m.IFF_UP)
            + m.attr_str(m.IFLA_IFNAME, name)
            + m.attr(m.IFLA_ADDRESS, mac)
            + (m.attr_u32(m.IFLA_MTU, mtu) if mtu else b"")
            + m.nested(m.IFLA_LINKINFO, m.attr_str(m.IFLA_INFO_KIND, "bridge"))
        )
        flags = m.NLM_F_CREATE | m.NLM_F_EXCL
        self.request(m.RTM_NEWLINK, flags, body, f"create bridge {name}")

    def create_veth(
        self, host: str, master: int, peer: str, peer_mac: bytes, netns_fd: int, mtu: int = 0
    ) -> None:
        """A veth pair: `host` enslaved to `master` and up here; `peer` (down, with its MAC)
        born directly in the namespace of `netns_fd`; both with `mtu` if given."""
        mtu_attr = m.attr_u32(m.IFLA_MTU, mtu) if mtu else b""
        peer_info = (
            m.ifinfomsg()  # not up yet: veth_open fails (ENOTCONN) before the pair is linked
            + m.attr_str(m.IFLA_IFNAME, peer)
            + m.attr(m.IFLA_ADDRESS, peer_mac)
            + m.attr_u32(m.IFLA_NET_NS_FD, netns_fd)
            + mtu_attr
        )
        linkinfo = m.nested(
            m.IFLA_LINKINFO,
            m.attr_str(m.IFLA_INFO_KIND, "veth"),
            m.nested(m.IFLA_INFO_DATA, m.attr(m.VETH_INFO_PEER, peer_info)),
        )
        body = (
            m.ifinfomsg(flags=m.IFF_UP, change=m.IFF_UP)
            + m.attr_str(m.IFLA_IFNAME, host)
            + m.attr_u32(m.IFLA_MASTER, master)
            + mtu_attr
            + linkinfo
        )
        self.request(m.RTM_NEWLINK, m.NLM_F_CREATE | m.NLM_F_EXCL, body, f"create veth {host}")

    def create_macvlan(
        self, name: str, parent: int, mac: bytes, netns_fd: int, mode: int = m.MACVLAN_MODE_BRIDGE
    ) -> None:
        """A macvlan link on the parent link `parent`, born in the namespace of `netns_fd`."""
        linkinfo = m.nested(
            m.IFLA_LINKINFO,
            m.attr_str(m.IFLA_INFO_KIND, "macvlan"),
            m.nested(m.IFLA_INFO_DATA, m.attr_u32(m.IFLA_MACVLAN_MODE, mode)),
        )
        body = (
            m.ifinfomsg()
            + m.attr_str(m.IFLA_IFNAME, name)
            + m.attr_u32(m.IFLA_LINK, parent)
            + m.attr(m.IFLA_ADDRESS, mac)
            + m.attr_u32(m.IFLA_NET_NS_FD, netns_fd)
            + linkinfo
        )
        self.request(m.RTM_NEWLINK, m.NLM_F_CREATE | m.NLM_F_EXCL, body, f"create macvlan {name}")

    def set_hairpin(self, index: int, what: str) -> None:
        """Hairpin mode on a bridge port (`bridge link set dev X hairpin on`): by netlink, not
        /sys/class/net, which shows the devices of the namespace sysfs was mounted in."""
        protinfo = m.nested(m.IFLA_PROTINFO | m.NLA_F_NESTED, m.attr(m.IFLA_BRPORT_MODE, b"\x01"))
        body = m.ifinfomsg(index, family=m.AF_BRIDGE) + protinfo
        self.request(m.RTM_SETLINK, 0, body, f"set hairpin on {what}")

    def set_up(self, index: int, what: str) -> None:
        body = m.ifinfomsg(index, flags=m.IFF_UP, change=m.IFF_UP)
        self.request(m.RTM_NEWLINK, 0, body, f"set {what} up")

    def delete_link(self, name: str) -> bool:
        """Delete a link by name; False if there was none."""
        body = m.ifinfomsg() + m.attr_str(m.IFLA_IFNAME, name)
        try:
            self.request(m.RTM_DELLINK, 0, body, f"delete link {name}")
        except NetlinkError as e:
            if e.errno == 19:  # ENODEV
                return False
            raise
        return True

    # -- addresses and routes ----------------------------------------------------------------

    def add_address(
        self, index: int, ip: bytes, prefix_len: int, broadcast: bytes, what: str, replace: bool
    ) -> None:
        """An IPv4 address (4 bytes, with its broadcast) or an IPv6 one (16 bytes, no DAD:
        usable at once; `broadcast` is ignored)."""
        if len(ip) == 16:
            scope = m.RT_SCOPE_LINK if ip[:2] == b"\xfe\x80" else m.RT_SCOPE_UNIVERSE
            body = (
                m.ifaddrmsg(index, prefix_len, scope, m.AF_INET6, m.IFA_F_NODAD)
                + m.attr(m.IFA_LOCAL, ip)
                + m.attr(m.IFA_ADDRESS, ip)
                + m.attr_u32(m.IFA_FLAGS, m.IFA_F_NODAD)
            )
        else:
            body = (
                m.ifaddrmsg(index, prefix_len)
                + m.attr(m.IFA_LOCAL, ip)
                + m.attr(m.IFA_ADDRESS, ip)
                + m.attr(m.IFA_BROADCAST, broadcast)
            )
        flags = m.NLM_F_CREATE | (m.NLM_F_REPLACE if replace else m.NLM_F_EXCL)
        self.request(m.RTM_NEWADDR, flags, body, f"add address to {what}")

    def add_default_route(self, index: int, gateway: bytes, what: str) -> None:
        family = m.AF_INET6 if len(gateway) == 16 else m.AF_INET
        body = (
            m.rtmsg_default(family) + m.attr(m.RTA_GATEWAY, gateway) + m.attr_u32(m.RTA_OIF, index)
        )
        flags = m.NLM_F_CREATE | m.NLM_F_EXCL
        self.request(m.RTM_NEWROUTE, flags, body, f"add default route via {what}")
