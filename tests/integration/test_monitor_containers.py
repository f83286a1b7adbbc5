"""wharfie-monitor with real containers: wharfie-runtime in-process (and runc exec'd),
busybox bundles, a monitor per test module on a temp exec-root (killed by its pid)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import struct
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from support.bundle import BusyboxMissing, bundle_spec, busybox_rootfs, make_bundle
from support.monitor_pids import kill_monitor
from wharfie.logs import read
from wharfie.monitor.client import (
    AttachOptions,
    ExecRequest,
    MonitorClient,
    RuntimeRef,
    StartError,
    StartRequest,
    ensure_running,
)

pytestmark = pytest.mark.root
T = TypeVar("T")
RUNC = "/usr/sbin/runc"


@dataclass
class Env:
    base: Path
    rootfs: Path
    exec_root: Path
    ref: RuntimeRef
    monitor_pid: int
    ids: list[tuple[RuntimeRef, str]] = field(default_factory=list)

    @property
    def sock(self) -> str:
        return str(self.exec_root / "monitor.sock")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = tmp_path_factory.mktemp("mon")
    try:
        rootfs = busybox_rootfs(base / "rootfs")
    except BusyboxMissing as exc:
        pytest.skip(str(exc))
    exec_root = base / "exec"
    ensure_running(str(exec_root), sys.executable)
    pid = int((exec_root / "monitor.pid").read_text())
    ref = RuntimeRef("wharfie-runtime", "", str(base / "rt"), True)
    e = Env(base, rootfs, exec_root, ref, pid)
    try:
        yield e
    finally:
        asyncio.run(_delete_all(e))
        kill_monitor(exec_root)
        shutil.rmtree(base, ignore_errors=True)


async def _delete_all(e: Env) -> None:
    with contextlib.suppress(Exception):
        c = await MonitorClient.connect(e.sock, lambda ev: None)
        for ref, cid in e.ids:
            await c.runtime(ref, ["delete", "-f", cid])
        await c.close()


class Session:
    """A client connection plus the events it received."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.client: MonitorClient
        self.last_ms = 0.0

    def on_event(self, ev: dict[str, Any]) -> None:
        self.events.append(ev)
        self.changed.set()

    async def wait_event(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if pred(ev):
                    return ev
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such event; got {self.events}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    async def exit_of(self, cid: str) -> int:
        ev = await self.wait_event(lambda e: e.get("event") == "exit" and e["id"] == cid)
        return int(ev["exit_code"])

    def bundle(self, args: list[str], *, tty: bool = False) -> tuple[str, str]:
        cid = "m" + uuid.uuid4().hex[:12]
        spec = bundle_spec(args, terminal=tty)
        spec["linux"]["cgroupsPath"] = f"/wharfie-test/{cid}"
        path = make_bundle(self.env.base / cid, self.env.rootfs, spec)
        return cid, str(path)

    async def start(
        self, args: list[str], *, tty: bool = False, stdin: bool = False, once: bool = False,
        ref: RuntimeRef | None = None, size: tuple[int, int] | None = None,
        before: Callable[[str], Awaitable[None]] | None = None,
    ) -> tuple[str, int, str]:  # fmt: skip
        cid, bundle = self.bundle(args, tty=tty)
        ref = ref or self.env.ref
        self.env.ids.append((ref, cid))
        log = str(self.env.base / f"{cid}-json.log")
        if before is not None:
            await before(cid)
        req = StartRequest(cid, bundle, ref, tty, stdin, once, log, console_size=size)
        t0 = time.monotonic()
        pid = await self.client.start(req)
        self.last_ms = (time.monotonic() - t0) * 1000
        return cid, pid, log


def run(env: Env, body: Callable[[Session], Awaitable[T]]) -> T:
    async def main() -> T:
        s = Session(env)
        s.client = await MonitorClient.connect(env.sock, s.on_event)
        try:
            return await asyncio.wait_for(body(s), 30)
        finally:
            await s.client.close()

    return asyncio.run(main())


async def read_to_eof(sock: socket.socket, timeout: float = 10) -> bytes:
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), deadline - time.monotonic())
        if not chunk:
            return out
        out += chunk


async def read_until(sock: socket.socket, needle: bytes, timeout: float = 10) -> bytes:
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), deadline - time.monotonic())
        if not chunk:
            break
        out += chunk
    return out


