"""Raw HTTP abuse of `wharfie registry`: smuggling shapes and bad chunking (400/501 and
close), a huge single chunk (streamed and capped), slowloris, an idle flood past the
connection cap (the accept loop never waits: clients are still served), and every slot
busy (503 at once, the distribution spec's UNAVAILABLE)."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ourregistry import OurRegistry

from support import http_abuse as ha
from wharfie.httpcore.serving import Timeouts
from wharfie.registry.httpserver import Request, Response, Server


def addr(reg: OurRegistry) -> tuple[str, int]:
    return ("127.0.0.1", reg.port)


def get_v2(reg: OurRegistry, timeout: float = 5) -> ha.Outcome:
    return ha.probe(
        addr(reg), b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout
    )


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_framing_abuse_is_refused_and_closed(shared_registry: OurRegistry) -> None:
    for name, raw in ha.framing_cases("unused").items():
        raw = raw.replace(ha.BODY_PATH, b"/v2/abuse/blobs/uploads/")
        out = ha.probe(addr(shared_registry), raw, timeout=5)
        assert out.status in (400, 501), (name, out.raw[:300])
        assert out.closed and out.seconds < 2, (name, out)
    assert get_v2(shared_registry).status == 200


def test_huge_headers_are_431(shared_registry: OurRegistry) -> None:
    out = ha.probe(addr(shared_registry), ha.huge_header(2 << 20).replace(b"/_ping", b"/v2/"))
    assert out.status == 431 and out.closed
    out = ha.probe(addr(shared_registry), ha.many_headers(20_000).replace(b"/_ping", b"/v2/"))
    assert out.status == 431 and out.closed
    assert get_v2(shared_registry).status == 200


def test_huge_manifest_chunk_is_streamed_and_capped(shared_registry: OurRegistry) -> None:
    assert shared_registry.proc is not None
    before = rss_kb(shared_registry.proc.pid)
    with socket.create_connection(addr(shared_registry), timeout=10) as s:
        s.sendall(
            b"PUT /v2/abuse/manifests/latest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n\r\n%x\r\n" % (256 << 20)
        )
        block, sent = b" " * (1 << 20), 0
        try:
            while sent < (256 << 20):
                s.sendall(block)
                sent += len(block)
        except OSError:
            pass  # answered and closed mid-body
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            pass
    assert data.startswith(b"HTTP/1.1 413"), data[:300]
    assert b"MANIFEST_TOO_BIG" in data
    assert rss_kb(shared_registry.proc.pid) - before < 48 * 1024
    assert get_v2(shared_registry).status == 200


def test_idle_flood_past_the_cap_does_not_lock_clients_out(registry: OurRegistry) -> None:
    """The issue's lock-out: ~1,030 idle connections used to fill the cap (1024) and the
    accept loop then waited. Now the longest idle ones make room."""
    conns = []
    try:
        for _ in range(1100):
            conns.append(socket.create_connection(addr(registry), timeout=10))
        started = time.monotonic()
        out = get_v2(registry, timeout=5)
        assert out.status == 200 and time.monotonic() - started < 1.0
    finally:
        for s in conns:
            s.close()
    assert get_v2(registry).status == 200


@pytest.fixture
def small_server() -> Iterator[tuple[Server, threading.Event]]:
    """An in-process server with 3 slots, short timeouts and a handler that holds
    `/busy` requests until the event is set."""
    release = threading.Event()

    def handler(req: Request) -> Response:
        if req.path == "/busy":
            release.wait(20)
        if req.path == "/json":
            try:
                body = req.read_all(1 << 20)
            except ValueError:
                return Response(413, b"too big")
            return Response(200, b"%d" % len(body))
        return Response(200, b"ok")

    server = Server(
        "127.0.0.1", 0, handler, max_connections=3, timeouts=Timeouts(header=1.0, idle=3.0)
    )
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server, release
    finally:
        release.set()
        server.shutdown()
        t.join(10)


def test_every_slot_busy_gets_503_at_once(small_server: tuple[Server, threading.Event]) -> None:
    server, release = small_server
    where = ("127.0.0.1", server.port)
    busy = []
    for _ in range(3):
        s = socket.create_connection(where, timeout=10)
        s.sendall(b"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
        busy.append(s)
    deadline = time.monotonic() + 5
    while (len(server.slots) < 3 or server.slots.idle_count) and time.monotonic() < deadline:
        time.sleep(0.01)
    out = ha.probe(where, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
    assert out.status == 503 and out.closed and out.seconds < 1
    body = out.raw.partition(b"\r\n\r\n")[2]
    assert json.loads(body)["errors"][0]["code"] == "UNAVAILABLE"
    release.set()
    for s in busy:
        assert s.recv(100).startswith(b"HTTP/1.1 200")
        s.close()
    assert ha.probe(where, b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n").status == 200


def test_slowloris_and_idle_are_closed_in_time(
    small_server: tuple[Server, threading.Event],
) -> None:
    server, _ = small_server
    where = ("127.0.0.1", server.port)
    with socket.create_connection(where, timeout=10) as s:
        started = time.monotonic()
        s.sendall(b"GET /x HTTP/1.1\r\n")
        closed = False
        for _ in range(50):
            try:
                s.sendall(b"X")
            except OSError:
                closed = True
                break
            time.sleep(0.1)
            s.settimeout(0.01)
            try:
                if s.recv(100) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed and time.monotonic() - started < 1.0 + 1.5
    with socket.create_connection(where, timeout=10) as s:
        started = time.monotonic()
        assert s.recv(100) == b""
        assert 2.5 < time.monotonic() - started < 4.5


def test_body_limits_stream(small_server: tuple[Server, threading.Event]) -> None:
    server, _ = small_server
    where = ("127.0.0.1", server.port)
    doc = b"x" * 1000
    raw = (
        b"POST /json HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%s\r\n0\r\n\r\nGET /x HTTP/1.1\r\nConnection: close\r\n\r\n" % (len(doc), doc)
    )
    out = ha.probe(where, raw)
    assert out.raw.count(b"HTTP/1.1 200 OK") == 2 and out.raw.endswith(b"ok") and out.closed
