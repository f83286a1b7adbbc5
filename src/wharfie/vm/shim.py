"""The per-container shim: one small process that holds a container's VM.

It is forked by `wharfie-vm create`/`run` and outlives it (reparented to whoever reaps the
container, e.g. the engine's monitor); its pid is the container's pid and its exit status is
the container's exit code. It:

* makes the share in a private mount namespace (`<state>/share`: the rootfs and every bind
  mount of the spec, read-only ones bound read-only), so nothing it mounts can leak onto the
  host: the mounts die with the shim and its virtiofsd;
* inside the container's network namespace, wires a tap to eth0 (`net.py`);
* starts virtiofsd and QEMU (both die with the shim: PR_SET_PDEATHSIG);
* speaks the agent protocol (`proto.py`) over the virtio-serial socket: the container's and
  exec processes' stdio, signals, terminal sizes, exit codes;
* serves the CLI on `<state>/shim.sock` (start, state, kill, pause, resume, exec, winsize);
* runs the watchdog: a guest that does not boot in time, or stops answering pings, has its
  QEMU killed and the reason reported (to `create`, or on the container's stderr).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from wharfie import syscalls
from wharfie.errors import WharfieError
from wharfie.vm import disk, dnsrelay, hostio, net, proto, qemu, snapshot
from wharfie.vm.state import State, proc_of

PING_EVERY = 5.0
FORWARDED = (
    signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
    signal.SIGUSR2, signal.SIGALRM, signal.SIGCONT, signal.SIGPWR,
)  # fmt: skip
PR_SET_PDEATHSIG = 1


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


@dataclass
class Plan:
    vm: qemu.VMConfig
    records: list[str]
    shares: list[proto.Share]
    rootfs: str
    root_readonly: bool
    netns: str | None
    tty: bool
    console_socket: str | None
    start_now: bool
    cgroups_path: str | None = None
    restore: str | None = None  # a checkpoint directory: resume that VM instead of booting


class ShimError(Exception):
    pass


def _pdeathsig() -> None:
    syscalls.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Shim:
    def __init__(self, st: State, plan: Plan, report_fd: int) -> None:
        self.st = st
        self.plan = plan
        self.report_fd = report_fd
        self.sel = selectors.DefaultSelector()
        self.paths = qemu.paths(st.dir)
        self.qemu: subprocess.Popen[bytes] | None = None
        self.vfsd: subprocess.Popen[bytes] | None = None
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
        self.gnet: net.GuestNet | None = None
        self.dns = dnsrelay.Relay(self.sel, lambda tag, r: self.send(proto.DNS_ANSWER, tag, r))

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        syscalls.unshare(syscalls.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_SLAVE, None)
        os.makedirs(os.path.dirname(self.paths["agent"]), mode=0o700, exist_ok=True)
        share = self.paths["share"]
        if not self.plan.restore:
            os.makedirs(os.path.join(share, "rootfs"), exist_ok=True)
            self._bind(self.plan.rootfs, os.path.join(share, "rootfs"), self.plan.root_readonly)
            for s in self.plan.shares:
                target = os.path.join(share, s.name)
                if os.path.isdir(s.source):
                    os.makedirs(target, exist_ok=True)
                else:
                    open(target, "a").close()  # a mount point
                self._bind(s.source, target, s.readonly)
        if self.plan.vm.fs == "disk":
            image = disk.image_path(self.st.bundle)
            if self.plan.restore:
                disk.copy(os.path.join(self.plan.restore, snapshot.DISK), image + ".tmp")
                os.replace(image + ".tmp", image)
            elif os.path.exists(image):  # started before: what it wrote is there
                disk.refresh(image, self.plan.shares)
            else:
                disk.build(share, image + ".tmp")
                os.replace(image + ".tmp", image)
            self.plan.vm = _replace(self.plan.vm, disk=image)
        tap_fd = None
        if self.plan.netns:
            fd = os.open(self.plan.netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(fd, syscalls.CLONE_NEWNET)
            finally:
                os.close(fd)
            gnet = self.gnet = net.read_eth0()
            if gnet is not None:
                tap_fd = net.open_tap()
                net.wire(gnet)
                self.plan.records.append(gnet.record())
                self.plan.vm = _replace(
                    self.plan.vm, tap_fd=tap_fd, mac=self.plan.vm.mac or gnet.mac
                )
        if self.plan.vm.fs == "virtiofs":
            self.vfsd = subprocess.Popen(
                qemu.virtiofsd_argv(qemu.virtiofsd_binary(), self.st.dir),
                stdin=subprocess.DEVNULL, stdout=self._log("virtiofsd.log"),
                stderr=subprocess.STDOUT, preexec_fn=_pdeathsig, start_new_session=False,
            )  # fmt: skip
            self._wait_for(self.paths["fs"], self.vfsd, "virtiofsd")
        self.qemu = subprocess.Popen(
            qemu.qemu_argv(qemu.qemu_binary(), self.plan.vm),
            stdin=subprocess.DEVNULL, stdout=self._log("qemu.log"), stderr=subprocess.STDOUT,
            preexec_fn=_pdeathsig, pass_fds=(tap_fd,) if tap_fd is not None else (),
        )  # fmt: skip
        if tap_fd is not None:
            os.close(tap_fd)
        self.st.qemu = proc_of(self.qemu.pid)
        self.st.virtiofsd = proc_of(self.vfsd.pid) if self.vfsd is not None else None
        self.st.save()
        self._wait_for(self.paths["agent"], self.qemu, "QEMU")
        self.agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        until = time.monotonic() + 10
        while True:
            try:
                self.agent.connect(self.paths["agent"])
                break
            except ConnectionRefusedError:  # the socket exists, QEMU is not listening yet
                if time.monotonic() > until or self.qemu.poll() is not None:
                    raise ShimError(
                        f"QEMU does not accept connections: {self._tail('QEMU')}"
                    ) from None
                time.sleep(0.005)
        self.agent.setblocking(False)
        self.sel.register(self.agent, selectors.EVENT_READ, self._on_agent)
        if self.plan.restore:
            snapshot.wait_incoming(
                self.paths["qmp"], lambda: self.qemu is not None and self.qemu.poll() is None
            )

    def _bind(self, src: str, dst: str, ro: bool) -> None:
        syscalls.mount(src, dst, None, syscalls.MS_BIND | syscalls.MS_REC, None)
        if ro:
            syscalls.mount(
                None, dst, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY, None
            )

    def _log(self, name: str) -> int:
        return os.open(self.st.path(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC)

    def _wait_for(self, path: str, proc: subprocess.Popen[bytes], what: str) -> None:
        until = time.monotonic() + 10
        while not os.path.exists(path):
            if proc.poll() is not None:
                raise ShimError(f"{what} exited with status {proc.returncode}: {self._tail(what)}")
            if time.monotonic() > until:
                raise ShimError(f"{what} did not create {path} within 10 s")
            time.sleep(0.005)

    def _tail(self, what: str) -> str:
        name = "qemu.log" if what == "QEMU" else "virtiofsd.log"
        try:
            with open(self.st.path(name), errors="replace") as f:
                lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
        except OSError:
            return ""
        return "; ".join(lines[-3:])

    def console_tail(self) -> str:
        try:
            with open(self.paths["console"], errors="replace") as f:
                lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
        except OSError:
            return "(no console output)"
        return " | ".join(lines[-3:]) or "(no console output)"

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
            self._start()
        else:
            self._report("ok")

    def _start(self) -> None:
        self.streams[0] = self.main_stream()
        self.phase = "starting"
        self.send(proto.CONFIG, 0, proto.encode_records(self.plan.records))
        self._watch_input(0, self.streams[0].stdin)

    def restored(self) -> None:
        """The VM was loaded from a checkpoint (paused): attach the container's stdio, let
        it run on, set the clock, and give the guest this namespace's address and MAC."""
        self.streams[0] = self.main_stream()
        hostio.qmp(self.paths["qmp"], "cont")
        self.phase = "running"
        self.deadline = 0.0
        self.last_pong = time.monotonic()
        now = time.time_ns()
        self.send(proto.SET_TIME, 0, struct.pack("<QI", now // 10**9, now % 10**9))
        if self.gnet is not None:
            self.send(
                proto.NET, 0, f"{self.gnet.cidr}|{self.gnet.gateway}|{self.gnet.mac}".encode()
            )
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
        qmp = self.paths["qmp"]
        if not self.paused:
            hostio.qmp(qmp, "stop")
        try:
            snapshot.migrate_to_file(qmp, os.path.join(directory, snapshot.MEMORY))
            assert self.plan.vm.disk is not None
            disk.copy(self.plan.vm.disk, os.path.join(directory, snapshot.DISK))
            vm = self.plan.vm
            snapshot.save_meta(directory, snapshot.Meta(
                container=self.st.id, kernel=os.path.basename(os.path.dirname(vm.kernel)),
                qemu=snapshot.qemu_version(qemu.qemu_binary()), memory_mib=vm.memory_mib,
                vcpus=vm.vcpus, accel=vm.accel, tsc_khz=vm.tsc_khz, tty=self.plan.tty,
                mac=vm.mac or "", net=self.gnet.record() if self.gnet else "",
                created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            ))  # fmt: skip
        except BaseException:
            if not self.paused:
                hostio.qmp(qmp, "cont")
            raise
        if leave_running:
            if not self.paused:
                hostio.qmp(qmp, "cont")
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

    # -- the control socket ---------------------------------------------------------------------
    def listen(self) -> None:
        path = self.st.sock("shim.sock")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        lsock.bind(path)
        lsock.listen(16)
        lsock.setblocking(False)
        self.sel.register(lsock, selectors.EVENT_READ, lambda: self._accept(lsock))

    def _accept(self, lsock: socket.socket) -> None:
        try:
            conn, _ = lsock.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        self.sel.register(conn, selectors.EVENT_READ, lambda: self._on_control(conn))

    def _on_control(self, conn: socket.socket) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            self.sel.unregister(conn)
            for s in self.streams.values():
                if s.conn is conn:
                    s.conn = None  # the exec client went away; the process runs on
            conn.close()
            return
        try:
            req = json.loads(data)
            answer = self._op(conn, req, fds)
        except (ValueError, KeyError, OSError, WharfieError, ShimError, hostio.HostIOError) as exc:
            answer = {"error": str(exc)}
        if answer is not None:
            hostio.reply(conn, answer)

    def _op(
        self, conn: socket.socket, req: dict[str, Any], fds: list[int]
    ) -> dict[str, Any] | None:
        op = req.get("op")
        if op == "state":
            status = {"booting": "creating", "starting": "created"}.get(self.phase, self.phase)
            return {"status": "paused" if self.paused else status, "pid": os.getpid()}
        if op == "start":
            if self.phase != "created":
                return {"error": f"cannot start a container that is {self.phase}"}
            self.pending_start = conn
            self._start()
            return None
        if op == "kill":
            sig = int(req["signal"])
            if self.phase in ("booting", "created"):  # no process yet: the signal ends the VM
                self.code = 128 + sig
                self.phase = "stopped"
                self.grace = 0.0
                return {"ok": True}
            if req.get("all"):
                self.send(proto.KILL_ALL, 0, struct.pack("<i", sig))
            else:
                self.send(proto.SIGNAL, 0, struct.pack("<i", sig))
            return {"ok": True}
        if op in ("pause", "resume"):
            hostio.qmp(self.paths["qmp"], "stop" if op == "pause" else "cont")
            self.paused = op == "pause"
            self.last_pong = time.monotonic()
            return {"ok": True}
        if op == "exec":
            return self._exec(conn, req, fds)
        if op == "checkpoint":
            return self.checkpoint(str(req["dir"]), bool(req.get("leave_running")))
        if op == "winsize":
            self.send(proto.WINSIZE, int(req["id"]), struct.pack("<HH", req["rows"], req["cols"]))
            return {"ok": True}
        if op == "signal-exec":
            self.send(proto.SIGNAL, int(req["id"]), struct.pack("<i", int(req["signal"])))
            return {"ok": True}
        return {"error": f"unknown operation {op!r}"}

    def _exec(
        self, conn: socket.socket, req: dict[str, Any], fds: list[int]
    ) -> dict[str, Any] | None:
        if self.phase != "running" or self.paused:
            for fd in fds:
                os.close(fd)
            what = "paused" if self.paused else self.phase
            return {"error": f"cannot exec in a container that is {what}"}
        process = req["process"]
        recs = proto.process_records(process)
        sid = self.next_exec
        self.next_exec += 1
        tty = bool(process.get("terminal"))
        if tty:
            (fd,) = fds
            s = Stream(sid, fd, fd, fd, tty=True, conn=conn)
        else:
            stdin, out, err = fds
            s = Stream(sid, out, err, stdin, conn=conn)
        self.streams[sid] = s
        self.send(proto.CONFIG, sid, proto.encode_records(recs))
        self._watch_input(sid, s.stdin)
        return {"id": sid}

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
            assert self.qemu is not None
            if self.qemu.poll() is not None:
                why = f"QEMU exited with status {self.qemu.returncode}: {self._tail('QEMU')}"
                return self._fail(why)
            if self.deadline and now > self.deadline:
                return self._fail(
                    f"the guest did not boot within {boot_timeout(self.plan.vm.accel):.0f} s"
                    f" (accelerator {self.plan.vm.accel}); the watchdog killed QEMU."
                    f" Last console lines: {self.console_tail()}"
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
        self._kill_vm()
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
        self._kill_vm(grace=self.grace)
        return self.code if self.code is not None else 255

    def _kill_vm(self, grace: float = 0.0) -> None:
        for p in (self.qemu, self.vfsd):
            if p is None:
                continue
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            grace = 0.5


def _replace(cfg: qemu.VMConfig, **kw: Any) -> qemu.VMConfig:
    import dataclasses

    return dataclasses.replace(cfg, **kw)


def run(st: State, plan: Plan, report_fd: int) -> int:
    """The shim's life, in the forked child; returns the container's exit code."""
    shim = Shim(st, plan, report_fd)
    try:
        shim.setup()
        shim.listen()
        if plan.restore:
            shim.restored()
    except Exception as exc:  # the report is the only way out: every failure goes there
        shim._kill_vm()
        shim._report(f"err wharfie-vm: starting the VM: {exc}")
        _trace(st)
        return 255
    try:
        return shim.loop()
    except Exception as exc:  # a bug of ours: the VM must not outlive it, and the cause is told
        shim._kill_vm()
        shim._report(f"err wharfie-vm: the shim failed: {exc}")
        _trace(st)
        return 255


def _trace(st: State) -> None:
    import traceback

    with open(st.path("shim.log"), "a") as f:
        traceback.print_exc(file=f)
