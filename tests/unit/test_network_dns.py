"""The embedded DNS server's answers, and forwarding to an upstream (a fake one on loopback)."""

from __future__ import annotations

import asyncio
import socket

import dnslib

from wharfie.network import dns

NAMES = {("asker", "db"): ["10.0.0.5"], ("asker", "web"): ["10.0.0.6", "10.0.1.6"]}


def lookup(asker: str, name: str) -> list[str] | None:
    return NAMES.get((asker, name))


def _query(name: str, qtype: str = "A") -> bytes:
    return bytes(dnslib.DNSRecord.question(name, qtype).pack())


def test_known_names_get_their_addresses() -> None:
    reply = dnslib.DNSRecord.parse(dns.answer(_query("web."), "asker", lookup) or b"")
    assert sorted(str(rr.rdata) for rr in reply.rr) == ["10.0.0.6", "10.0.1.6"]
    assert reply.header.aa == 0 and reply.header.rcode == dnslib.RCODE.NOERROR
    upper = dnslib.DNSRecord.parse(dns.answer(_query("DB"), "asker", lookup) or b"")
    assert [str(rr.rdata) for rr in upper.rr] == ["10.0.0.5"]


def test_aaaa_of_a_known_name_is_empty_and_unknown_names_are_forwarded() -> None:
    reply = dnslib.DNSRecord.parse(dns.answer(_query("db", "AAAA"), "asker", lookup) or b"")
    assert reply.rr == [] and reply.header.rcode == dnslib.RCODE.NOERROR
    assert dns.answer(_query("db"), "someone-else", lookup) is None
    assert dns.answer(_query("example.org"), "asker", lookup) is None
    assert dns.answer(_query("db", "MX"), "asker", lookup) is None
    assert dns.answer(b"garbage", "asker", lookup) is None


def test_upstreams_of_resolv_conf() -> None:
    text = "search x\nnameserver 10.1.1.1\nnameserver ::1\nnameserver 127.0.0.53\n"
    assert dns.upstreams_of(text) == [("10.1.1.1", 53), ("127.0.0.53", 53)]


def test_forwarding_to_a_fake_upstream_and_servfail_without_one() -> None:
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.bind(("127.0.0.1", 0))
    upstream.settimeout(5)
    addr = upstream.getsockname()

    def serve_one() -> None:
        data, peer = upstream.recvfrom(512)
        req = dnslib.DNSRecord.parse(data)
        reply = req.reply()
        reply.add_answer(dnslib.RR(req.q.qname, rdata=dnslib.A("192.0.2.7")))
        upstream.sendto(bytes(reply.pack()), peer)

    async def main() -> tuple[bytes | None, bytes | None]:
        server = asyncio.get_running_loop().run_in_executor(None, serve_one)
        forwarded = await dns.Resolver(lookup, [addr]).resolve(_query("example.org"), "asker")
        await server
        failed = await dns.Resolver(lookup, []).resolve(_query("example.org"), "asker")
        return forwarded, failed

    try:
        forwarded, failed = asyncio.run(main())
    finally:
        upstream.close()
    assert [str(rr.rdata) for rr in dnslib.DNSRecord.parse(forwarded or b"").rr] == ["192.0.2.7"]
    assert dnslib.DNSRecord.parse(failed or b"").header.rcode == dnslib.RCODE.SERVFAIL


def reverse(asker: str, ip: str) -> list[str] | None:
    return ["db.app"] if (asker, ip) == ("asker", "10.0.0.5") else None


def test_ptr_of_a_container_address() -> None:
    q = _query("5.0.0.10.in-addr.arpa", "PTR")
    reply = dnslib.DNSRecord.parse(dns.answer(q, "asker", lookup, reverse) or b"")
    assert [str(rr.rdata) for rr in reply.rr] == ["db.app."]
    assert dns.answer(_query("6.0.0.10.in-addr.arpa", "PTR"), "asker", lookup, reverse) is None
    assert dns.answer(q, "asker", lookup) is None  # without a reverse map: forwarded


def test_a_containers_own_dns_servers_come_first() -> None:
    asked: list[str] = []

    def own(asker: str) -> list[tuple[str, int]] | None:
        asked.append(asker)
        return [("127.0.0.1", 9)]  # nothing listens: no answer, then SERVFAIL

    async def main() -> bytes | None:
        r = dns.Resolver(lookup, [], upstreams_for=own)
        return await r.resolve(_query("example.org"), "asker")

    reply = asyncio.run(main())
    assert asked == ["asker"]
    assert dnslib.DNSRecord.parse(reply or b"").header.rcode == dnslib.RCODE.SERVFAIL


def test_queries_over_tcp_are_forwarded_over_tcp() -> None:
    async def main() -> bytes | None:
        async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readexactly(2)
            data = await reader.readexactly(int.from_bytes(head, "big"))
            req = dnslib.DNSRecord.parse(data)
            reply = req.reply()
            reply.add_answer(dnslib.RR(req.q.qname, rdata=dnslib.A("192.0.2.9")))
            packed = bytes(reply.pack())
            writer.write(len(packed).to_bytes(2, "big") + packed)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(upstream, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            r = dns.Resolver(lookup, [("127.0.0.1", port)])
            return await r.resolve(_query("big.example.org"), "asker", tcp=True)

    reply = asyncio.run(main())
    assert [str(rr.rdata) for rr in dnslib.DNSRecord.parse(reply or b"").rr] == ["192.0.2.9"]
