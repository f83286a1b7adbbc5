"""rtnetlink packing and parsing against known byte strings (pure, no root)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from wharfie.network import _nlmsg as m

# Replies this host's kernel (6.18) sent to RTM_NEWLINK of kind "nosuchkind", seq 7/8,
# with NETLINK_EXT_ACK: first with NETLINK_CAP_ACK (request not echoed), then without.
CAPPED_ERROR = bytes.fromhex(
    "3c00000002000003070000005c1d0000a1ffffff4000000010000506070000000000000018000100"
    "556e6b6e6f776e20646576696365207479706500"
)
UNCAPPED_ERROR = bytes.fromhex(
    "6c0000000200000208000000fd1caad0a1ffffff40000000100005060800000000000000000000000000"
    "00000000000000000000090003007774783000000000140012000f0001006e6f737563686b696e6400"
    "0018000100556e6b6e6f776e20646576696365207479706500"
)


def test_string_attribute_is_nul_terminated_and_padded() -> None:
    # length 4 + 5 = 9 (padding not counted), then 3 bytes of padding
    assert m.attr_str(m.IFLA_IFNAME, "eth0") == b"\x09\x00\x03\x00eth0\x00\x00\x00\x00"


def test_aligned_attribute_has_no_padding() -> None:
    assert m.attr_u32(m.IFLA_MASTER, 10) == b"\x08\x00\x0a\x00\x0a\x00\x00\x00"
    assert m.attr(m.IFLA_ADDRESS, b"\x02\x42\xac\x11\x00\x02") == (
        b"\x0a\x00\x01\x00\x02\x42\xac\x11\x00\x02\x00\x00"
    )


def test_nested_attribute_length_counts_padded_children() -> None:
    kind = m.attr_str(m.IFLA_INFO_KIND, "veth")  # 9 bytes + 3 padding
    outer = m.nested(m.IFLA_LINKINFO, kind)
    assert outer == b"\x10\x00\x12\x00" + b"\x09\x00\x01\x00veth\x00\x00\x00\x00"
    assert m.parse_attrs(m.parse_attrs(outer)[m.IFLA_LINKINFO]) == {m.IFLA_INFO_KIND: b"veth\0"}


def test_align() -> None:
    assert [m.align(n) for n in (0, 1, 3, 4, 5, 8, 9)] == [0, 4, 4, 4, 8, 8, 12]


def test_message_header_and_family_headers() -> None:
    body = m.ifinfomsg(index=5, flags=m.IFF_UP, change=m.IFF_UP)
    assert body == b"\x00\x00\x00\x00\x05\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00"
    msg = m.message(m.RTM_NEWLINK, m.NLM_F_REQUEST | m.NLM_F_ACK, 3, body)
    assert msg[:16] == b"\x20\x00\x00\x00\x10\x00\x05\x00\x03\x00\x00\x00\x00\x00\x00\x00"
    assert m.ifaddrmsg(7, 24) == b"\x02\x18\x00\x00\x07\x00\x00\x00"
    assert m.rtmsg_default_v4() == b"\x02\x00\x00\x00\xfe\x03\x00\x01\x00\x00\x00\x00"


def test_split_messages_round_trip_with_padding() -> None:
    first = m.message(m.RTM_NEWLINK, 0, 1, b"\x01\x02\x03")  # 19 bytes, padded to 20
    second = m.message(m.NLMSG_DONE, m.NLM_F_MULTI, 2, b"\0\0\0\0")
    data = first + b"\0" + second
    assert m.split_messages(data) == [
        (m.RTM_NEWLINK, 0, 1, b"\x01\x02\x03"),
        (m.NLMSG_DONE, m.NLM_F_MULTI, 2, b"\0\0\0\0"),
    ]


def test_malformed_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="malformed netlink message"):
        m.split_messages(b"\xff\x00\x00\x00" + b"\0" * 12)
    with pytest.raises(ValueError, match="malformed netlink attribute"):
        m.parse_attrs(b"\x40\x00\x01\x00abcd")


def test_parse_error_with_capped_extended_ack() -> None:
    [(msg_type, flags, seq, payload)] = m.split_messages(CAPPED_ERROR)
    assert (msg_type, seq) == (m.NLMSG_ERROR, 7)
    assert m.parse_error(flags, payload) == (95, "Unknown device type")  # EOPNOTSUPP


def test_parse_error_with_echoed_request() -> None:
    [(_, flags, seq, payload)] = m.split_messages(UNCAPPED_ERROR)
    assert seq == 8
    assert not flags & m.NLM_F_CAPPED
    assert m.parse_error(flags, payload) == (95, "Unknown device type")


def test_parse_error_ack() -> None:
    payload = b"\0\0\0\0" + m.message(m.RTM_NEWLINK, 5, 1, b"")
    assert m.parse_error(0x100, payload) == (0, "")


def test_parse_link() -> None:
    payload = (
        m.ifinfomsg(index=12, flags=m.IFF_UP | 0x1000)
        + m.attr_str(m.IFLA_IFNAME, "wh0123456789a")
        + m.attr_u32(m.IFLA_MTU, 1500)
        + m.attr_u32(m.IFLA_MASTER, 4)
        + m.nested(m.IFLA_LINKINFO | 0x8000, m.attr_str(m.IFLA_INFO_KIND, "veth"))  # NLA_F_NESTED
    )
    link = m.parse_link(payload)
    assert (link.index, link.name, link.kind, link.master, link.up) == (
        12, "wh0123456789a", "veth", 4, True,
    )  # fmt: skip
    bare = m.parse_link(m.ifinfomsg(index=1) + m.attr_str(m.IFLA_IFNAME, "lo"))
    assert (bare.kind, bare.master, bare.up) == ("", 0, False)


def _wharfie_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "wharfie":
                names = [f"wharfie.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("wharfie.")}
    return found


def test_network_imports_only_errors_and_syscalls() -> None:
    src = Path(__file__).resolve().parents[2] / "src" / "wharfie" / "network"
    wrong = {
        f"{f.name}: wharfie.{name}"
        for f in sorted(src.glob("*.py"))
        for name in _wharfie_imports(f) - {"errors", "syscalls", "network"}
    }
    assert not wrong
