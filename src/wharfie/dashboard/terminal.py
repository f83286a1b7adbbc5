"""The in-page terminal: a WebSocket bridged to an exec's hijacked stream.

The page creates the exec (`POST /containers/{id}/exec` with a TTY) through the
API, then opens `/dash/exec/{exec id}` as a WebSocket. Here the exec is started
with the API's own `POST /exec/{id}/start` on an in-process socket pair served by
the API server, exactly as a CLI's request would be, so the monitor gets the pair's
other end as the exec's terminal. Binary and text frames from the page are typed
input; the terminal's output goes back as binary frames. Resizing is the API's
`POST /exec/{id}/resize`, which the page calls itself. When the page goes away the
exec's process gets SIGHUP (then SIGKILL), as with a terminal that was closed: a
shell left behind by every closed tab would pile up in the container.

WebSocket framing is wsproto's (sans-I/O); the upgrade handshake is answered here
because the HTTP request was already parsed by our server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from wharfie.api.decoding import number
from wharfie.api.http import HIJACKED, HTTPError, Reply, Request
from wharfie.oci import jsonio

ServeConnection = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


def accept_head(key: str) -> bytes:
    from wsproto.utilities import generate_accept_token

    accept = generate_accept_token(key.encode()).decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode()


async def start_exec(
    serve: ServeConnection, exec_id: str, rows: int, cols: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Task[None]]:
    """`POST /exec/{id}/start` (TTY, attached) through the API server on a socket pair;
    returns our end once the API answered 101, or raises HTTPError with its message."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    s_reader, s_writer = await asyncio.open_connection(sock=theirs)
    task = asyncio.create_task(serve(s_reader, s_writer))
    reader, writer = await asyncio.open_connection(sock=ours)
    body = jsonio.dumps({"Detach": False, "Tty": True, "ConsoleSize": [rows, cols]}).encode()
    writer.write(
        (
            f"POST /exec/{exec_id}/start HTTP/1.1\r\nHost: dashboard\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        writer.close()
        raise HTTPError(502, "the exec stream closed before it started") from exc
    status = int(head.split(b" ", 2)[1])
    if status != 101:
        rest = await reader.read(65536)
        writer.close()
        try:
            message = str(jsonio.loads(rest.split(b"\r\n\r\n")[-1].strip())["message"])
        except (ValueError, KeyError, TypeError):
            message = rest.decode(errors="replace").strip() or f"status {status}"
        raise HTTPError(status, message)
    return reader, writer, task


async def bridge(
    req: Request,
    serve: ServeConnection,
    exec_id: str,
    hangup: Callable[[str], Coroutine[Any, Any, None]],
) -> Reply:
    """Bridge until either side ends; then `hangup(exec_id)`, as a closed terminal would."""
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

    key = req.headers.get("sec-websocket-key", "")
    if req.headers.get("upgrade", "").lower() != "websocket" or not key:
        raise HTTPError(400, "this endpoint speaks WebSocket only")
    rows, cols = number(req, "rows", 24), number(req, "cols", 80)
    e_reader, e_writer, task = await start_exec(serve, exec_id, rows, cols)
    req.hijacked = True
    ws = Connection(ConnectionType.SERVER)
    out = req.writer
    out.write(accept_head(key))
    await out.drain()

    async def from_page() -> None:
        while True:
            data = await req.reader.read(65536)
            if not data:
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, BytesMessage | TextMessage):
                    payload = event.data
                    e_writer.write(payload.encode() if isinstance(payload, str) else payload)
                    await e_writer.drain()
                elif isinstance(event, Ping):
                    out.write(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    with contextlib.suppress(Exception):
                        out.write(ws.send(event.response()))
                    return

    async def to_page() -> None:
        while True:
            data = await e_reader.read(65536)
            if not data:
                return
            out.write(ws.send(BytesMessage(data=data)))
            await out.drain()

    pumps = [asyncio.create_task(from_page()), asyncio.create_task(to_page())]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for p in pumps:
            p.cancel()
        with contextlib.suppress(Exception):
            out.write(ws.send(CloseConnection(code=1000, reason="exec ended")))
            await out.drain()
        e_writer.close()
        task.cancel()
        await hangup(exec_id)
    return HIJACKED
