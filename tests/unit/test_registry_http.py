"""The registry's HTTP layer over a socket pair: framing, chunked bodies, keep-alive, files."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharfie.registry.httpserver import Request, Response, serve_connection


def echo(req: Request) -> Response:
    """Answers with the method, path, query and the body it read."""
    if req.path == "/file":
        return Response(200).send_file(req.query["p"], int(req.query["o"]), int(req.query["n"]))
    if req.path == "/ignore-body":
        return Response(204)
    body = req.read_all(1 << 20)
    text = f"{req.method} {req.path} {sorted(req.query.items())} {len(body)} ".encode()
    return Response(200, text + body)


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    ours, theirs = socket.socketpair()
    t = threading.Thread(target=serve_connection, args=(ours, "test", echo), daemon=True)
    t.start()
    theirs.settimeout(10)
    yield theirs
    _readers.pop(theirs.fileno(), None)
    theirs.close()
    t.join(10)


_readers: dict[int, object] = {}


def read_reply(s: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """One reply, read through a buffered reader kept per socket (replies may arrive together)."""
    f = _readers.setdefault(s.fileno(), s.makefile("rb"))
    status = f.readline().decode().rstrip("\r\n")  # type: ignore[attr-defined]
    headers = {}
    while (line := f.readline().decode()) not in ("\r\n", ""):  # type: ignore[attr-defined]
        k, _, v = line.partition(":")
        headers[k.lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    return status, headers, f.read(length)  # type: ignore[attr-defined]


def test_keep_alive_and_content_length(peer: socket.socket) -> None:
    peer.sendall(b"POST /a%2Fb?x=1&y=2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    status, _, body = read_reply(peer)
    assert status == "HTTP/1.1 200 OK"
    assert body == b"POST /a/b [('x', '1'), ('y', '2')] 5 hello"
    peer.sendall(b"GET /again HTTP/1.1\r\n\r\n")
    assert read_reply(peer)[2] == b"GET /again [] 0 "


def test_chunked_body_with_extensions_and_trailers(peer: socket.socket) -> None:
    peer.sendall(
        b"PATCH /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    assert read_reply(peer)[2] == b"PATCH /c [] 13 abc0123456789"


def test_expect_100_continue(peer: socket.socket) -> None:
    peer.sendall(b"PUT /e HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert peer.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    peer.sendall(b"xyz")
    assert read_reply(peer)[2] == b"PUT /e [] 3 xyz"


def test_unread_small_body_is_drained_for_keep_alive(peer: socket.socket) -> None:
    peer.sendall(
        b"PUT /ignore-body HTTP/1.1\r\nContent-Length: 4\r\n\r\nskipGET /next HTTP/1.1\r\n\r\n"
    )
    status, headers, _ = read_reply(peer)
    assert status == "HTTP/1.1 204 No Content" and "connection" not in headers
    assert read_reply(peer)[2] == b"GET /next [] 0 "


def test_head_and_file_ranges(peer: socket.socket, tmp_path: Path) -> None:
    f = tmp_path / "blob"
    f.write_bytes(bytes(range(256)) * 1000)
    peer.sendall(f"GET /file?p={f}&o=1000&n=5000 HTTP/1.1\r\n\r\n".encode())
    _, headers, body = read_reply(peer)
    assert headers["content-length"] == "5000" and body == f.read_bytes()[1000:6000]
    peer.sendall(f"HEAD /file?p={f}&o=0&n=7 HTTP/1.1\r\n\r\n".encode())
    peer.sendall(b"GET /after HTTP/1.1\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := peer.recv(65536):
        data += chunk
    first, _, second = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 7" in first and second.startswith(b"HTTP/1.1 200 OK")
    assert second.endswith(b"GET /after [] 0 ") and b"Connection: close" in second


def test_bad_chunk_size_is_400(peer: socket.socket) -> None:
    peer.sendall(b"PATCH /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    data = b""
    while chunk := peer.recv(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.1 400 Bad Request")


def test_over_long_lines_are_431(peer: socket.socket) -> None:
    try:  # Go's limit, as the reference registry has it: 1 MiB of head
        peer.sendall(b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    except OSError:
        pass  # refused before all was sent
    data = b""
    while chunk := peer.recv(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")
