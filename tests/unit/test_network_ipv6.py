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


def test_ipv6_ports_render_into_the_ip6_table() -> None:
    rs = nft.Ruleset(
        [nft.NetRule("br-a", "10.0.0.0/24")],
        [
            nft.PortRule("tcp", "", 8080, "10.0.0.2", 80, "br-a"),
            nft.PortRule("tcp", "::", 8080, "fd00::2", 80, "br-a"),
            nft.PortRule("tcp", "::1", 8081, "fd00::2", 80, "br-a"),
        ],
        ipv6=True,
    )
    ip4, ip6 = nft.render("t", rs).split("table ip6 t {\n", 1)
    assert "dnat to 10.0.0.2:80" in ip4 and "fd00" not in ip4
    assert "ip6 daddr ::1 return" in ip6  # relayed in userland
    assert (
        "tcp dport 8080 dnat to [fd00::2]:80" in ip6 and "8081" not in ip6.split("postrouting")[0]
    )
    assert 'oifname "br-a" ip6 saddr ::1 masquerade' in ip6


def test_relay_from_ipv6_loopback() -> None:
    import asyncio
    import socket

    from wharfie.network.ports import Binding, Reservations, ipv6_twins
    from wharfie.network.relay import PortRelay

    async def main() -> None:
        async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"echo:" + await r.readline())
            await w.drain()
            w.close()

        upstream = await asyncio.start_server(echo, "::1", 0)
        target = ("::1", upstream.sockets[0].getsockname()[1])
        held = Reservations()
        bound = held.reserve("c", [Binding("tcp", 80, "", 0)])
        assert ipv6_twins(bound) == [Binding("tcp", 80, "::", bound[0].host_port)]
        (b6,) = held.reserve("c", [Binding("tcp", 80, "::1", 0)])
        relay = PortRelay()
        relay.open("c", dict((b, s) for b, s in held.held("c"))[b6], target)
        r, w = await asyncio.open_connection("::1", b6.host_port)
        w.write(b"hi\n")
        assert await r.read() == b"echo:hi\n"
        w.close()
        relay.stop("c")
        held.release("c")
        with pytest.raises(OSError), socket.create_connection(("::1", b6.host_port), 1):
            pass
        upstream.close()

    asyncio.run(main())


def test_a_relayed_port_is_still_exclusive() -> None:
    import asyncio

    from wharfie.network.ports import Binding, PortAllocated, Reservations
    from wharfie.network.relay import PortRelay

    async def main() -> None:
        held = Reservations()
        (b,) = held.reserve("a", [Binding("tcp", 80, "::1", 0)])
        relay = PortRelay()
        relay.open("a", held.held("a")[0][1], ("::1", 9))
        with pytest.raises(PortAllocated, match="port is already allocated"):
            held.reserve("b", [Binding("tcp", 80, "::1", b.host_port)])
        relay.stop("a")
        held.release("a")

    asyncio.run(main())


def test_ptr_for_an_ipv6_address() -> None:
    import ipaddress

    import dnslib

    def reverse(asker: str, ip: str) -> list[str] | None:
        return ["web.net"] if ip == "fd00::2" else None

    def lookup(asker: str, name: str) -> list[str] | None:
        return None

    name = ipaddress.IPv6Address("fd00::2").reverse_pointer
    reply = dns.answer(bytes(dnslib.DNSRecord.question(name, "PTR").pack()), "x", lookup, reverse)
    assert reply is not None
    assert [str(rr.rdata) for rr in dnslib.DNSRecord.parse(reply).rr] == ["web.net."]
    bad = dns.answer(
        bytes(dnslib.DNSRecord.question("1.2.ip6.arpa", "PTR").pack()), "x", lookup, reverse
    )
    assert bad is None  # not ours: forwarded


