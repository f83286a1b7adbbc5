"""The API client over a real unix socket, served by a scripted peer thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharfie.client import APIError, Client, FrameSplitter, demux
from wharfie.client.api import Reader, encode_query, iter_chunked
from wharfie.errors import Unavailable


class Pieces:
    """recv() returning the given pieces one by one (arbitrary splits)."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)

    def recv(self, n: int) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def test_chunked_decoding_over_split_reads() -> None:
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    pieces = [body[i : i + 3] for i in range(0, len(body), 3)]
    reader = Reader(Pieces(*pieces))
    assert b"".join(iter_chunked(reader)) == b"hello world"
    assert reader.read_some() + reader.read_some() == b"NEXT"


def test_chunked_truncated_raises() -> None:
    with pytest.raises(Unavailable):
        list(iter_chunked(Reader(Pieces(b"5\r\nhel"))))


def test_malformed_responses_are_unavailable() -> None:
    """The client frames responses with the shared core: what smuggling relies on is an
    error, not a guess."""
    from wharfie.client.api import Response as Resp

    bad_heads = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
    ]
    for raw in bad_heads:
        with pytest.raises(Unavailable):
            Reader(Pieces(raw)).read_head("GET")
    reader = Reader(Pieces(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n"))
    resp = Resp(reader.read_head("GET"), reader, None)  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        resp.read()
    assert not resp.reusable


def test_demux_split_and_merged_frames() -> None:
    data = frame(1, b"out") + frame(2, b"err") + frame(1, b"") + frame(1, b"x" * 70000)
    for step in (1, 5, 9, len(data)):
        pieces = [data[i : i + step] for i in range(0, len(data), step)]
        frames = list(demux(pieces))
        assert frames == [(1, b"out"), (2, b"err"), (1, b""), (1, b"x" * 70000)]
    assert list(demux(Pieces(frame(3, b"boom")))) == [(3, b"boom")]
    with pytest.raises(Unavailable):
        list(demux([frame(1, b"abc")[:-1]]))
    splitter = FrameSplitter()
    assert splitter.feed(frame(1, b"ab")[:5]) == []
    assert splitter.feed(frame(1, b"ab")[5:]) == [(1, b"ab")]


def test_encode_query() -> None:
    q = encode_query({"all": True, "x": None, "filters": {"label": {"a=b": True}}, "n": [1, 2]})
    assert q == "?all=1&filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D&n=1&n=2"


class Server:
    """Accepts connections on a unix socket; answers each request from a script."""

    def __init__(self, path: Path, replies: list[bytes]) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.replies = replies
        self.requests: list[bytes] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.replies:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while self.replies:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while len(buf) < length:
                    buf += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buf[:length])
                buf = buf[length:]
                reply = self.replies.pop(0)
                conn.sendall(reply)
                if b"101 UPGRADED" in reply:
                    conn.sendall(frame(1, b"hi"))
                    conn.shutdown(socket.SHUT_WR)
                    conn.recv(100)
                    return


PING = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 0\r\n\r\n"


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "d.sock"


def test_negotiation_keepalive_and_json(sock_path: Path) -> None:
    srv = Server(
        sock_path,
        [
            PING,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"
            b'[{"a":1}]',
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'4\r\n{"b"\r\n3\r\n:2}\r\n0\r\n\r\n',
        ],
    )
    with Client(f"unix://{sock_path}") as c:
        assert c.get_json("/containers/json", {"all": True}) == [{"a": 1}]
        assert c.version == "1.41"
        assert c.post_json("/x", {"k": "v"}) == {"b": 2}
    assert srv.connections == 1
    assert srv.requests[0].startswith(b"HEAD /_ping HTTP/1.1")
    assert srv.requests[1].startswith(b"GET /v1.41/containers/json?all=1 HTTP/1.1")
    assert srv.requests[2].endswith(b'{"k":"v"}')


def test_api_version_capped(sock_path: Path) -> None:
    Server(sock_path, [b"HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nContent-Length: 0\r\n\r\n"])
    assert Client(f"unix://{sock_path}").api_version() == "1.44"


def test_error_message_from_json_body(sock_path: Path) -> None:
    body = b'{"message":"No such container: x"}'
    Server(
        sock_path,
        [
            PING,
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
        ],
    )
    with pytest.raises(APIError) as exc:
        Client(f"unix://{sock_path}").get_json("/containers/x/json")
    assert exc.value.status == 404
    assert exc.value.message == "No such container: x"


def test_hijack_keeps_bytes_read_past_headers(sock_path: Path) -> None:
    srv = Server(
        sock_path,
        [
            PING,
            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        ],
    )
    c = Client(f"unix://{sock_path}")
    with c.hijack("POST", "/containers/x/attach", query={"stream": True}) as s:
        assert list(demux(s)) == [(1, b"hi")]
        s.close_write()
    assert b"Upgrade: tcp" in srv.requests[1]


def test_hijack_requires_101(sock_path: Path) -> None:
    Server(sock_path, [PING, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    with pytest.raises(Unavailable, match="unable to upgrade to tcp, received 200"):
        Client(f"unix://{sock_path}").hijack("POST", "/containers/x/attach")


def test_stream_lines(sock_path: Path) -> None:
    Server(
        sock_path,
        [
            PING,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'6\r\n{"a":1\r\n4\r\n}\n{"\r\n6\r\nb":2}\n\r\n0\r\n\r\n',
        ],
    )
    assert list(Client(f"unix://{sock_path}").stream_lines("GET", "/events")) == [
        {"a": 1},
        {"b": 2},
    ]


def test_no_daemon_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="Cannot connect"):
        Client(f"unix://{tmp_path}/none.sock").api_version()
