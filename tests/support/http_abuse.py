"""Raw HTTP abuse probes for the API and registry servers: malformed framing, smuggling
shapes, oversized heads, slow and idle clients. Each probe is bytes on a fresh socket;
`probe` returns what the server did (status, and whether it closed) within a timeout."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

# A request that reads a JSON body (so a bad body is seen by the peer too): creating a
# volume with a name unique per run; the tests remove it.
BODY_PATH = b"/volumes/create"


def _post(headers: bytes, body: bytes, path: bytes = BODY_PATH) -> bytes:
    return (
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + (headers + b"\r\n" + body)
    )


def framing_cases(volume: str) -> dict[str, bytes]:
    """Name -> raw request. Every one must be refused (4xx/5xx from the framing) and the
    connection closed; none may create `volume`."""
    doc = b'{"Name": "%s"}' % volume.encode()
    n = b"%x" % len(doc)
    cl = b"Content-Length: %d\r\n" % len(doc)
    chunked = b"Transfer-Encoding: chunked\r\n"
    return {
        "te-and-cl": _post(chunked + cl, n + b"\r\n" + doc + b"\r\n0\r\n\r\n"),
        "cl-conflict": _post(cl + b"Content-Length: 3\r\n", doc),
        "cl-list-conflict": _post(b"Content-Length: %d, 3\r\n" % len(doc), doc),
        "cl-negative": _post(b"Content-Length: -1\r\n", doc),
        "cl-plus": _post(b"Content-Length: +%d\r\n" % len(doc), doc),
        "cl-non-ascii-digit": _post("Content-Length: \u0661\r\n".encode(), doc),
        "cl-junk": _post(b"Content-Length: 12abc\r\n", doc),
        "chunk-underscore": _post(chunked, b"1_0\r\n" + doc + b"\r\n0\r\n\r\n"),
        "chunk-0x": _post(chunked, b"0x" + n + b"\r\n" + doc + b"\r\n0\r\n\r\n"),
        "chunk-junk": _post(chunked, n + b" junk\r\n" + doc + b"\r\n0\r\n\r\n"),
        "chunk-no-crlf": _post(chunked, n + b"\r\n" + doc + b"XX0\r\n\r\n"),
        "te-gzip": _post(
            b"Transfer-Encoding: gzip, chunked\r\n", n + b"\r\n" + doc + b"\r\n0\r\n\r\n"
        ),
        "obs-fold": _post(cl + b"X-A: 1\r\n folded\r\n", doc),
        "space-before-colon": _post(b"Content-Length : %d\r\n" % len(doc), doc),
        "nul-in-header": _post(cl + b"X-A: a\x00b\r\n", doc),
        "bad-request-line": b"POST  /volumes/create HTTP/1.1\r\n" + cl + b"\r\n" + doc,
        "bad-version": b"POST /volumes/create HTTP/1.x\r\n" + cl + b"\r\n" + doc,
        "not-http": b"HELLO THERE\r\n\r\n",
    }


def huge_header(size: int) -> bytes:
    return b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"


def many_headers(count: int) -> bytes:
    fields = b"".join(b"X-H%d: v\r\n" % i for i in range(count))
    return b"GET /_ping HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"


@dataclass
class Outcome:
    status: int | None  # None: closed without an answer
    closed: bool  # the server closed the connection after answering (or instead)
    seconds: float
    raw: bytes


def connect(address: str | tuple[str, int], timeout: float) -> socket.socket:
    if not isinstance(address, str):
        return socket.create_connection(address, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:  # a full listen backlog is EAGAIN on a unix socket: wait for room
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        try:
            s.connect(address)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def probe(address: str | tuple[str, int], raw: bytes, timeout: float = 10.0) -> Outcome:
    """Send `raw`, then read until the server closes or `timeout` passes."""
    started = time.monotonic()
    data = b""
    closed = False
    with connect(address, timeout) as s:
        try:
            s.sendall(raw)
        except OSError:
            pass  # the server may close while we still send (a refused huge head)
        deadline = started + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    status = int(data[9:12]) if data.startswith(b"HTTP/1.") and data[9:12].isdigit() else None
    return Outcome(status, closed, time.monotonic() - started, data)
