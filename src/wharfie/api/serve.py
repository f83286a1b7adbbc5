"""The API's connections: accept, cap, time out, read request heads, write replies.

`Server` serves a `Router` (api/http.py) on any number of listeners made with
`Server.protocol` as their factory. Framing and limits are `wharfie.httpcore`'s; see
docs/daemon.md ("wharfie.api") for what the transport guarantees.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from wharfie.api.http import (
    HIJACKED,
    LIMITS,
    MAX_CONNECTIONS,
    STATUS_TEXT,
    STREAM_LIMIT,
    Request,
    Response,
    Router,
    Stream,
    _common_headers,
    _read_line,
    error_body,
    negotiate,
    status_for,
)
from wharfie.httpcore import LAST_CHUNK, Head, HeadParser, ProtocolError, encode_chunk
from wharfie.httpcore.serving import ConnectionSlots, Timeouts

log = logging.getLogger("wharfie.api")

__all__ = ["Listener", "Server", "Timeouts"]

ACCEPT_BATCH = 64  # connections accepted per wake-up: bursts stay small (RSS high-water)
ACCEPT_PAUSE = 1.0  # seconds without accepting after an accept error (EMFILE), as asyncio


class Server:
    """Serves a Router on any number of listeners (unix or TCP/TLS).

    Every connection takes one of `max_connections` slots; past the cap the one idle
    longest (waiting for, or slowly sending, a request head) is closed for the
    newcomer, and only when all are busy is the newcomer refused with 503. A head must
    arrive whole within `timeouts.header` of its first byte; a connection may wait
    `timeouts.idle` for its next request (one sweep a second closes those idle longer).
    Listeners are made with `protocol` as their factory.
    """

    def __init__(
        self,
        router: Router,
        max_connections: int = MAX_CONNECTIONS,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.router = router
        self.timeouts = timeouts or Timeouts()
        self.connections: set[asyncio.Task[None]] = set()
        self.slots = ConnectionSlots(max_connections, _abort)
        self._sweeper: asyncio.TimerHandle | None = None

    def configure(self, max_connections: int, timeouts: Timeouts) -> None:
        """Set the limits before the first connection (the daemon's flags)."""
        self.slots = ConnectionSlots(max_connections, _abort)
        self.timeouts = timeouts

    def protocol(self) -> asyncio.Protocol:
        """The protocol factory for `loop.create_server` / `create_unix_server` (TLS
        listeners: asyncio does the handshake)."""
        return _Conn(self)

    def serve_socket(self, sock: socket.socket) -> Listener:
        """Serve a plain listening socket (unix or TCP) with our own accept loop."""
        return Listener(self, sock)

    def accepted(self, sock: socket.socket) -> None:
        """A connection of a `Listener`: until its first byte it is only this socket and
        a slot (no transport, task or stream objects: an idle flood costs little memory,
        and what it cost is given back when it ends)."""
        sock.setblocking(False)
        conn = _Conn(self, sock)
        if not self.slots.admit(conn):
            try:
                sock.send(_refusal(503, "too many connections: every one is busy"))
            except OSError:
                pass
            sock.close()
            return
        self.start_sweeping()
        asyncio.get_running_loop().add_reader(sock.fileno(), conn.first_bytes)

    def _sweep(self) -> None:
        for conn in self.slots.expired(self.timeouts.idle):
            self.slots.release(conn)
            _abort(conn)
        self._sweeper = None
        self.start_sweeping()

    def start_sweeping(self) -> None:
        if self._sweeper is None:
            delay = max(0.05, min(1.0, self.timeouts.idle / 4))
            self._sweeper = asyncio.get_running_loop().call_later(delay, self._sweep)

    async def handle(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: _Conn | None = None,
    ) -> None:
        """Serve one connection; `conn` is its slot, taken when it was accepted."""
        key: object = conn if conn is not None else writer
        if conn is None and not self.slots.admit(writer):
            writer.write(_refusal(503, "too many connections: every one is busy"))
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        try:
            await self._serve(reader, writer, key)
        except ProtocolError as exc:  # not HTTP we take: say so once, then close
            await _refuse(writer, exc.status, str(exc))
            await _linger(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away
        except TimeoutError:
            pass  # slow: closed without an answer, as Go's server does
        finally:
            self.slots.release(key)
            if task is not None:
                self.connections.discard(task)
            writer.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: object
    ) -> None:
        while True:
            self.slots.idle(key)
            head = await _read_head(reader, self.timeouts)
            if head is None:
                return
            self.slots.busy(key)
            req = Request(head.method, head.target, head.headers, reader, writer, head)
            keep = await self._one(req, key if isinstance(key, _Conn) else None)
            if req.hijacked:
                return
            if not keep:
                if not req._decoder.done:
                    await _linger(reader, writer)
                return

    async def _one(self, req: Request, conn: _Conn | None = None) -> bool:
        try:
            negotiate(req)
            handler, params = self.router.match(req.method, req.path)
            reply = await handler(req, **params)
        except Exception as exc:  # every error becomes Docker's {"message"} body
            if req.hijacked:
                await _hijacked_error(req, exc)
                return False
            status = status_for(exc)
            if status == 500:
                log.exception("%s %s failed", req.method, req.target)
            if isinstance(exc, ProtocolError):
                req.head.keep_alive = False  # the body's framing is broken
            reply = Response(status, error_body(str(exc) or type(exc).__name__), "application/json")
        if reply is HIJACKED or req.hijacked:
            return False
        if isinstance(reply, Stream):
            if conn is not None:
                conn.streaming = asyncio.current_task()  # ended if the client goes away
            try:
                await _write_stream(req, reply)
            except ProtocolError:
                return False  # the request body broke after the answer began: just close
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if conn is None or not conn.eof or task is None or task.uncancel():
                    raise  # not (only) ours: the daemon is stopping
                return False  # the client went away: the stream ended for it
            finally:
                if conn is not None:
                    conn.streaming = None
            return req.head.keep_alive and await _discard(req)
        assert isinstance(reply, Response)
        if req.head.keep_alive and not await _discard(req):
            req.head.keep_alive = False
        _write_response(req, reply)
        await req.writer.drain()
        return req.head.keep_alive


async def _discard(req: Request) -> bool:
    try:
        return await req.discard_body()
    except ProtocolError:
        return False


class Listener:
    """The accept loop of a plain listening socket: accepts in small batches, hands each
    connection to `Server.accepted`; an accept error (out of descriptors) is logged
    (rate-limited) and accepting pauses for a second instead of spinning."""

    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.closed = False
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._accept)

    @property
    def sockets(self) -> list[socket.socket]:
        return [self.sock]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()

    async def wait_closed(self) -> None:
        return None

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.error("accept failed on the API socket: %s (retrying in %.0fs)", exc, 1)
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(ACCEPT_PAUSE, self._resume)
                return
            self.server.accepted(conn)

    def _resume(self) -> None:
        if not self.closed:
            self.loop.add_reader(self.sock.fileno(), self._accept)


