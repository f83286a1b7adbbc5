"""A small HTTP/1.1 server on asyncio streams, made for the Docker Engine API.

Why not a framework: the API needs exact control of a few things frameworks hide --
a 101 upgrade after which the socket is raw and handed to another process, a
client's half-close (shutdown of its write side) that must not end our writing,
response headers flushed before the body exists (`/wait`), and chunked request
bodies streamed to disk (import, cp). Everything else is plain keep-alive HTTP.

Handlers are `async def handler(req: Request, **path_params) -> Reply`, where a
reply is a `Response` (whole body), a `Stream` (chunked body from an async
iterator) or `HIJACKED` (the handler took the connection over with
`Request.upgrade`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from wharfie import errors
from wharfie.httpcore import (
    NEED_CRLF,
    NEED_LINE,
    REASONS,
    BodyDecoder,
    Head,
    HeadParser,
    Limits,
    ProtocolError,
)
from wharfie.oci import jsonio

log = logging.getLogger("wharfie.api")

LIMITS = Limits()
STREAM_LIMIT = LIMITS.max_line + 1  # the StreamReader's line limit (a head line must fit)
MAX_BODY = 16 * 1024 * 1024  # JSON bodies; big bodies are streamed with Request.chunks()
MAX_DISCARD = 1 << 20  # an unread body up to this is skipped to keep the connection
MAX_CONNECTIONS = 2048
BLOCK = 1 << 20

STATUS_TEXT = REASONS

ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.FailedPrecondition, 409),
    (errors.InvalidArgument, 400),
    (errors.NotImplementedFeature, 501),
    (errors.Unavailable, 503),
]


class HTTPError(Exception):
    """An error reply with an explicit status (for statuses outside the error categories)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Response:
    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        if content_type:
            self.headers["Content-Type"] = content_type


