"""HTTP/1.1 over a raw socket, Docker Engine API flavoured.

One `Client` keeps one idle keep-alive connection. A streamed response or a
hijacked socket takes that connection over (it is never reused afterwards),
so a client can run a `wait` stream, an attach and a `start` side by side.
The API version is negotiated once (`HEAD /_ping`, header `Api-Version`,
capped at MAX_API_VERSION) and every later path gets the `/v1.NN` prefix.
"""

from __future__ import annotations

import _socket
import os

from wharfie.errors import InvalidArgument, NotImplementedFeature, Unavailable, WharfieError
from wharfie.httpcore import (
    LAST_CHUNK,
    NEED_CRLF,
    NEED_LINE,
    BodyDecoder,
    Head,
    HeadParser,
    ProtocolError,
    encode_chunk,
)
from wharfie.oci import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable, Iterator
    from typing import Any, Protocol

    class _Recv(Protocol):
        def recv(self, n: int, /) -> bytes: ...


DEFAULT_HOST = "unix:///run/wharfie/wharfie.sock"
MAX_API_VERSION = "1.44"
FALLBACK_API_VERSION = "1.24"
_BUF = 65536
_MAX_LINE = 256 * 1024  # a response head line (Go's server allows 1 MiB of head in all)
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class APIError(WharfieError):
    """The daemon answered with an error status; `message` is its {"message"}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def default_host() -> str:
    """WHARFIE_HOST, then DOCKER_HOST, then the wharfied default socket."""
    return os.environ.get("WHARFIE_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


class TLSConfig:
    """Docker's --tlsverify/--tlscacert/--tlscert/--tlskey (or DOCKER_CERT_PATH)."""

    __slots__ = ("ca", "cert", "key", "verify")

    def __init__(
        self,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        verify: bool = True,
    ) -> None:
        self.ca, self.cert, self.key, self.verify = ca, cert, key, verify

    @classmethod
    def from_env(cls) -> TLSConfig | None:
        """DOCKER_TLS_VERIFY (non-empty) and DOCKER_CERT_PATH (default ~/.docker)."""
        if not os.environ.get("DOCKER_TLS_VERIFY"):
            return None
        path = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
        return cls(f"{path}/ca.pem", f"{path}/cert.pem", f"{path}/key.pem", True)

    def context(self) -> ssl.SSLContext:
        import ssl

        ctx = ssl.create_default_context(cafile=self.ca)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key)
        return ctx


def quote(value: str) -> str:
    """Percent-encode everything but RFC 3986's unreserved characters."""
    data = value.encode()
    if all(b in _SAFE for b in data):
        return value
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in data)


def encode_query(query: dict[str, Any] | None) -> str:
    """None values are dropped, True/False become 1/0, lists repeat, dicts become JSON."""
    if not query:
        return ""
    parts = []
    for key, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool):
                v = "1" if v else "0"
            elif isinstance(v, dict):
                v = jsonio.dumps(v)
            parts.append(f"{quote(key)}={quote(str(v))}")
    return "?" + "&".join(parts) if parts else ""


class Reader:
    """Buffered reads over anything with recv()."""

    __slots__ = ("buf", "sock")

    def __init__(self, sock: _Recv, buf: bytes = b"") -> None:
        self.sock = sock
        self.buf = buf

    def _fill(self) -> bool:
        data = self.sock.recv(_BUF)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit: int = _MAX_LINE) -> bytes:
        """One line including b"\\n"; what is left at EOF (maybe b"")."""
        while True:
            i = self.buf.find(b"\n", 0, limit)
            if i >= 0:
                line, self.buf = self.buf[: i + 1], self.buf[i + 1 :]
                return line
            if len(self.buf) >= limit:
                raise Unavailable(f"the daemon sent a line longer than {limit} bytes")
            if not self._fill():
                line, self.buf = self.buf, b""
                return line

    def read_exact(self, n: int) -> bytes:
        if len(self.buf) < n:  # gather the pieces once: `buf +=` per recv is quadratic
            parts, have = [self.buf], len(self.buf)
            while have < n:
                data = self.sock.recv(min(max(n - have, _BUF), 1 << 20))
                if not data:
                    raise Unavailable(f"connection closed after {have} of {n} bytes")
                parts.append(data)
                have += len(data)
            self.buf = b"".join(parts)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_some(self, most: int = 1 << 62) -> bytes:
        """Up to `most` buffered bytes, or one recv; b"" at EOF."""
        if not self.buf and not self._fill():
            return b""
        if len(self.buf) > most:
            data, self.buf = self.buf[:most], self.buf[most:]
            return data
        data, self.buf = self.buf, b""
        return data

    def read_head(self, method: str) -> Head:
        """Status line and headers of the response to `method` (HTTP framing checked)."""
        parser = HeadParser(request=False, method=method)
        try:
            while True:
                line = self.readline()
                if not line.endswith(b"\n"):
                    if not parser.started:
                        raise Unavailable("the daemon closed the connection without answering")
                    raise Unavailable("the daemon closed the connection inside a response head")
                head = parser.line(line)
                if head is not None:
                    return head
        except ProtocolError as exc:
            raise Unavailable(f"malformed HTTP response from the daemon: {exc}") from None


