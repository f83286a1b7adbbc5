"""The shim's control socket (`<state>/shim.sock`): what the CLI asks of a running VM.

One JSON request per SOCK_SEQPACKET message (with fds for an exec's stdio), one JSON answer:
state, start, kill, pause/resume (QMP stop/cont), exec, winsize, signal-exec, checkpoint.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import struct
import time
from typing import TYPE_CHECKING, Any

from wharfie.errors import WharfieError
from wharfie.vm import hostio, proto
from wharfie.vm.machine import MachineError

if TYPE_CHECKING:
    from wharfie.vm.shim import Shim


class Control:
    def __init__(self, shim: Shim) -> None:
        self.shim = shim

    def listen(self) -> None:
        path = self.shim.st.sock("shim.sock")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        lsock.bind(path)
        lsock.listen(16)
        lsock.setblocking(False)
        self.shim.sel.register(lsock, selectors.EVENT_READ, lambda: self._accept(lsock))

    def _accept(self, lsock: socket.socket) -> None:
        try:
            conn, _ = lsock.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        self.shim.sel.register(conn, selectors.EVENT_READ, lambda: self._on_control(conn))

    def _on_control(self, conn: socket.socket) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            self.shim.sel.unregister(conn)
            for s in self.shim.streams.values():
                if s.conn is conn:
                    s.conn = None  # the exec client went away; the process runs on
            conn.close()
            return
        try:
            req = json.loads(data)
            answer = self._op(conn, req, fds)
        except (
            ValueError,
            KeyError,
            OSError,
            WharfieError,
            MachineError,
            hostio.HostIOError,
        ) as exc:
            answer = {"error": str(exc)}
        if answer is not None:
            hostio.reply(conn, answer)

    def _op(
        self, conn: socket.socket, req: dict[str, Any], fds: list[int]
    ) -> dict[str, Any] | None:
        op = req.get("op")
        if op == "state":
            status = {"booting": "creating", "starting": "created"}.get(
                self.shim.phase, self.shim.phase
            )
            return {"status": "paused" if self.shim.paused else status, "pid": os.getpid()}
        if op == "start":
            if self.shim.phase != "created":
                return {"error": f"cannot start a container that is {self.shim.phase}"}
            self.shim.pending_start = conn
            self.shim.start()
            return None
        if op == "kill":
            sig = int(req["signal"])
            if self.shim.phase in ("booting", "created"):  # no process yet: the signal ends the VM
                self.shim.code = 128 + sig
                self.shim.phase = "stopped"
                self.shim.grace = 0.0
                return {"ok": True}
            if req.get("all"):
                self.shim.send(proto.KILL_ALL, 0, struct.pack("<i", sig))
            else:
                self.shim.send(proto.SIGNAL, 0, struct.pack("<i", sig))
            return {"ok": True}
        if op in ("pause", "resume"):
            self.shim.m.qmp("stop" if op == "pause" else "cont")
            self.shim.paused = op == "pause"
            self.shim.last_pong = time.monotonic()
            return {"ok": True}
        if op == "exec":
            return self._exec(conn, req, fds)
        if op == "checkpoint":
            return self.shim.checkpoint(str(req["dir"]), bool(req.get("leave_running")))
        if op == "winsize":
            self.shim.send(
                proto.WINSIZE, int(req["id"]), struct.pack("<HH", req["rows"], req["cols"])
            )
            return {"ok": True}
        if op == "signal-exec":
            self.shim.send(proto.SIGNAL, int(req["id"]), struct.pack("<i", int(req["signal"])))
            return {"ok": True}
        return {"error": f"unknown operation {op!r}"}

    def _exec(
        self, conn: socket.socket, req: dict[str, Any], fds: list[int]
    ) -> dict[str, Any] | None:
        if self.shim.phase != "running" or self.shim.paused:
            for fd in fds:
                os.close(fd)
            what = "paused" if self.shim.paused else self.shim.phase
            return {"error": f"cannot exec in a container that is {what}"}
        process = req["process"]
        recs = proto.process_records(process)
        sid = self.shim.add_exec(conn, fds, bool(process.get("terminal")))
        self.shim.send(proto.CONFIG, sid, proto.encode_records(recs))
        self.shim.watch_input(sid)
        return {"id": sid}
