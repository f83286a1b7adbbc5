"""The daemon's side of the monitor protocol (asyncio), and starting the monitor.

Used from wharfied's event loop thread only. One SOCK_SEQPACKET connection; requests are
numbered, answers resolve futures, events go to `on_event`. Sends are blocking (the
messages are small and the monitor reads promptly); receives are driven by the loop.

When the connection drops without `close()`, the monitor died: `on_lost` is called at
once, requests wait while the client reconnects (the warden forks a new monitor within
milliseconds; if the warden is gone too, `ensure_running` starts both again), then
`on_back(hello)` lets the engine reconcile. Requests that were in flight are sent again
when repeating them is harmless (signal, runtime commands, resize, forget, hello); a
`start`, `exec` or `attach` in flight fails with Unavailable.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from wharfie.errors import Unavailable
from wharfie.monitor import protocol
from wharfie.monitor.protocol import StartError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "AttachOptions",
    "ExecRequest",
    "MonitorClient",
    "RuntimeRef",
    "StartError",
    "StartRequest",
    "ensure_running",
]


@dataclass
class RuntimeRef:
    name: str
    path: str
    root: str
    in_process: bool  # only for wharfie-runtime: forked from the monitor, not exec'd


@dataclass
class StartRequest:
    id: str
    bundle: str
    runtime: RuntimeRef
    tty: bool
    open_stdin: bool
    stdin_once: bool
    log_path: str | None  # None: no logging (log driver "none")
    log_max_size: int = 0
    log_max_file: int = 1
    console_size: tuple[int, int] | None = None  # (height, width)
    restore: str | None = None  # a checkpoint directory: `restore --image-path` instead of `run`


@dataclass
class AttachOptions:
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool  # True: raw stream; False: Docker's multiplexed frames
    detach_keys: bytes | None = None  # None: ctrl-p ctrl-q when stdin is attached; b"": none
    close_on_exit: bool = True


@dataclass
class ExecRequest:
    container_id: str
    exec_id: str
    runtime: RuntimeRef
    process: dict[str, Any]  # OCI process object
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool
    detach_keys: bytes | None = None
    console_size: tuple[int, int] | None = None
    # How the hijacked stream is framed: raw when True, Docker's frames when False. Docker
    # follows the start request's Tty here and the create's for the process's terminal.
    stream_tty: bool | None = None  # None: as `tty`


RECONNECT_WAIT = 30.0  # how long a request waits for a dead monitor to come back
_RETRIED = frozenset(("hello", "signal", "runtime", "resize", "forget"))


class MonitorClient:
    def __init__(
        self, sock: socket.socket, on_event: Callable[[dict[str, Any]], None], path: str = ""
    ) -> None:
        self._sock = sock
        self._on_event = on_event
        self._path = path
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ops: dict[int, str] = {}
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        self._closed = False
        self._closing = False
        self._up = asyncio.Event()
        self._up.set()
        self._reconnecting: asyncio.Task[None] | None = None
        self.on_lost: Callable[[], None] | None = None
        self.on_back: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    @classmethod
    async def connect(cls, path: str, on_event: Callable[[dict[str, Any]], None]) -> MonitorClient:
        return cls(_connect(path), on_event, path)

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    # -- transport ------------------------------------------------------------------------
    def _readable(self) -> None:
        while True:
            try:
                msg = protocol.recv_message(self._sock, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            if msg is None:
                self._lost()
                return
            if "event" in msg:
                self._on_event(msg)
                continue
            fut = self._waiting.pop(int(msg.get("re", -1)), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    def _lost(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._sock.fileno())
            if self._path and not self._closing:
                self._sock.close()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(_Lost("the monitor closed the connection"))
        self._waiting.clear()
        if self._closing or not self._path or self._reconnecting is not None:
            return  # closing, or the reconnect loop sees it and connects again
        self._up.clear()
        if self.on_lost is not None:
            self.on_lost()
        self._reconnecting = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """Connect until a monitor answers `hello` (a dying one may still accept a connect),
        then let requests through and hand the hello to `on_back`."""
        exec_root = os.path.dirname(self._path)
        delay = 0.01
        hello: dict[str, Any] | None = None
        while not self._closing and hello is None:
            try:
                sock = _connect(self._path)
            except Unavailable:
                try:
                    await asyncio.to_thread(ensure_running, exec_root, sys.executable, 5.0)
                except Unavailable:
                    await asyncio.sleep(delay)
                    delay = min(1.0, delay * 2)
                continue
            self._sock = sock
            self._closed = False
            self._loop.add_reader(sock.fileno(), self._readable)
            try:
                hello = await self._call_once("hello", {}, None, wait=False)
            except Unavailable:
                await asyncio.sleep(delay)
        self._reconnecting = None
        if self._closing or hello is None:
            return
        self._up.set()
        if self.on_back is not None:
            await self.on_back(hello)

    async def _call(
        self, op: str, body: dict[str, Any], fds: list[int] | None = None
    ) -> dict[str, Any]:
        for _ in range(4):
            try:
                return await self._call_once(op, body, fds)
            except _Lost:
                if op not in _RETRIED or self._closing:
                    raise
        return await self._call_once(op, body, fds)

    async def _call_once(
        self, op: str, body: dict[str, Any], fds: list[int] | None, wait: bool = True
    ) -> dict[str, Any]:
        if wait and not self._up.is_set() and not self._closing:
            try:
                await asyncio.wait_for(self._up.wait(), RECONNECT_WAIT)
            except TimeoutError:
                raise Unavailable(
                    f"the monitor has not come back within {RECONNECT_WAIT:.0f}s"
                ) from None
        if self._closed:
            raise Unavailable("the monitor connection is closed")
        self._next += 1
        req = self._next
        fut: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._waiting[req] = fut
        data = protocol.encode({"req": req, "op": op, **body})
        try:
            if fds:
                socket.send_fds(self._sock, [data], fds)
            else:
                self._sock.send(data)
        except OSError as exc:  # the monitor died and we have not read its EOF yet
            self._waiting.pop(req, None)
            self._lost()
            raise _Lost(f"monitor request {op}: {exc}") from exc
        reply = await fut
        if "error" in reply:
            protocol.raise_error(reply["error"])
        ok: dict[str, Any] = reply.get("ok") or {}
        return ok

    # -- operations -----------------------------------------------------------------------
    async def hello(self) -> dict[str, Any]:
        return await self._call("hello", {})

    async def start(self, req: StartRequest) -> int:
        body = asdict(req)
        return int((await self._call("start", body))["pid"])

    async def attach(self, container_id: str, sock_fd: int, opts: AttachOptions) -> None:
        body = asdict(opts)
        body["detach_keys"] = protocol.hex_bytes(opts.detach_keys)
        await self._call("attach", {"id": container_id, **body}, [sock_fd])

    async def exec(self, req: ExecRequest, sock_fd: int | None) -> int:
        body = asdict(req)
        body["detach_keys"] = protocol.hex_bytes(req.detach_keys)
        raw = req.tty if req.stream_tty is None else req.stream_tty
        # A raw stream of a process without a terminal carries stdout only: moby's exec start
        # gives the process no stderr writer unless it frames the stream.
        stderr = req.stderr and (req.tty or not raw)
        body["attach"] = {
            "stdin": req.stdin, "stdout": req.stdout, "stderr": stderr, "tty": raw,
            "detach_keys": body["detach_keys"], "close_on_exit": True,
        }  # fmt: skip
        fds = [sock_fd] if sock_fd is not None else None
        return int((await self._call("exec", body, fds))["pid"])

    async def resize(self, target_id: str, height: int, width: int) -> None:
        await self._call("resize", {"id": target_id, "height": height, "width": width})

    async def signal(self, container_id: str, signum: int) -> None:
        await self._call("signal", {"id": container_id, "signal": int(signum)})

    async def runtime(self, ref: RuntimeRef, args: list[str]) -> tuple[int, str, str]:
        ok = await self._call("runtime", {"runtime": asdict(ref), "args": list(args)})
        return int(ok["rc"]), str(ok["stdout"]), str(ok["stderr"])

    async def forget(self, container_id: str) -> None:
        await self._call("forget", {"id": container_id})

    async def close(self) -> None:
        self._closing = True
        self._up.set()
        self._lost()
        self._sock.close()
        if self._reconnecting is not None:
            self._reconnecting.cancel()


class _Lost(Unavailable):
    """The connection dropped while the request was in flight."""


def _connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise Unavailable(f"connecting to the monitor at {path}: {exc.strerror}") from exc
    return sock


def _answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def ensure_running(exec_root: str, python: str = sys.executable, timeout: float = 10.0) -> None:
    """Start the monitor for `exec_root` unless one answers on its socket already.

    It runs in its own session (never in the daemon's process group), stdin/stdout on
    /dev/null and stderr appended to <exec_root>/monitor.log; it writes monitor.pid.
    """
    from wharfie.monitor.warden import lock_held

    path = os.path.join(exec_root, "monitor.sock")
    if _answers(path):
        return
    os.makedirs(exec_root, exist_ok=True)
    deadline = time.monotonic() + timeout
    if lock_held(exec_root):  # a warden lives: it is forking a new monitor
        while time.monotonic() < deadline:
            if _answers(path):
                return
            time.sleep(0.01)
        raise Unavailable(f"the monitor's warden did not bring it back within {timeout:.0f}s")
    with open(os.path.join(exec_root, "monitor.log"), "ab") as log:
        proc = subprocess.Popen(
            [python, "-m", "wharfie.monitor", "--exec-root", exec_root],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    while time.monotonic() < deadline:
        if _answers(path):
            return
        if proc.poll() is not None and proc.returncode != 0:  # 0: another warden won the race
            raise Unavailable(f"the monitor exited with status {proc.returncode}: see {log.name}")
        time.sleep(0.01)
    raise Unavailable(f"the monitor did not answer on {path} within {timeout:.0f}s")