def iter_chunked(reader: Reader) -> Iterator[bytes]:
    """Decode a Transfer-Encoding: chunked body (trailers are checked and skipped)."""
    return iter_body(reader, BodyDecoder(None, True))


def iter_body(reader: Reader, decoder: BodyDecoder) -> Iterator[bytes]:
    """A body as its framing says (Content-Length, chunked or up to EOF), checked."""
    try:
        while not decoder.done:
            want = decoder.want
            if want == NEED_LINE:
                line = reader.readline()
                if not line:
                    raise Unavailable("connection closed inside a chunked body")
                decoder.line(line)
            elif want == NEED_CRLF:
                decoder.crlf(reader.read_exact(2))
            else:
                data = reader.read_some(want)
                if not data:
                    decoder.eof()  # fine only for a body that runs until EOF
                    return
                decoder.data(len(data))
                yield data
    except ProtocolError as exc:
        raise Unavailable(f"malformed HTTP body from the daemon: {exc}") from None


class Response:
    """Status, headers and a body that is read on demand."""

    def __init__(self, head: Head, reader: Reader, sock: _socket.socket) -> None:
        self.status = head.status
        self.headers = head.headers
        self._reader = reader
        self._sock: _socket.socket | None = sock
        self._decoder = BodyDecoder.for_head(head)
        self._done = self._decoder.done
        self._body: bytes | None = None
        # a body that runs until EOF leaves nothing to reuse
        self.reusable = head.keep_alive and (head.length is not None or head.chunked)

    def iter_bytes(self) -> Iterator[bytes]:
        """The body piece by piece (chunked, Content-Length or up to EOF)."""
        if self._done:
            return
        try:
            yield from iter_body(self._reader, self._decoder)
        except BaseException:
            self.reusable = False
            raise
        finally:
            self._done = True

    def read(self) -> bytes:
        """The whole body (cached: a second call returns the same bytes)."""
        if self._body is None:
            self._body = b"".join(self.iter_bytes())
        return self._body

    def json(self) -> Any:
        data = self.read()
        return jsonio.loads(data) if data.strip() else None

    def iter_lines(self) -> Iterator[dict[str, Any]]:
        """A stream of JSON documents separated by newlines (events, pull progress)."""
        pending = b""
        for chunk in self.iter_bytes():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield jsonio.loads(line)
        if pending.strip():
            yield jsonio.loads(pending)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def detach(self) -> _socket.socket | None:
        """Hand the connection back (for keep-alive) once the body was read."""
        sock, self._sock = self._sock, None
        return sock if self._done and self.reusable else None

    def detach_raw(self) -> _socket.socket:
        """Take the socket over (after a 101); bytes already buffered stay in the reader."""
        sock, self._sock = self._sock, None
        if sock is None:
            raise Unavailable("the response's connection is already closed")
        return sock

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HijackedSocket:
    """The raw socket after a 101 upgrade, with bytes read past the headers kept."""

    def __init__(self, sock: _socket.socket, pending: bytes, headers: dict[str, str]) -> None:
        self.sock = sock
        self.pending = pending
        self.headers = headers

    def recv(self, n: int = _BUF) -> bytes:
        if self.pending:
            data, self.pending = self.pending[:n], self.pending[n:]
            return data
        return self.sock.recv(n)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close_write(self) -> None:
        """Half-close: the daemon sees stdin EOF, output keeps coming."""
        try:
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass  # already gone: nothing left to tell the daemon

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> HijackedSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrameSplitter:
    """Incremental multiplexed-frame parser: feed() bytes, get whole frames back."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self.buf + data if self.buf else data
        frames = []
        pos, n = 0, len(buf)
        while n - pos >= 8:
            size = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if n - pos < 8 + size:
                break
            frames.append((buf[pos], buf[pos + 8 : pos + 8 + size]))
            pos += 8 + size
        self.buf = buf[pos:]
        return frames


def demux(source: _Recv | Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Docker's multiplexed frames: (stream, payload); stream 1 stdout, 2 stderr, 3 error.

    `source` is a socket-like object (recv) or an iterable of byte pieces;
    frames may be split or merged arbitrarily. A truncated last frame raises.
    """
    pieces: Iterator[bytes]
    if hasattr(source, "recv"):
        recv = source.recv
        pieces = iter(lambda: recv(_BUF), b"")
    else:
        pieces = iter(source)
    splitter = FrameSplitter()
    for piece in pieces:
        yield from splitter.feed(piece)
    if splitter.buf:
        raise Unavailable(
            f"multiplexed stream ended inside a frame ({len(splitter.buf)} bytes left)"
        )


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in v.split("."))
    except ValueError:
        raise InvalidArgument(f"malformed API version {v!r}") from None


