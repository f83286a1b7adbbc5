"""The per-container shim: one small process that holds a container's VM.

It is forked by `wharfie-vm create`/`run` and outlives it (reparented to whoever reaps the
container, e.g. the engine's monitor); its pid is the container's pid and its exit status is
the container's exit code. It:

* sets up the VM's host side (`machine.py`: share or disk, network, virtiofsd, QEMU);
* speaks the agent protocol (`proto.py`) over the virtio-serial socket: the container's and
  exec processes' stdio, signals, terminal sizes, exit codes, the guest's DNS queries
  (`dnsrelay.py`);
* serves the CLI on `<state>/shim.sock` (`control.py`);
* resumes a VM from a checkpoint, and takes one (`snapshot.py`);
* runs the watchdog: a guest that does not boot in time, or stops answering pings, has its
  QEMU killed and the reason reported (to `create`, or on the container's stderr).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from wharfie.vm import disk, dnsrelay, hostio, proto
from wharfie.vm.control import Control
from wharfie.vm.machine import Machine, Plan
from wharfie.vm.state import State

PING_EVERY = 5.0
FORWARDED = (
    signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
    signal.SIGUSR2, signal.SIGALRM, signal.SIGCONT, signal.SIGPWR,
)  # fmt: skip


def boot_timeout(accel: str) -> float:
    return float(os.environ.get("WHARFIE_VM_BOOT_TIMEOUT") or (20 if accel == "kvm" else 90))


def stall_timeout() -> float:
    return float(os.environ.get("WHARFIE_VM_STALL_TIMEOUT") or 30)


@dataclass
class Stream:
    """One process in the guest: where its output goes, who waits for its exit."""

    id: int
    out: int
    err: int
    stdin: int = -1
    tty: bool = False
    conn: socket.socket | None = None  # the exec client, told the exit code


class Shim:
    def __init__(self, st: State, plan: Plan, report_fd: int) -> None:
        self.st = st
        self.plan = plan
        self.report_fd = report_fd
        self.sel = selectors.DefaultSelector()
        self.m = Machine(st, plan)
        self.agent: socket.socket | None = None
        self.outbuf = bytearray()
        self.decoder = proto.Decoder()
        self.phase = "booting"
        self.deadline = time.monotonic() + boot_timeout(plan.vm.accel)
        self.last_pong = time.monotonic()
        self.next_ping = 0.0
        self.paused = False
        self.streams: dict[int, Stream] = {}
        self.next_exec = 1
        self.pending_start: socket.socket | None = None
        self.code: int | None = None
        self.tty_fd = -1
        self.signals: list[int] = []
        self.grace = 3.0  # how long QEMU gets to power off by itself after the exit
        self.dns = dnsrelay.Relay(self.sel, lambda tag, r: self.send(proto.DNS_ANSWER, tag, r))

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        self.agent = self.m.start()
        self.sel.register(self.agent, selectors.EVENT_READ, self._on_agent)
        Control(self).listen()

    # -- stdio of the container's process -------------------------------------------------------
    def main_stream(self) -> Stream:
        if self.plan.tty:
            master, slave = os.openpty()
            hostio.raw(slave)
            hostio.send_console(self.plan.console_socket, master)
            os.close(master)
            import fcntl
            import termios

            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            self.tty_fd = slave
            for fd in (0, 1, 2):
                hostio.devnull(fd)
            return Stream(0, slave, slave, slave, tty=True)
        out, err = os.dup(1), os.dup(2)
        stdin = os.dup(0)
        for fd in (0, 1, 2):
            hostio.devnull(fd)
        return Stream(0, out, err, stdin)

    def add_exec(self, conn: socket.socket, fds: list[int], tty: bool) -> int:
        """A new exec's stream (its stdio fds from the exec proxy); returns its id."""
        sid = self.next_exec
        self.next_exec += 1
        if tty:
            (fd,) = fds
            self.streams[sid] = Stream(sid, fd, fd, fd, tty=True, conn=conn)
        else:
            stdin, out, err = fds
            self.streams[sid] = Stream(sid, out, err, stdin, conn=conn)
        return sid

    def watch_input(self, sid: int) -> None:
        self._watch_input(sid, self.streams[sid].stdin)

    def _watch_input(self, sid: int, fd: int) -> None:
        try:
            self.sel.register(fd, selectors.EVENT_READ, lambda: self._on_input(sid, fd))
        except PermissionError:  # a regular file or /dev/null: not pollable, read it whole
            while data := os.read(fd, 65536):
                self.send(proto.STDIN, sid, data)
            self.send(proto.STDIN_EOF, sid)
            return
        os.set_blocking(fd, False)

    def _on_input(self, sid: int, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.send(proto.STDIN, sid, data)
            return
        self.sel.unregister(fd)
        if sid != 0 or not self.plan.tty:
            self.send(proto.STDIN_EOF, sid)

    # -- the agent channel ----------------------------------------------------------------------
    def send(self, kind: bytes, sid: int, payload: bytes = b"") -> None:
        if self.agent is None:
            return
        self.outbuf += proto.frame(kind, sid, payload)
        self._flush()

    def _flush(self) -> None:
        assert self.agent is not None
        try:
            while self.outbuf:
                n = self.agent.send(self.outbuf)
                del self.outbuf[:n]
        except BlockingIOError:
            pass
        except OSError:
            self.outbuf.clear()
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outbuf else 0)
        self.sel.modify(self.agent, events, self._on_agent)

    def _on_agent(self) -> None:
        assert self.agent is not None
        if self.outbuf:
            self._flush()
        try:
            data = self.agent.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(self.agent)
            self.agent.close()
            self.agent = None
            return
        for kind, sid, payload in self.decoder.feed(data):
            self._on_frame(kind, sid, payload)

    def _on_frame(self, kind: bytes, sid: int, payload: bytes) -> None:
        self.last_pong = time.monotonic()
        s = self.streams.get(sid)
        if kind == proto.READY:
            self._ready()
        elif kind == proto.DNS_QUERY:
            self.dns.query(sid, payload)
        elif kind == proto.STDOUT and s is not None:
            hostio.write_all(s.out, payload)
        elif kind == proto.STDERR and s is not None:
            hostio.write_all(s.err, payload)
        elif kind == proto.STARTED:
            (gpid,) = struct.unpack("<i", payload[:4])
            if sid == 0:
                self.phase = "running"
                self._answer_start(None)
            elif s is not None and s.conn is not None:
                hostio.reply(s.conn, {"ok": True, "pid": gpid})
        elif kind == proto.FAILED:
            msg = payload.decode(errors="replace")
            if sid == 0:
                self._answer_start(msg)
                self.code = 127 if "not found" in msg or "no such file" in msg else 128
                self.phase = "stopped"
            elif s is not None:
                if s.conn is not None:
                    hostio.reply(s.conn, {"error": msg})
                self._end_exec(s)
        elif kind == proto.EXITED and s is not None:
            (code,) = struct.unpack("<i", payload[:4])
            if sid == 0:
                self.code = code
                self.phase = "stopped"
            else:
                if s.conn is not None:
                    hostio.reply(s.conn, {"exit": code})
                self._end_exec(s)

    def _ready(self) -> None:
        now = time.time_ns()
        self.send(proto.SET_TIME, 0, struct.pack("<QI", now // 10**9, now % 10**9))
        self.phase = "created"
        self.deadline = 0.0
        self.last_pong = time.monotonic()
        if self.plan.start_now:
            self.start()
        else:
            self._report("ok")

    def start(self) -> None:
        self.streams[0] = self.main_stream()
        self.phase = "starting"
        self.send(proto.CONFIG, 0, proto.encode_records(self.plan.records))
        self._watch_input(0, self.streams[0].stdin)

    def restored(self) -> None:
        """The VM was loaded from a checkpoint (paused): attach the container's stdio, let
        it run on, set the clock, and give the guest this namespace's address and MAC."""
        self.streams[0] = self.main_stream()
        self.m.qmp("cont")
        self.phase = "running"
        self.deadline = 0.0
        self.last_pong = time.monotonic()
        now = time.time_ns()
        self.send(proto.SET_TIME, 0, struct.pack("<QI", now // 10**9, now % 10**9))
        gnet = self.m.gnet
        if gnet is not None:
            self.send(proto.NET, 0, f"{gnet.cidr}|{gnet.gateway}|{gnet.mac}".encode())
        self._watch_input(0, self.streams[0].stdin)
        self._report("ok")

    def checkpoint(self, directory: str, leave_running: bool) -> dict[str, Any]:
        """Stop the VM, stream its state to `directory`, copy its disk; then go on or end."""
        if self.plan.vm.fs != "disk":
            return {
                "error": "wharfie-vm: this container's VM shares its root filesystem with"
                f" {self.plan.vm.fs}, which QEMU cannot migrate; a container that is to be"
                f" checkpointed needs --annotation {disk.ANNOTATION}=disk"
            }
        if self.phase != "running":
            return {"error": f"cannot checkpoint a container that is {self.phase}"}
        if any(sid for sid in self.streams):
            return {"error": "cannot checkpoint a container while exec sessions run in it"}
        os.makedirs(directory, exist_ok=True)
        if not self.paused:
            self.m.qmp("stop")
        try:
            self.m.checkpoint(directory, self.plan.tty)
        except BaseException:
            if not self.paused:
                self.m.qmp("cont")
            raise
        if leave_running:
            if not self.paused:
                self.m.qmp("cont")
            self.last_pong = time.monotonic()
        else:  # as runc (CRIU) leaves it: the container's processes are gone
            self.code = 128 + signal.SIGKILL
            self.phase = "stopped"
            self.grace = 0.0
        return {"ok": True}

    def _answer_start(self, error: str | None) -> None:
        if self.report_fd >= 0:
            self._report("ok" if error is None else f"err {error}")
        if self.pending_start is not None:
            hostio.reply(self.pending_start, {"ok": True} if error is None else {"error": error})
            self.pending_start = None

    def _report(self, msg: str) -> None:
        if self.report_fd >= 0:
            try:
                os.write(self.report_fd, msg.encode() + b"\n")
            except OSError:
                pass
            os.close(self.report_fd)
            self.report_fd = -1

    def _end_exec(self, s: Stream) -> None:
        self.streams.pop(s.id, None)
        for fd in {s.out, s.err, s.stdin} - {-1}:
            try:
                self.sel.unregister(fd)
            except (KeyError, ValueError):
                pass
            os.close(fd)
        if s.conn is not None:
            try:
                self.sel.unregister(s.conn)
            except (KeyError, ValueError):
                pass
            s.conn.close()

    # -- the loop -------------------------------------------------------------------------------
    def _on_signal(self, rfd: int) -> None:
        try:
            os.read(rfd, 512)
        except BlockingIOError:
            pass
        sigs, self.signals = self.signals, []
        for sig in sigs:
            if sig == signal.SIGWINCH and self.tty_fd >= 0:
                rows, cols = hostio.get_size(self.tty_fd)
                self.send(proto.WINSIZE, 0, struct.pack("<HH", rows, cols))
            elif sig != signal.SIGCHLD and self.phase in ("running", "starting"):
                self.send(proto.SIGNAL, 0, struct.pack("<i", sig))

    def loop(self) -> int:
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wfd)
        for sig in (*FORWARDED, signal.SIGWINCH, signal.SIGCHLD):
            signal.signal(sig, lambda n, _f: self.signals.append(n))
        self.sel.register(rfd, selectors.EVENT_READ, lambda: self._on_signal(rfd))
        while True:
            for key, _ in self.sel.select(timeout=1.0):
                key.data()
            if self.phase == "stopped":
                return self._finish()
            now = time.monotonic()
            self.dns.expire(now)
            qemu_proc = self.m.qemu
            assert qemu_proc is not None
            if qemu_proc.poll() is not None:
                why = f"QEMU exited with status {qemu_proc.returncode}: {self.m.tail('QEMU')}"
                return self._fail(why)
            if self.deadline and now > self.deadline:
                return self._fail(
                    f"the guest did not boot within {boot_timeout(self.plan.vm.accel):.0f} s"
                    f" (accelerator {self.plan.vm.accel}); the watchdog killed QEMU."
                    f" Last console lines: {self.m.console_tail()}"
                )
            if self.phase in ("created", "starting", "running") and not self.paused:
                if now - self.last_pong > stall_timeout():
                    return self._fail(
                        f"the guest stopped answering for {stall_timeout():.0f} s (accelerator"
                        f" {self.plan.vm.accel}); the watchdog killed QEMU"
                    )
                if now >= self.next_ping:
                    self.send(proto.PING, 0)
                    self.next_ping = now + PING_EVERY

    def _fail(self, why: str) -> int:
        msg = f"wharfie-vm: {why}"
        self.m.kill()
        if self.phase in ("booting", "starting") or self.report_fd >= 0:
            self._answer_start(msg)
        s = self.streams.get(0)
        if s is not None:
            hostio.write_all(s.err, (msg + "\r\n" if s.tty else msg + "\n").encode())
        with open(self.st.path("error"), "w") as f:
            f.write(msg + "\n")
        for ex in list(self.streams.values()):
            if ex.id and ex.conn is not None:
                hostio.reply(ex.conn, {"exit": 255})
        return 255

    def _finish(self) -> int:
        for ex in list(self.streams.values()):
            if ex.id and ex.conn is not None:
                hostio.reply(ex.conn, {"exit": 137})
        self.m.kill(grace=self.grace)
        return self.code if self.code is not None else 255


def run(st: State, plan: Plan, report_fd: int) -> int:
    """The shim's life, in the forked child; returns the container's exit code."""
    shim = Shim(st, plan, report_fd)
    try:
        shim.setup()
        if plan.restore:
            shim.restored()
    except Exception as exc:  # the report is the only way out: every failure goes there
        shim.m.kill()
        shim._report(f"err wharfie-vm: starting the VM: {exc}")
        _trace(st)
        return 255
    try:
        return shim.loop()
    except Exception as exc:  # a bug of ours: the VM must not outlive it, and the cause is told
        shim.m.kill()
        shim._report(f"err wharfie-vm: the shim failed: {exc}")
        _trace(st)
        return 255


def _trace(st: State) -> None:
    import traceback

    with open(st.path("shim.log"), "a") as f:
        traceback.print_exc(file=f)