class Stream:
    """A chunked response whose body comes from an async iterator of bytes."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        content_type: str = "application/json",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.chunks = chunks
        self.status = status
        self.headers = {"Content-Type": content_type, **(headers or {})}


HIJACKED = object()
Reply = Response | Stream | object
Handler = Callable[..., Awaitable[Reply]]


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status, jsonio.dumps(obj).encode(), "application/json")


def error_body(message: str) -> bytes:
    return jsonio.dumps({"message": message}).encode()


def status_for(exc: BaseException) -> int:
    if isinstance(exc, (HTTPError, ProtocolError)):
        return exc.status
    for cls, status in ERROR_STATUS:
        if isinstance(exc, cls):
            return status
    return 500


class Request:
    def __init__(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: Head | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.reader = reader
        self.writer = writer
        self.head = head if head is not None else _head_of(method, target, headers)
        self._decoder = BodyDecoder.for_head(self.head, LIMITS)
        parts = urlsplit(target)
        self.raw_path = unquote(parts.path)
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.path = self.raw_path
        self.api_version = (1, 44)
        self.hijacked = False
        self._body_read = False
        self._body_done = False

    # Query values are read through api/decoding.py (arg, flag, number: Go's rules, the
    # first of repeated values wins); only lists are read here.
    def qlist(self, name: str) -> list[str]:
        return self.query.get(name, [])

    @property
    def wants_upgrade(self) -> bool:
        return self.head.upgrade

    @property
    def chunked(self) -> bool:
        return self.head.chunked

    async def chunks(self) -> AsyncIterator[bytes]:
        """The request body as it arrives (Content-Length or chunked), at most BLOCK bytes
        a piece: a huge chunk is streamed, never held whole."""
        self._body_read = True
        dec, reader = self._decoder, self.reader
        while not dec.done:
            want = dec.want
            if want == NEED_LINE:
                dec.line(await _read_line(reader, 400))
            elif want == NEED_CRLF:
                dec.crlf(await reader.readexactly(2))
            else:
                piece = await reader.read(min(want, BLOCK))
                if not piece:
                    raise ConnectionError("client closed the connection in the middle of the body")
                dec.data(len(piece))
                yield piece
        self._body_done = True

    async def body(self, limit: int = MAX_BODY) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for piece in self.chunks():
            size += len(piece)
            if size > limit:
                raise HTTPError(400, f"request body larger than {limit} bytes")
            parts.append(piece)
        return b"".join(parts)

    async def json(self, *, allow_empty: bool = True) -> Any:
        raw = await self.body()
        if not raw.strip():
            if allow_empty:
                return None
            raise errors.InvalidArgument("invalid JSON: the request body is empty")
        try:
            return jsonio.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.InvalidArgument(f"invalid JSON: {exc}") from None

    async def discard_body(self) -> bool:
        """Skip what the handler left unread of the body (up to MAX_DISCARD in all),
        before the answer goes out, as Go's server does: a client still sending (docker cp
        streaming a tar into a refused PUT) then reads the answer instead of a closed pipe.
        False: the connection cannot carry another request."""
        if self._body_done:
            return True
        if self.wants_upgrade:
            return True
        if self._decoder.done:
            return True
        if self.head.length is not None and self.head.length > MAX_DISCARD:
            return False
        async for _ in self.chunks():
            if self._decoder.received > MAX_DISCARD:
                return False
        return True

    async def upgrade(self, content_type: str) -> None:
        """Answer 101 (or 200 for a legacy client without Upgrade) and stop parsing HTTP.

        Reading is paused first, so no byte of the client's stream is consumed into our
        buffers: the socket can then be handed to another process as it is.
        """
        self.hijacked = True
        transport = self.writer.transport
        transport.pause_reading()  # type: ignore[attr-defined]  # a socket transport
        if self.wants_upgrade:
            head = (
                "HTTP/1.1 101 UPGRADED\r\n"
                f"Content-Type: {content_type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            )
        else:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
        self.writer.write((head + _common_headers() + "\r\n").encode())
        await self.flush()

    async def flush(self) -> None:
        """Wait until everything written has left our buffers (before a socket handover)."""
        await self.writer.drain()
        transport = self.writer.transport
        while transport.get_write_buffer_size() and not transport.is_closing():
            await asyncio.sleep(0.001)

    def socket_fd(self) -> int:
        sock = self.writer.get_extra_info("socket")
        return int(sock.fileno())


def _head_of(method: str, target: str, headers: dict[str, str]) -> Head:
    """The framing of a request built by hand (tests): parsed from its headers."""
    parser = HeadParser(request=True, limits=LIMITS)
    parser.line(f"{method} {target} HTTP/1.1\r\n".encode("latin-1"))
    for name, value in headers.items():
        parser.line(f"{name}: {value}\r\n".encode("latin-1"))
    head = parser.line(b"\r\n")
    assert head is not None
    return head


async def _read_line(reader: asyncio.StreamReader, too_long: int) -> bytes:
    """One line with its LF; b"" or a partial line at EOF. A line past the reader's
    limit (STREAM_LIMIT) is a ProtocolError with status `too_long`."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except asyncio.LimitOverrunError:
        raise ProtocolError(too_long, "line too long") from None


VERSION_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
API_VERSION = (1, 44)
MIN_API_VERSION = (1, 24)
SERVER_HEADER = "Docker/25.0.0-wharfie (linux)"


EXPERIMENTAL = False  # dockerd's --experimental (api.build sets it from the engine's config)


def _common_headers() -> str:
    return (
        f"Api-Version: {API_VERSION[0]}.{API_VERSION[1]}\r\nOstype: linux\r\n"
        f"Server: {SERVER_HEADER}\r\nDocker-Experimental: {str(EXPERIMENTAL).lower()}\r\n"
    )


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile("^" + pattern + "$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = False
        for m, rx, handler in self.routes:
            found = rx.match(path)
            if found is None:
                continue
            if m == method or (method == "HEAD" and m == "GET" and not self._has(path, "HEAD")):
                return handler, found.groupdict()
            allowed = True
        if allowed:
            raise HTTPError(405, "method not allowed")
        raise HTTPError(404, "page not found")

    def _has(self, path: str, method: str) -> bool:
        return any(m == method and rx.match(path) for m, rx, _ in self.routes)


def negotiate(req: Request) -> None:
    found = VERSION_PREFIX.match(req.raw_path)
    if not found:
        return
    version = (int(found.group(1)), int(found.group(2)))
    text = f"{version[0]}.{version[1]}"
    if version < MIN_API_VERSION:
        raise HTTPError(
            400,
            f"client version {text} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION[0]}.{MIN_API_VERSION[1]}, please upgrade your client to a "
            "newer version",
        )
    if version > API_VERSION:
        raise HTTPError(
            400,
            f"client version {text} is too new. Maximum supported API version is "
            f"{API_VERSION[0]}.{API_VERSION[1]}",
        )
    req.api_version = version
    req.path = found.group(3)