class Client:
    """A Docker Engine API client; see the module docstring."""

    def __init__(
        self,
        host: str | None = None,
        *,
        tls: TLSConfig | None = None,
        timeout: float | None = None,
        version: str | None = None,
    ) -> None:
        self.host = host or default_host()
        self.tls = tls if tls is not None else TLSConfig.from_env()
        self.timeout = timeout
        self.version = version or os.environ.get("DOCKER_API_VERSION") or None
        self.server_version: str | None = None
        self.ping_headers: dict[str, str] = {}
        self._idle: _socket.socket | None = None
        scheme, sep, rest = self.host.partition("://")
        if not sep:
            scheme, rest = "tcp", self.host
        self._scheme = scheme
        self._address = rest
        if scheme not in ("unix", "tcp", "http", "https"):
            raise NotImplementedFeature(
                f"unsupported daemon address {self.host!r} (unix:// or tcp://)"
            )

    # -- connections -------------------------------------------------------
    def connect(self) -> _socket.socket:
        """A new connection to the daemon."""
        try:
            if self._scheme == "unix":
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self._address)
                except BaseException:
                    sock.close()
                    raise
                return sock
            hostport = self._address.rstrip("/")
            h, _, p = hostport.rpartition(":")
            if not h:
                h, p = hostport, "2376" if self.tls else "2375"
            import socket  # TCP only: `socket` imports enum and selectors (~10 ms)

            sock = socket.create_connection((h.strip("[]"), int(p)), timeout=self.timeout)
            if self.tls is not None or self._scheme == "https":
                ctx = (self.tls or TLSConfig()).context()
                sock = ctx.wrap_socket(sock, server_hostname=h.strip("[]"))
            return sock
        except OSError as exc:
            raise Unavailable(
                f"Cannot connect to the Docker daemon at {self.host}. "
                f"Is the daemon running? ({exc})"
            ) from exc

    def close(self) -> None:
        if self._idle is not None:
            self._idle.close()
            self._idle = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- version -----------------------------------------------------------
    def ping(self) -> dict[str, str]:
        """HEAD /_ping (unversioned); returns the headers."""
        resp = self._roundtrip("HEAD", "/_ping", None, None, False)
        if resp.status not in (200, 500):
            resp.close()
            resp = self._roundtrip("GET", "/_ping", None, None, False)
            resp.read()
        self._release(resp)
        self.ping_headers = resp.headers
        return resp.headers

    def api_version(self) -> str:
        if self.version is None:
            server = self.ping().get("api-version") or FALLBACK_API_VERSION
            self.server_version = server
            best = min(_version_tuple(server), _version_tuple(MAX_API_VERSION))
            self.version = ".".join(str(p) for p in best)
        return self.version

    # -- requests ----------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: bytes | dict[str, Any] | list[Any] | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> Response:
        """Send a request under /v1.NN; raise APIError for status >= 400.

        Without `stream` the body is read before returning (and the
        connection kept); with `stream` the caller reads and closes it.
        """
        full = f"/v{self.api_version()}{path}{encode_query(query)}"
        resp = self._roundtrip(method, full, body, headers, False)
        if resp.status >= 400:
            raise self._error(resp, method, full)
        if not stream:
            resp.read()
            self._release(resp)
        return resp

    def request_each(
        self,
        method: str,
        paths: list[str],
        *,
        query: dict[str, Any] | None = None,
        limit: int = 50,
    ) -> list[APIError | None]:
        """The same body-less request on several paths at once, as docker's parallel
        operations (rm, stop, kill of many containers): one connection per path, up to
        `limit` in flight, all sent before any reply is read. Results come in the order
        of `paths`: None for a success, the APIError otherwise."""
        results: list[APIError | None] = []
        for i in range(0, len(paths), limit):
            results += self._fan_out(method, paths[i : i + limit], query)
        return results

    def _fan_out(
        self, method: str, paths: list[str], query: dict[str, Any] | None
    ) -> list[APIError | None]:
        version = self.api_version()
        sent: list[tuple[_socket.socket, str]] = []
        try:
            for path in paths:
                full = f"/v{version}{path}{encode_query(query)}"
                head, payload, _ = self._encode(method, full, None, None)
                sock = self.connect()
                sent.append((sock, full))
                sock.sendall(head + payload)
            return [self._collect(method, sock, full) for sock, full in sent]
        except OSError as exc:
            raise Unavailable(f"{method}: connection to {self.host} failed: {exc}") from exc
        finally:
            for sock, _ in sent:
                sock.close()

    def _collect(self, method: str, sock: _socket.socket, path: str) -> APIError | None:
        reader = Reader(sock)
        resp = Response(reader.read_head(method), reader, sock)
        if resp.status >= 400:
            return self._error(resp, method, path)
        resp.read()
        return None

    def get_json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, query=query).json()

    def post_json(
        self,
        path: str,
        body: dict[str, Any] | list[Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        return self.request("POST", path, query=query, body=body).json()

    def delete(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, query=query).json()

    def stream_lines(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: bytes | dict[str, Any] | list[Any] | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        resp = self.request(method, path, query=query, body=body, headers=headers, stream=True)
        try:
            yield from resp.iter_lines()
        finally:
            resp.close()

    def hijack(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | bytes | None = None,
    ) -> HijackedSocket:
        """Upgrade the connection to a raw stream (attach, exec start); needs a 101."""
        full = f"/v{self.api_version()}{path}{encode_query(query)}"
        hdrs = {"Connection": "Upgrade", "Upgrade": "tcp"}
        if body is None:
            hdrs["Content-Type"] = "text/plain"
        resp = self._roundtrip(method, full, body, hdrs, True)
        if resp.status >= 400:
            raise self._error(resp, method, full)
        sock = resp.detach_raw()
        if resp.status != 101:
            sock.close()
            raise Unavailable(f"unable to upgrade to tcp, received {resp.status}")
        return HijackedSocket(sock, resp._reader.buf, resp.headers)

    # -- internals ---------------------------------------------------------
    def _release(self, resp: Response) -> None:
        sock = resp.detach()
        if sock is not None:
            if self._idle is not None:
                self._idle.close()
            self._idle = sock

    def _error(self, resp: Response, method: str, path: str) -> APIError:
        try:
            data = resp.read()
        finally:
            resp.close()
        ctype = resp.headers.get("content-type", "")
        message = data.decode(errors="replace").strip()
        if ctype == "application/json" and data.strip():
            try:
                doc = jsonio.loads(data)
            except ValueError:
                doc = None
            if isinstance(doc, dict) and "message" in doc:
                message = str(doc["message"])
        if not message:
            message = (
                f"request returned {resp.status} for API route and version {method} {path}, "
                "check if the server supports the requested API version"
            )
        return APIError(resp.status, message)

    def _roundtrip(
        self,
        method: str,
        path: str,
        body: Any,
        headers: dict[str, str] | None,
        fresh: bool,
    ) -> Response:
        head, payload, chunks = self._encode(method, path, body, headers)
        # A streamed body cannot be replayed, so it never risks a stale keep-alive connection.
        sock = None if fresh or chunks is not None else self._idle
        if sock is not None:
            self._idle = None
            try:
                sock.sendall(head + payload)
                reader = Reader(sock)
                return Response(reader.read_head(method), reader, sock)
            except (OSError, Unavailable):
                pass  # the keep-alive connection went stale: retry once on a new one
            sock.close()
        sock = self.connect()
        try:
            sock.sendall(head + payload)
            if chunks is not None:
                for chunk in chunks:
                    if chunk:
                        sock.sendall(encode_chunk(chunk))
                sock.sendall(LAST_CHUNK)
            reader = Reader(sock)
            rhead = reader.read_head(method)
        except OSError as exc:
            sock.close()
            raise Unavailable(f"{method} {path}: connection to {self.host} failed: {exc}") from exc
        except BaseException:
            sock.close()
            raise
        return Response(rhead, reader, sock)

    def _encode(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None
    ) -> tuple[bytes, bytes, Iterable[bytes] | None]:
        hdrs = {"Host": "api.moby.localhost", "User-Agent": "wharfie-cli"}
        payload = b""
        chunks: Iterable[bytes] | None = None
        if isinstance(body, (dict, list)):
            payload = jsonio.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif isinstance(body, (bytes, bytearray, memoryview)):
            payload = bytes(body)
        elif body is not None:
            chunks = body
        if headers:
            hdrs.update(headers)
        if chunks is not None:
            hdrs["Transfer-Encoding"] = "chunked"
            hdrs.setdefault("Content-Type", "text/plain")
        elif payload or method in ("POST", "PUT"):
            hdrs["Content-Length"] = str(len(payload))
        lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in hdrs.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), payload, chunks
