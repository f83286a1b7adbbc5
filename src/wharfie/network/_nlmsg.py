"""rtnetlink message packing and parsing (pure: bytes in, bytes out).

A netlink message is a 16-byte `nlmsghdr` (length, type, flags, sequence, port id), a
family header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`) and attributes. An attribute
(`rtattr`) is a 4-byte header (length, type) and a payload padded to 4 bytes; the length
counts the header and the payload but not the padding. Nested attributes are attributes
whose payload is itself a run of attributes. Constants are those of
<linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>, <linux/veth.h>.
"""

from __future__ import annotations

import struct

# nlmsghdr types and flags
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # in an NLMSG_ERROR: the request is not echoed back
NLM_F_ACK_TLVS = 0x200  # in an NLMSG_ERROR: extended-ack attributes follow
NLMSGERR_ATTR_MSG = 1

# rtnetlink message types
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_NEWROUTE = 24

# link attributes
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_PROTINFO = 12
IFLA_BRPORT_MODE = 4  # in IFLA_PROTINFO of AF_BRIDGE: hairpin
NLA_F_NESTED = 0x8000
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFLA_MACVLAN_MODE = 1
MACVLAN_MODE_BRIDGE = 4
IFF_UP = 0x1

# address attributes
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_BROADCAST = 4

# route attributes and values
RTA_GATEWAY = 5
RTA_OIF = 4
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1

AF_UNSPEC = 0
AF_BRIDGE = 7
AF_INET = 2
AF_INET6 = 10
IFA_FLAGS = 8
IFA_F_NODAD = 0x02  # no duplicate address detection: usable at once, as Docker's
RT_SCOPE_LINK = 253

_HDR = struct.Struct("=IHHII")  # nlmsghdr
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg
_RTA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_ERR = struct.Struct("=i")

Attrs = dict[int, bytes]


def align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to a 4-byte boundary."""
    size = _RTA.size + len(payload)
    return _RTA.pack(size, kind) + payload + b"\0" * (align(size) - size)


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value))


def attr_str(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def nested(kind: int, *children: bytes) -> bytes:
    return attr(kind, b"".join(children))


def ifinfomsg(index: int = 0, flags: int = 0, change: int = 0, family: int = AF_UNSPEC) -> bytes:
    return _IFINFO.pack(family, 0, index, flags, change)


def ifaddrmsg(
    index: int,
    prefix_len: int,
    scope: int = RT_SCOPE_UNIVERSE,
    family: int = AF_INET,
    flags: int = 0,
) -> bytes:
    return _IFADDR.pack(family, prefix_len, flags, scope, index)


def rtmsg_default_v4() -> bytes:
    """An rtmsg for 0.0.0.0/0 in the main table."""
    return rtmsg_default(AF_INET)


def rtmsg_default(family: int) -> bytes:
    """An rtmsg for the default route (0.0.0.0/0 or ::/0) in the main table."""
    return _RTMSG.pack(
        family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
    )


def message(msg_type: int, flags: int, seq: int, body: bytes) -> bytes:
    return _HDR.pack(_HDR.size + len(body), msg_type, flags, seq, 0) + body


def split_messages(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, seq, payload) of each message in a datagram."""
    out = []
    pos = 0
    while pos + _HDR.size <= len(data):
        length, msg_type, flags, seq, _ = _HDR.unpack_from(data, pos)
        if length < _HDR.size or pos + length > len(data):
            raise ValueError(f"malformed netlink message at offset {pos} (length {length})")
        out.append((msg_type, flags, seq, data[pos + _HDR.size : pos + length]))
        pos += align(length)
    return out


def parse_attrs(data: bytes, offset: int = 0) -> Attrs:
    """Attributes from `offset` on, by type (the NLA_F_* bits masked off; last one wins)."""
    found: Attrs = {}
    pos = offset
    while pos + _RTA.size <= len(data):
        size, kind = _RTA.unpack_from(data, pos)
        if size < _RTA.size or pos + size > len(data):
            raise ValueError(f"malformed netlink attribute at offset {pos} (length {size})")
        found[kind & 0x3FFF] = data[pos + _RTA.size : pos + size]
        pos += align(size)
    return found


def parse_error(flags: int, payload: bytes) -> tuple[int, str]:
    """(errno, extended-ack message) of an NLMSG_ERROR payload; errno 0 is an ACK."""
    (code,) = _ERR.unpack_from(payload, 0)
    text = ""
    if flags & NLM_F_ACK_TLVS and code:
        offset = 4 + _HDR.size  # the error code, then the request's header
        if not flags & NLM_F_CAPPED:
            offset = 4 + _HDR.unpack_from(payload, 4)[0]
        raw = parse_attrs(payload, align(offset)).get(NLMSGERR_ATTR_MSG, b"")
        text = raw.rstrip(b"\0").decode(errors="replace")
    return -code, text


class Link:
    """What RTM_GETLINK tells about one link."""

    __slots__ = ("index", "kind", "master", "name", "up")

    def __init__(self, index: int, name: str, kind: str, master: int, up: bool) -> None:
        self.index = index
        self.name = name
        self.kind = kind
        self.master = master
        self.up = up

    def __repr__(self) -> str:
        return f"Link({self.index}, {self.name!r}, kind={self.kind!r}, master={self.master})"


def parse_link(payload: bytes) -> Link:
    _, _, index, flags, _ = _IFINFO.unpack_from(payload, 0)
    attrs = parse_attrs(payload, _IFINFO.size)
    kind = b""
    if IFLA_LINKINFO in attrs:
        kind = parse_attrs(attrs[IFLA_LINKINFO]).get(IFLA_INFO_KIND, b"")
    master = _U32.unpack(attrs[IFLA_MASTER])[0] if IFLA_MASTER in attrs else 0
    return Link(
        index,
        attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(),
        kind.rstrip(b"\0").decode(),
        master,
        bool(flags & IFF_UP),
    )
