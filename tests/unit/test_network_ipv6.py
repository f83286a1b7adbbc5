"""IPv6 pure parts: IPAM6, the MAC form of the default bridge, the ip6 table, AAAA answers,
the netlink address message."""

from __future__ import annotations

import pytest

from wharfie.errors import Conflict, InvalidArgument
from wharfie.network import _nlmsg as m
from wharfie.network import dns, nft
from wharfie.network.ipam import IPAM6, Forbidden


def test_ipam6_allocates_after_the_gateway() -> None:
    ipam = IPAM6("fd00:1::/64")
    assert ipam.gateway == "fd00:1::1" and ipam.prefix_len == 64
    assert ipam.allocate(set()) == "fd00:1::2"
    assert ipam.allocate({"fd00:1::2", "fd00:1::3"}) == "fd00:1::4"
    assert ipam.allocate(set(), "fd00:1::99") == "fd00:1::99"
    with pytest.raises(Conflict, match="Address already in use"):
        ipam.allocate({"fd00:1::99"}, "fd00:1:0::99")
    with pytest.raises(InvalidArgument, match="does not belong to any of this network"):
        ipam.allocate(set(), "fd00:2::5")
    with pytest.raises(InvalidArgument, match="does not belong"):
        ipam.allocate(set(), "fd00:1::1")  # the gateway


def test_ipam6_with_a_gateway() -> None:
    ipam = IPAM6("fd00:1::/64", "fd00:1::fe")
    assert ipam.allocate(set()) == "fd00:1::1"
    with pytest.raises(InvalidArgument):
        IPAM6("fd00:1::/64", "fd00:9::1")


def test_mac_form_needs_48_host_bits() -> None:
    assert IPAM6("fd00:77::/64").from_mac("02:42:0a:e5:4d:02") == "fd00:77::242:ae5:4d02"
    with pytest.raises(Forbidden, match="At least 48 host bits"):
        IPAM6("fd00:77::/96").from_mac("02:42:0a:e5:4d:02")


def test_ip6_table_mirrors_the_isolation() -> None:
    rs = nft.Ruleset([nft.NetRule("br-a", "10.0.0.0/24"), nft.NetRule("br-b", "10.0.1.0/24")])
    plain = nft.render("t", rs)
    assert "delete table ip6 t" in plain and "table ip6 t {\n" not in plain
    rs.ipv6 = True
    text = nft.render("t", rs)
    ip6 = text.split("table ip6 t {\n", 1)[1]
    assert 'iifname "br-a" oifname { "br-b" } drop' in ip6


def test_aaaa_answers_the_ipv6_addresses() -> None:
    import dnslib

    def lookup(asker: str, name: str) -> list[str] | None:
        return ["10.0.0.2", "fd00::2"] if name == "web" else None

    for qtype, want in (("A", ["10.0.0.2"]), ("AAAA", ["fd00::2"])):
        reply = dns.answer(bytes(dnslib.DNSRecord.question("web", qtype).pack()), "x", lookup)
        assert reply is not None
        assert [str(rr.rdata) for rr in dnslib.DNSRecord.parse(reply).rr] == want

    def v4only(asker: str, name: str) -> list[str] | None:
        return ["10.0.0.2"]

    reply = dns.answer(bytes(dnslib.DNSRecord.question("web", "AAAA").pack()), "x", v4only)
    assert reply is not None and dnslib.DNSRecord.parse(reply).rr == []


def test_ipv6_address_message() -> None:
    msg = m.ifaddrmsg(3, 64, m.RT_SCOPE_UNIVERSE, m.AF_INET6, m.IFA_F_NODAD)
    assert msg == bytes([10, 64, 2, 0]) + (3).to_bytes(4, "little")
    assert m.rtmsg_default(m.AF_INET6)[0] == 10 and m.rtmsg_default_v4()[0] == 2