def demux(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {1: b"", 2: b""}
    while data:
        stream, n = data[0], struct.unpack(">I", data[4:8])[0]
        out[stream] += data[8 : 8 + n]
        data = data[8 + n :]
    return out


def pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


# -- start, exit, logs ------------------------------------------------------------------------
def test_echo_exits_zero_and_logs(env: Env) -> None:
    async def body(s: Session) -> None:
        cid, pid, log = await s.start(["echo", "hello"])
        assert pid > 0
        assert await s.exit_of(cid) == 0
        print(f"\nstart->response {s.last_ms:.1f} ms")
        cid, pid, _ = await s.start(["true"])
        assert await s.exit_of(cid) == 0
        print(f"start->response (true) {s.last_ms:.1f} ms")
        assert [e.data for e in read(log)] == [b"hello\n"]

    run(env, body)


def test_exit_codes(env: Env) -> None:
    async def body(s: Session) -> None:
        cid, _, _ = await s.start(["sh", "-c", "exit 3"])
        assert await s.exit_of(cid) == 3
        cid2, _, _ = await s.start(["sleep", "30"])
        await s.client.signal(cid2, signal.SIGKILL)
        assert await s.exit_of(cid2) == 137
        with pytest.raises(Exception, match="not running"):
            await s.client.signal(cid2, signal.SIGTERM)

    run(env, body)


def test_executable_not_found_is_a_start_error(env: Env) -> None:
    async def body(s: Session) -> None:
        with pytest.raises(StartError, match="executable file not found"):
            await s.start(["nosuch-binary"])
        hello = await s.client.hello()
        assert all(c["exit_code"] is None or c["status"] == "exited" for c in hello["containers"])

    run(env, body)


# -- attach -----------------------------------------------------------------------------------
def test_attach_multiplexes_stdout_and_stderr(env: Env) -> None:
    async def body(s: Session) -> None:
        ours, theirs = pair()

        async def attach(cid: str) -> None:
            opts = AttachOptions(stdin=False, stdout=True, stderr=True, tty=False)
            await s.client.attach(cid, theirs.fileno(), opts)
            theirs.close()

        cid, _, log = await s.start(["sh", "-c", "echo out; echo err >&2"], before=attach)
        got = demux(await read_to_eof(ours))
        ours.close()
        assert got == {1: b"out\n", 2: b"err\n"}
        assert await s.exit_of(cid) == 0
        assert sorted((e.stream, e.data) for e in read(log)) == [
            ("stderr", b"err\n"),
            ("stdout", b"out\n"),
        ]

    run(env, body)


def test_stdin_written_and_half_closed_before_start(env: Env) -> None:
    """`echo hi | docker run -i busybox cat`: input and EOF arrive before /start."""

    async def body(s: Session) -> None:
        ours, theirs = pair()

        async def attach(cid: str) -> None:
            opts = AttachOptions(stdin=True, stdout=True, stderr=True, tty=False)
            await s.client.attach(cid, theirs.fileno(), opts)
            theirs.close()
            ours.sendall(b"hi\nthere\n")
            ours.shutdown(socket.SHUT_WR)
            await asyncio.sleep(0.05)

        cid, _, _ = await s.start(["cat"], stdin=True, once=True, before=attach)
        assert demux(await read_to_eof(ours)) == {1: b"hi\nthere\n", 2: b""}
        ours.close()
        assert await s.exit_of(cid) == 0

    run(env, body)


def test_stdin_to_running_cat_with_half_close(env: Env) -> None:
    async def body(s: Session) -> None:
        cid, _, _ = await s.start(["cat"], stdin=True, once=True)
        ours, theirs = pair()
        await s.client.attach(cid, theirs.fileno(), AttachOptions(True, True, True, False))
        theirs.close()
        ours.sendall(b"ping\n")
        assert demux(await read_until(ours, b"ping\n"))[1] == b"ping\n"
        ours.shutdown(socket.SHUT_WR)
        assert await s.exit_of(cid) == 0
        assert await read_to_eof(ours) == b""
        ours.close()

    run(env, body)


def test_tty_attach_resize_and_initial_size(env: Env) -> None:
    async def body(s: Session) -> None:
        script = "stty size; read x; stty size"
        cid, _, log = await s.start(["sh", "-c", script], tty=True, stdin=True, size=(30, 100))
        ours, theirs = pair()
        await s.client.attach(cid, theirs.fileno(), AttachOptions(True, True, True, True))
        theirs.close()
        await asyncio.sleep(0.2)
        await s.client.resize(cid, 40, 120)
        ours.sendall(b"\n")
        out = await read_to_eof(ours)
        ours.close()
        assert b"40 120" in out
        assert await s.exit_of(cid) == 0
        logged = b"".join(e.data for e in read(log))
        assert b"30 100" in logged and b"40 120" in logged
        with pytest.raises(Exception, match="no such"):
            await s.client.resize("nosuch", 1, 1)

    run(env, body)


def test_detach_keys_leave_the_container_running(env: Env) -> None:
    async def body(s: Session) -> None:
        cid, _, log = await s.start(["cat"], tty=True, stdin=True)
        ours, theirs = pair()
        await s.client.attach(cid, theirs.fileno(), AttachOptions(True, True, True, True))
        theirs.close()
        ours.sendall(b"abc\n\x10")
        ours.sendall(b"\x11more\n")
        await read_to_eof(ours)  # the monitor closes the detached client
        ours.close()
        await asyncio.sleep(0.2)
        logged = b"".join(e.data for e in read(log))
        assert b"abc" in logged and b"more" not in logged  # bytes before the keys only
        hello = await s.client.hello()
        mine = [c for c in hello["containers"] if c["id"] == cid]
        assert mine and mine[0]["status"] == "running"
        custom, theirs = pair()
        await s.client.attach(cid, theirs.fileno(), AttachOptions(True, True, True, True, b"\x18"))
        theirs.close()
        custom.sendall(b"xyz\x18")
        await read_to_eof(custom)
        custom.close()
        await s.client.signal(cid, signal.SIGKILL)
        assert await s.exit_of(cid) == 137

    run(env, body)


# -- exec -------------------------------------------------------------------------------------
def _proc(args: list[str], tty: bool = False) -> dict[str, Any]:
    return {
        "args": args, "env": ["PATH=/bin:/usr/bin"], "cwd": "/", "terminal": tty,
        "user": {"uid": 0, "gid": 0},
    }  # fmt: skip


def test_exec_without_and_with_tty(env: Env) -> None:
    async def body(s: Session) -> None:
        cid, _, _ = await s.start(["sleep", "30"])
        ours, theirs = pair()
        script = "echo out; echo err >&2; exit 5"
        req = ExecRequest(
            cid, "e1" + cid, s.env.ref, _proc(["sh", "-c", script]), False, False, True, True
        )
        pid = await s.client.exec(req, theirs.fileno())
        theirs.close()
        assert pid > 0
        assert demux(await read_to_eof(ours)) == {1: b"out\n", 2: b"err\n"}
        ours.close()
        ev = await s.wait_event(lambda e: e.get("exec_id") == req.exec_id)
        assert ev["event"] == "exec-exit" and ev["exit_code"] == 5 and ev["container_id"] == cid

        ours, theirs = pair()
        tproc = _proc(["sh", "-c", "read x; tty; stty size"])
        treq = ExecRequest(
            cid, "e2" + cid, s.env.ref, tproc, True, True, True, True, console_size=(20, 70)
        )
        await s.client.exec(treq, theirs.fileno())
        theirs.close()
        await asyncio.sleep(0.1)
        await s.client.resize(treq.exec_id, 25, 90)
        ours.sendall(b"\n")
        out = await read_to_eof(ours)
        ours.close()
        assert b"/dev/pts/" in out and b"25 90" in out

        dreq = ExecRequest(
            cid, "e3" + cid, s.env.ref, _proc(["sh", "-c", "exit 7"]), False, False, False, False
        )
        await s.client.exec(dreq, None)
        ev = await s.wait_event(lambda e: e.get("exec_id") == dreq.exec_id)
        assert ev["exit_code"] == 7
        hello = await s.client.hello()
        assert {e["exec_id"] for e in hello["execs"]} >= {req.exec_id, dreq.exec_id}
        await s.client.signal(cid, signal.SIGKILL)
        assert await s.exit_of(cid) == 137

    run(env, body)


# -- the daemon goes away and comes back ------------------------------------------------------
def test_reconnect_sees_running_then_exited(env: Env) -> None:
    state: dict[str, str] = {}

    async def first(s: Session) -> None:
        cid, _, _ = await s.start(["sleep", "0.6"])
        state["cid"] = cid

    run(env, first)  # the connection is closed: the "daemon" is gone

    async def second(s: Session) -> None:
        cid = state["cid"]
        mine = [c for c in (await s.client.hello())["containers"] if c["id"] == cid]
        assert mine and mine[0]["status"] == "running"
        assert await s.exit_of(cid) == 0

    run(env, second)

    async def third(s: Session) -> None:
        cid = state["cid"]
        await asyncio.sleep(0.1)
        mine = [c for c in (await s.client.hello())["containers"] if c["id"] == cid]
        assert mine and mine[0]["status"] == "exited" and mine[0]["exit_code"] == 0
        await s.client.forget(cid)
        assert cid not in {c["id"] for c in (await s.client.hello())["containers"]}

    run(env, third)


def test_ensure_running_finds_the_running_monitor(env: Env) -> None:
    ensure_running(str(env.exec_root), sys.executable)
    assert int((env.exec_root / "monitor.pid").read_text()) == env.monitor_pid


def test_runtime_command_round_trip(env: Env) -> None:
    async def body(s: Session) -> None:
        cid, _, _ = await s.start(["sleep", "30"])
        rc, out, _err = await s.client.runtime(s.env.ref, ["state", cid])
        assert rc == 0 and '"running"' in out
        rc, _out, err = await s.client.runtime(s.env.ref, ["state", "nosuch"])
        assert rc != 0 and err
        await s.client.runtime(s.env.ref, ["delete", "-f", cid])
        assert await s.exit_of(cid) == 137

    run(env, body)


# -- runc, exec'd -----------------------------------------------------------------------------
def test_runc_exec_path(env: Env) -> None:
    if not os.access(RUNC, os.X_OK):
        pytest.skip(f"{RUNC} not installed")
    runc = RuntimeRef("runc", RUNC, str(env.base / "runc-root"), False)

    async def body(s: Session) -> None:
        cid, _, log = await s.start(["echo", "hello"], ref=runc)
        print(f"\nrunc start->response {s.last_ms:.1f} ms")
        assert await s.exit_of(cid) == 0
        assert [e.data for e in read(log)] == [b"hello\n"]
        with pytest.raises(StartError, match="executable file not found"):
            await s.start(["nosuch-binary"], ref=runc)

    run(env, body)


# -- memory -----------------------------------------------------------------------------------
def _pss_kib(pid: int) -> int:
    return _rollup(pid)["Pss"]


def _rollup(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        out[key] = int(value.split()[0])
    return out


def test_memory_per_idle_container(env: Env) -> None:
    async def body(s: Session) -> None:
        n = 20
        warm, _, _ = await s.start(["sleep", "60"])  # first-use allocations are not per container
        r0 = _rollup(env.monitor_pid)
        ids = [(await s.start(["sleep", "60"]))[0] for _ in range(n)]
        r1 = _rollup(env.monitor_pid)
        before, after = r0["Pss"], r1["Pss"]
        per = (after - before) / n
        priv = (r1["Private_Dirty"] - r0["Private_Dirty"]) / n
        print(
            f"\nmonitor PSS {before} KiB -> {after} KiB: {per:.1f} KiB per idle container "
            f"(private dirty {priv:.1f} KiB); total/{n + 1} = {after / (n + 1):.0f} KiB"
        )
        for cid in [warm, *ids]:
            await s.client.signal(cid, signal.SIGKILL)
        for cid in [warm, *ids]:
            assert await s.exit_of(cid) == 137
        assert per < 400

    run(env, body)


def test_slow_client_is_disconnected_not_waited_for(env: Env) -> None:
    async def body(s: Session) -> None:
        script = "yes | head -c 12000000; sleep 30"
        cid, _, log = await s.start(["sh", "-c", script])
        slow, theirs = pair()
        await s.client.attach(cid, theirs.fileno(), AttachOptions(False, True, True, False))
        theirs.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and Path(log).stat().st_size < 12_000_000:
            await asyncio.sleep(0.05)  # the container's output is not held up by `slow`
        assert Path(log).stat().st_size >= 12_000_000
        got = b""
        with contextlib.suppress(ConnectionResetError):
            got = await read_to_eof(slow)  # what was buffered, then EOF: disconnected
        slow.close()
        assert len(got) < 12_000_000
        mine = [c for c in (await s.client.hello())["containers"] if c["id"] == cid]
        assert mine[0]["status"] == "running"
        await s.client.signal(cid, signal.SIGKILL)
        assert await s.exit_of(cid) == 137

    run(env, body)