class _Conn(asyncio.Protocol):
    """A connection until its first byte: a slot and a socket (a Listener's) or a
    transport (asyncio's TLS listener), but no task and no stream objects yet, so a flood
    of idle connections costs little. The first bytes give it a StreamReaderProtocol and
    `Server.handle` serves it."""

    __slots__ = ("eof", "server", "sock", "streaming", "transport")

    def __init__(self, server: Server, sock: socket.socket | None = None) -> None:
        self.server = server
        self.sock = sock  # a Listener's connection, before its first byte
        self.transport: asyncio.Transport | None = None
        self.eof = False  # the client closed its side
        self.streaming: asyncio.Task[Any] | None = None  # the task writing a Stream reply

    def first_bytes(self) -> None:
        """A Listener's connection is readable: EOF ends it here; data gets it a
        transport and a stream reader (the bytes stay in the socket for them)."""
        sock = self.sock
        if sock is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock.fileno())
        try:
            head = sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            loop.add_reader(sock.fileno(), self.first_bytes)
            return
        except OSError:
            head = b""
        if not head:  # closed before it asked anything
            self.sock = None
            self.server.slots.release(self)
            sock.close()
            return
        self.sock = None
        reader = asyncio.StreamReader(limit=STREAM_LIMIT)
        server = self.server

        def connected(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> Awaitable[None]:
            return server.handle(r, w, self)

        proto = _StreamProtocol(reader, connected, self)
        # The selector loop's own constructor of an accepted connection's transport: no
        # task and no waiter, the request is read on the next turn of the loop. Another
        # loop (none is used here) goes through the public coroutine.
        make = getattr(loop, "_make_socket_transport", None)
        if make is not None:
            make(sock, proto)
            return
        task = loop.create_task(_open(loop, sock, proto, self))
        server.connections.add(task)
        task.add_done_callback(server.connections.discard)

    def client_eof(self) -> None:
        """The client closed its side (or the connection is gone): a Stream reply in
        progress has nobody to go to (Go's server cancels the request's context the
        same way), so it ends."""
        self.eof = True
        if self.streaming is not None and not self.streaming.done():
            self.streaming.cancel()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.server.slots.admit(self):
            transport.write(_refusal(503, "too many connections: every one is busy"))
            transport.close()
            return
        self.server.start_sweeping()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        reader = asyncio.StreamReader(limit=STREAM_LIMIT)
        server = self.server

        def connected(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> Awaitable[None]:
            return server.handle(r, w, self)

        proto = _StreamProtocol(reader, connected, self)
        self.transport.set_protocol(proto)
        proto.connection_made(self.transport)
        proto.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.slots.release(self)  # closed before it sent a byte


async def _open(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, proto: _StreamProtocol, conn: _Conn
) -> None:
    try:
        await loop.connect_accepted_socket(lambda: proto, sock)
    except OSError:
        conn.server.slots.release(conn)
        sock.close()


class _StreamProtocol(asyncio.StreamReaderProtocol):
    def __init__(
        self,
        reader: asyncio.StreamReader,
        connected: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        conn: _Conn,
    ) -> None:
        super().__init__(reader, connected)
        self._conn = conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            self._conn.transport = transport  # for _abort (evicted or idle too long)
        super().connection_made(transport)

    def eof_received(self) -> bool:
        self._conn.client_eof()
        return bool(super().eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self._conn.client_eof()  # reset, or closed with our data unread
        super().connection_lost(exc)


LINGER = 2.0


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The answer went out before the client finished sending its body: close our side
    and skip what still comes for a moment, so the client reads the answer instead of a
    reset (Go's server waits the same way before closing)."""
    try:
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER):
            while await reader.read(1 << 20):
                pass
    except (ConnectionError, TimeoutError, OSError):
        pass


def _abort(conn: object) -> None:
    """Close an idle connection (to make room, or idle too long): its task sees EOF."""
    if isinstance(conn, _Conn) and conn.sock is not None:  # a Listener's, never read
        sock, conn.sock = conn.sock, None
        asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()
        return
    transport = conn.transport if isinstance(conn, (_Conn, asyncio.StreamWriter)) else None
    if transport is not None:
        transport.abort()


def _refusal(status: int, message: str) -> bytes:
    """An error outside any request, as Go's server words it (then close)."""
    body = f"{status} {STATUS_TEXT.get(status, '')}: {message}".encode()
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
        % (status, STATUS_TEXT.get(status, "").encode(), len(body), body)
    )


async def _refuse(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    try:
        writer.write(_refusal(status, message))
        await asyncio.wait_for(writer.drain(), 5)
    except (ConnectionError, TimeoutError):
        pass  # nobody to tell


async def _hijacked_error(req: Request, exc: BaseException) -> None:
    status = status_for(exc)
    msg = (
        f"HTTP/1.1 {status} {STATUS_TEXT.get(status, '')}\r\n"
        f"Content-Type: application/json\r\n\r\n{error_body(str(exc)).decode()}\r\n"
    )
    try:
        req.writer.write(msg.encode())
        await req.writer.drain()
    except ConnectionError:
        pass  # nobody to tell


async def _read_head(reader: asyncio.StreamReader, timeouts: Timeouts) -> Head | None:
    """The next request head; None at a clean EOF between requests. The wait for its
    first byte is bounded by the idle sweep, the rest by the header timeout."""
    parser = HeadParser(request=True, limits=LIMITS)
    try:
        first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return None
    async with asyncio.timeout(timeouts.header):
        line = first if first == b"\n" else first + await _read_line(reader, 431)
        while True:
            if not line.endswith(b"\n"):
                if not line.strip() and not parser.started:
                    return None
                raise ConnectionError("client closed the connection inside a request head")
            head = parser.line(line)
            if head is not None:
                return head
            line = await _read_line(reader, 431)


def _head(req: Request, status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {STATUS_TEXT.get(status, 'Unknown')}\r\n", _common_headers()]
    if not req.head.keep_alive:
        headers["Connection"] = "close"
    lines += [f"{k}: {v}\r\n" for k, v in headers.items()]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def _write_response(req: Request, reply: Response) -> None:
    headers = dict(reply.headers)
    if reply.status not in (204, 304):
        headers["Content-Length"] = str(len(reply.body))
    if reply.status >= 400 or reply.body:
        headers.setdefault("Content-Type", "application/json")
    body = b"" if req.method == "HEAD" or reply.status in (204, 304) else reply.body
    req.writer.write(_head(req, reply.status, headers) + body)


async def _write_stream(req: Request, reply: Stream) -> None:
    """Headers go out at once (clients block on them: `/wait`), then one chunk per piece."""
    headers = {**reply.headers, "Transfer-Encoding": "chunked"}
    writer = req.writer
    writer.write(_head(req, reply.status, headers))
    await writer.drain()
    try:
        async for piece in reply.chunks:
            if piece:
                writer.write(encode_chunk(piece))
                await writer.drain()
    finally:
        aclose = getattr(reply.chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    writer.write(LAST_CHUNK)
    await writer.drain()
