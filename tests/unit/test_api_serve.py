"""The API's connection handling (api/serve.py) in-process on a unix socket: slots,
eviction, refusal, idle and header timeouts, streams that end when the client goes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from wharfie.api.http import Request, Response, Router, Stream
from wharfie.api.serve import Server
from wharfie.httpcore.serving import Timeouts

PING = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"


def make_server(cap: int, header: float = 5.0, idle: float = 5.0) -> tuple[Server, list[str]]:
    ended: list[str] = []

    async def ping(req: Request) -> Response:
        return Response(200, b"pong")

    async def forever() -> AsyncIterator[bytes]:
        try:
            yield b"started\n"
            while True:
                await asyncio.sleep(10)
                yield b"tick\n"
        finally:
            ended.append("stream")

    async def stream(req: Request) -> Stream:
        return Stream(forever())

    router = Router()
    router.add("GET", "/ping", ping)
    router.add("GET", "/stream", stream)
    return Server(router, max_connections=cap, timeouts=Timeouts(header=header, idle=idle)), ended


async def start(server: Server, tmp_path: Path) -> str:
    path = str(tmp_path / f"s{os.getpid()}.sock")
    await asyncio.get_running_loop().create_unix_server(server.protocol, path)
    return path


async def ask(path: str, raw: bytes = PING) -> bytes:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(raw)
    try:
        return await asyncio.wait_for(reader.read(1 << 16), 3)
    finally:
        writer.close()


def test_idle_connections_make_room_and_busy_ones_refuse(tmp_path: Path) -> None:
    async def main() -> None:
        server, _ = make_server(cap=2)
        path = await start(server, tmp_path)
        idle = [await asyncio.open_unix_connection(path) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert (await ask(path)).startswith(b"HTTP/1.1 200 OK")  # took an idle one's slot
        assert server.slots.evicted == 1
        assert await asyncio.wait_for(idle[0][0].read(), 2) == b""  # the longest idle went
        streams = []
        for _ in range(2):
            r, w = await asyncio.open_unix_connection(path)
            w.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await r.readuntil(b"started\n")).startswith(b"HTTP/1.1 200 OK")
            streams.append((r, w))
        refused = await ask(path)
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable") and server.slots.refused
        for _, w in streams + idle:
            w.close()

    asyncio.run(main())


def test_a_stream_ends_when_its_client_goes(tmp_path: Path) -> None:
    async def main() -> None:
        server, ended = make_server(cap=1)
        path = await start(server, tmp_path)
        r, w = await asyncio.open_unix_connection(path)
        w.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        await r.readuntil(b"started\n")
        w.close()
        for _ in range(100):
            if ended and len(server.slots) == 0:
                break
            await asyncio.sleep(0.02)
        assert ended == ["stream"] and len(server.slots) == 0
        assert (await ask(path)).startswith(b"HTTP/1.1 200 OK")  # the only slot is free

    asyncio.run(main())


def test_idle_and_header_timeouts(tmp_path: Path) -> None:
    async def main() -> None:
        server, _ = make_server(cap=4, header=0.3, idle=0.4)
        path = await start(server, tmp_path)
        loop = asyncio.get_running_loop()
        r, w = await asyncio.open_unix_connection(path)
        started = loop.time()
        assert await asyncio.wait_for(r.read(), 3) == b""  # idle: swept
        assert 0.3 < loop.time() - started < 2.0
        r, w = await asyncio.open_unix_connection(path)
        w.write(b"GET /ping HTTP/1.1\r\n")
        started = loop.time()
        try:
            for _ in range(30):  # slowloris: a byte every 50 ms, never a whole head
                w.write(b"X")
                await asyncio.sleep(0.05)
                if r.at_eof() or r.exception() is not None:
                    break
            assert await asyncio.wait_for(r.read(), 3) == b""
        except ConnectionResetError:
            pass  # closed with our bytes unread: a reset is a close too
        assert loop.time() - started < 1.2
        w.close()

    asyncio.run(main())


def test_connection_close_pipelining_and_framing_errors(tmp_path: Path) -> None:
    async def main() -> None:
        server, _ = make_server(cap=4)
        path = await start(server, tmp_path)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(PING + b"GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n")
        out = await asyncio.wait_for(reader.read(), 3)  # to EOF: the server closes
        assert out.count(b"HTTP/1.1 200 OK") == 2 and out.endswith(b"pong")
        assert out.count(b"Connection: close") == 1
        writer.close()
        bad = await ask(
            path, b"GET /ping HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        )
        assert bad.startswith(b"HTTP/1.1 400 Bad Request") and b"Connection: close" in bad
        huge = await ask(path, b"GET /ping HTTP/1.1\r\nX: " + b"a" * (2 << 20) + b"\r\n\r\n")
        assert huge.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")

    asyncio.run(main())


def test_tls_listener(tmp_path: Path) -> None:
    """The same protocol behind asyncio's TLS transport (wharfied's tcp:// with --tls)."""
    import shutil
    import socket
    import ssl
    import subprocess

    import pytest

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )

    async def main() -> bytes:
        server, _ = make_server(cap=4)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        listener = await asyncio.get_running_loop().create_server(
            server.protocol, "127.0.0.1", 0, ssl=ctx
        )
        port = listener.sockets[0].getsockname()[1]

        def client() -> bytes:
            c = ssl.create_default_context(cafile=str(cert))
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            with c.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(PING + b"GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
                return data

        return await asyncio.to_thread(client)

    out = asyncio.run(main())
    assert out.count(b"HTTP/1.1 200 OK") == 2 and out.endswith(b"pong")


def test_a_request_built_by_hand_frames_its_body_from_its_headers() -> None:
    """Route tests may build a Request without a parsed head: its framing then comes
    from the headers given."""

    async def main() -> tuple[object, object]:
        reader = asyncio.StreamReader()
        reader.feed_data(b'3\r\n{"a\r\n5\r\n": 1}\r\n0\r\n\r\n')
        reader.feed_eof()
        chunked = Request("POST", "/x", {"transfer-encoding": "chunked"}, reader, None)  # type: ignore[arg-type]
        reader2 = asyncio.StreamReader()
        reader2.feed_data(b'{"b": 2}')
        reader2.feed_eof()
        plain = Request("POST", "/x", {"content-length": "8"}, reader2, None)  # type: ignore[arg-type]
        return await chunked.json(), await plain.json()

    assert asyncio.run(main()) == ({"a": 1}, {"b": 2})