def test_ipv6_host_address_of_an_ipv4_container_is_relayed_not_nat() -> None:
    from wharfie.network.ports import Binding, container_target, relayed

    rs = nft.Ruleset(
        [nft.NetRule("br-a", "10.0.0.0/24")],
        [
            nft.PortRule("tcp", "", 8080, "10.0.0.2", 80, "br-a"),
            nft.PortRule("tcp", "::", 8080, "10.0.0.2", 80, "br-a"),
            nft.PortRule("udp", "::1", 8082, "10.0.0.2", 81, "br-a"),
        ],
        ipv6=True,
    )
    ip4, ip6 = nft.render("t", rs).split("table ip6 t {\n", 1)
    assert "tcp dport 8080 dnat to 10.0.0.2:80" in ip4
    assert "ip daddr ::" not in ip4 and "8082" not in ip4 and "dnat" not in ip6
    assert (
        relayed("::", "10.0.0.2") and relayed("::1", "10.0.0.2") and relayed("fd00::1", "10.0.0.2")
    )
    assert relayed("::1", "fd00::2") and relayed("::", "fd00::2")
    assert not relayed("fd00::1", "fd00::2") and not relayed("", "10.0.0.2")
    assert not relayed("127.0.0.1", "10.0.0.2")
    assert container_target(Binding("tcp", 80, "::", 1), "10.0.0.2", "") == "10.0.0.2"
    assert container_target(Binding("tcp", 80, "::", 1), "10.0.0.2", "fd00::2") == "fd00::2"
    assert container_target(Binding("tcp", 80, "", 1), "10.0.0.2", "fd00::2") == "10.0.0.2"


def test_udp_relay_from_ipv6_to_an_ipv4_target() -> None:
    """A UDP port held on ::1 relays each client's datagrams to an IPv4 echo and the
    replies come back from the published port; stop() ends the flows."""
    import asyncio
    import socket

    from wharfie.network.ports import Binding, Reservations
    from wharfie.network.relay import PortRelay

    async def main() -> None:
        loop = asyncio.get_running_loop()

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.t = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                self.t.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]

        transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        target = ("127.0.0.1", transport.get_extra_info("sockname")[1])
        held = Reservations()
        (b,) = held.reserve("c", [Binding("udp", 81, "::1", 0)])
        relay = PortRelay()
        relay.open("c", held.held("c")[0][1], target)
        clients = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(2)]
        try:
            for i, cl in enumerate(clients):
                cl.setblocking(False)
                for n in range(2):
                    cl.sendto(f"{i}.{n}".encode(), ("::1", b.host_port))
                    data, src = await asyncio.wait_for(loop.sock_recvfrom(cl, 100), 5)
                    assert data == f"echo:{i}.{n}".encode() and src[1] == b.host_port
            assert relay.owners() == ["c"]
            relay.stop("c")
            assert relay.owners() == []
        finally:
            for cl in clients:
                cl.close()
            held.release("c")
            transport.close()

    asyncio.run(main())


def test_a_tcp_port_with_connections_in_time_wait_can_be_published() -> None:
    """As docker-proxy's listener (SO_REUSEADDR): the TIME_WAIT connections an earlier
    listener of the port left (docker-proxy's, a Go server's, a relayed port of ours: all
    with SO_REUSEADDR, which Linux asks of both) do not keep the port; two reservations of
    one port still clash, and so does another program."""
    import socket

    from wharfie.network.ports import Binding, PortAllocated, Reservations

    with socket.socket() as first:
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        first.bind(("127.0.0.1", 0))
        first.listen(1)
        port = first.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = first.accept()
        conn.close()  # the server side closes first: its end stays in TIME_WAIT
        client.close()
    held = Reservations()
    try:
        (b,) = held.reserve("a", [Binding("tcp", 80, "127.0.0.1", port)])
        assert b.host_port == port
        with pytest.raises(PortAllocated, match="port is already allocated"):
            held.reserve("b", [Binding("tcp", 80, "127.0.0.1", port)])
        with socket.socket() as other, pytest.raises(OSError):
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.bind(("127.0.0.1", port))
    finally:
        held.release("a")
