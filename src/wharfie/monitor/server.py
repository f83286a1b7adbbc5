"""The monitor: one process supervising every container of the host (see docs/monitor.md).

It listens on `<exec_root>/monitor.sock` (SOCK_SEQPACKET) for wharfied, starts containers
and execs through the OCI runtime (spawn.py), reaps them as their child subreaper,
holds their stdio (stdio.py), writes their logs and serves attached clients.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import time

from wharfie.errors import Conflict, InvalidArgument, NotFound, Unavailable, WharfieError
from wharfie.monitor import adopt, protocol, spawn
from wharfie.monitor.launch import (
    close_all,
    listen_console,
    runtime_error,
    set_size,
    unlink,
    write_json,
)
from wharfie.monitor.loop import Loop, exit_code, read_available
from wharfie.monitor.stdio import Client, Proc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Msg = dict[str, Any]

PR_SET_CHILD_SUBREAPER = 36
HELLO_WAIT = 10.0  # a hello waits at most this long for the starts in flight


class Conn:
    """A daemon connection: requests in, answers and events out (queued if the peer is slow)."""

    __slots__ = ("loop", "outq", "sock")

    def __init__(self, loop: Loop, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock
        self.outq: list[bytes] = []
        sock.setblocking(False)

    def send(self, msg: Msg) -> None:
        if self.sock.fileno() < 0:
            return
        self.outq.append(protocol.encode(msg))
        self._flush()

    def _flush(self) -> None:
        while self.outq:
            try:
                self.sock.send(self.outq[0])
            except BlockingIOError:
                self.loop.set_write(self.sock.fileno(), self._flush)
                return
            except OSError:
                self.outq.clear()
                return
            self.outq.pop(0)
        self.loop.set_write(self.sock.fileno(), None)


class Monitor:
    def __init__(self, exec_root: str) -> None:
        self.exec_root = exec_root
        self.loop = Loop()
        self.procs: dict[str, Proc] = {}  # container id -> init
        self.execs: dict[str, Proc] = {}  # exec id -> exec process
        self.conns: dict[int, Conn] = {}
        self.link: adopt.WardenLink | None = None  # None: run without a warden (tests)
        self.adopted: dict[int, Proc] = {}  # pid -> container re-adopted from a dead worker
        self.seq = 0
        self.hellos: list[tuple[Conn, int]] = []  # waiting for the starts in flight
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    # -- start-up -------------------------------------------------------------------------
    def listen(self) -> None:
        path = os.path.join(self.exec_root, "monitor.sock")
        if os.path.exists(path):
            if _answers(path):
                raise Conflict(f"a monitor already answers on {path}")
            os.unlink(path)
        self.listener.bind(path)
        pid_path = os.path.join(self.exec_root, "monitor.pid")
        with open(pid_path + ".tmp", "w") as f:  # before listen(): whoever connects finds it
            f.write(str(os.getpid()))
        os.rename(pid_path + ".tmp", pid_path)
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.loop.set_read(self.listener.fileno(), self._accept)

    def attach_warden(self, fd: int, holds: dict[str, dict[str, int]]) -> None:
        """Run under a warden (warden.py): hold fds there, and re-adopt what a dead
        worker supervised. Before listen(): wharfied's hello sees the adopted containers."""
        self.link = adopt.WardenLink(self.loop, fd, self._warden_exit)
        adopt.adopt(self, holds)
        self.link.start()

    def _warden_exit(self, pid: int, status: int) -> None:
        proc = self.adopted.pop(pid, None)
        if proc is not None and proc.status == "running":
            self._exited(proc, status)

    def serve(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise Unavailable(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
        self.loop.run()

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn = Conn(self.loop, sock)
        self.conns[sock.fileno()] = conn
        self.loop.set_read(sock.fileno(), lambda: self._request(conn))

    def _request(self, conn: Conn) -> None:
        fd = conn.sock.fileno()
        try:
            data, fds = protocol.recv_fds(conn.sock)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        if not data:
            self.loop.watch(fd)
            del self.conns[fd]
            conn.sock.close()
            return
        req = -1
        try:
            msg = protocol.decode(data)
            req = int(msg.get("req", -1))
            handler = getattr(self, "op_" + str(msg.get("op")).replace("-", "_"), None)
            if handler is None:
                raise InvalidArgument(f"unknown monitor operation {msg.get('op')!r}")
            result = handler(conn, req, msg, fds)
            fds = []
            if result is not None:
                conn.send({"re": req, "ok": result})
        except (ValueError, KeyError, TypeError, OSError, WharfieError) as exc:
            conn.send(protocol.error_reply(req, exc))
        finally:
            for extra in fds:
                os.close(extra)

    def broadcast(self, event: Msg) -> None:
        for conn in list(self.conns.values()):
            conn.send(event)

    # -- operations: each returns the "ok" payload, or None when it answers later ----------
    def op_hello(self, conn: Conn, req: int, msg: Msg, fds: list[int]) -> Msg | None:
        """What runs and what ended. A start still in flight (its daemon was killed while
        it waited) is answered for once it is over: a new daemon must not take a container
        for running with no pid, nor miss that the start failed."""
        close_all(fds)
        if self._starting():
            self.hellos.append((conn, req))
            self.loop.later(HELLO_WAIT, self._answer_hellos)
            return None
        return self._hello()

    def _starting(self) -> bool:
        procs = (*self.procs.values(), *self.execs.values())
        return any(p.status == "starting" for p in procs)

    def _answer_hellos(self) -> None:
        if not self.hellos:
            return
        waiting, self.hellos = self.hellos, []
        answer = self._hello()
        for conn, req in waiting:
            conn.send({"re": req, "ok": answer})

    def _hello(self) -> Msg:
        return {
            "containers": [_status(p) for p in self.procs.values() if p.status != "created"],
            "execs": [_exec_status(p) for p in self.execs.values()],
        }

    def op_start(self, conn: Conn, req: int, msg: Msg, fds: list[int]) -> None:
        close_all(fds)
        cid = str(msg["id"])
        proc = self.procs.get(cid)
        if proc is not None and proc.status in ("starting", "running", "exiting"):
            raise Conflict(f"container {cid} is already running")
        if proc is None or proc.status == "exited":
            proc = self.procs[cid] = Proc(self.loop, cid, cid, False)
        proc.link = self.link
        proc.status = "starting"
        for client in proc.clients:  # attached before the start (`docker run -it`)
            client.hold()
        try:
            self._launch(conn, req, proc, msg, msg["bundle"])
        except BaseException:
            self._drop(proc)
            raise

    def op_exec(self, conn: Conn, req: int, msg: Msg, fds: list[int]) -> None:
        cid, eid = str(msg["container_id"]), str(msg["exec_id"])
        init = self.procs.get(cid)
        if init is None or init.status != "running":
            close_all(fds)
            raise Conflict(f"container {cid} is not running")
        if eid in self.execs:
            close_all(fds)
            raise Conflict(f"exec {eid} already started")
        proc = self.execs[eid] = Proc(self.loop, eid, cid, True)
        proc.status = "starting"
        proc.link = self.link  # its stdio and session outlive a crash of this worker
        if fds:
            opts = _attach_opts(msg.get("attach") or {})
            Client(self.loop, proc, fds.pop(0), opts)
            close_all(fds)
        try:
            self._launch(conn, req, proc, msg, None)
        except BaseException:
            self._drop(proc)
            raise

    def op_attach(self, conn: Conn, req: int, msg: Msg, fds: list[int]) -> Msg:
        if len(fds) != 1:
            close_all(fds)
            raise InvalidArgument("attach needs exactly one socket fd")
        cid = str(msg["id"])
        proc = self.procs.get(cid)
        if proc is None:
            proc = self.procs[cid] = Proc(self.loop, cid, cid, False)  # created, not started
        if proc.status == "exited":
            os.close(fds[0])
            return {}
        Client(self.loop, proc, fds[0], _attach_opts(msg))
        return {}

    def op_resize(self, conn: Conn, req: int, msg: Msg, fds: list[int]) -> Msg:
        close_all(fds)
        target = str(msg["id"])
        proc = self.procs.get(target) or self.execs.get(target)
        if proc is None or proc.status == "created":
            raise NotFound(f"no such container or exec: {target}")
        if proc.master >= 0:
            set_size(proc.master, int(msg["height"]), int(msg["width"]))
        return {}

    def op_signal(self, conn: Conn, req: int, msg: Msg, fds: list[int]) -> Msg:
        close_all(fds)
        cid = str(msg["id"])
        proc = self.procs.get(cid) or self.execs.get(cid)  # a container or an exec
        if proc is None or proc.status != "running":
            raise NotFound(f"container {cid} is not running")
        if proc.pidfd >= 0:  # adopted: the warden reaps it, so its pid alone could be stale
            signal.pidfd_send_signal(proc.pidfd, int(msg["signal"]))
        else:  # our child: its pid is not reused before we reap it
            os.kill(proc.pid, int(msg["signal"]))
        return {}

    def op_forget(self, conn: Conn, req: int, msg: Msg, fds: list[int]) -> Msg:
        close_all(fds)
        cid = str(msg["id"])
        proc = self.procs.get(cid)
        if proc is not None and proc.status == "created":  # attached, never started (removed)
            self._drop(proc)
        elif proc is not None and proc.status == "exited":
            del self.procs[cid]
            adopt.remove(self.exec_root, cid)
            for eid in [e for e, p in self.execs.items() if p.container_id == cid]:
                if self.execs[eid].status == "exited":
                    del self.execs[eid]
                    adopt.remove(self.exec_root, eid)
        return {}

    def op_runtime(self, conn: Conn, req: int, msg: Msg, fds: list[int]) -> None:
        close_all(fds)
        ref = msg["runtime"]
        argv = ["--root", str(ref["root"]), *[str(a) for a in msg["args"]]]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            pid = spawn.spawn(_path(ref), argv, (self.devnull, out_w, err_w), err_w)
        finally:
            os.close(out_w)
            os.close(err_w)
        bufs = [b"", b""]
        since = self.loop.mark()
        for i, fd in enumerate((out_r, err_r)):
            os.set_blocking(fd, False)
            self.loop.set_read(fd, lambda i=i, fd=fd: _collect(bufs, i, fd))  # type: ignore[misc]

        def done(status: int) -> None:
            for i, fd in enumerate((out_r, err_r)):
                bufs[i] += read_available(fd, 64 << 20)
                self.loop.watch(fd)
                os.close(fd)
            out, err = (b.decode(errors="replace") for b in bufs)
            conn.send({"re": req, "ok": {"rc": exit_code(status), "stdout": out, "stderr": err}})

        self.loop.wait_pid(pid, done, since)

    # -- launching ------------------------------------------------------------------------
    def _launch(self, conn: Conn, req: int, proc: Proc, msg: Msg, bundle: str | None) -> None:
        ref = msg["runtime"]
        path = _path(ref)
        proc.tty = bool(msg.get("tty"))
        proc.want_stdin = bool(msg.get("open_stdin") if bundle else msg.get("stdin"))
        if bundle is not None:
            proc.stdin_once = bool(msg.get("stdin_once"))
            proc.stdin_eof = proc.stdin_eof and proc.stdin_once
            if msg.get("log_path"):
                from wharfie.logs import Writer

                proc.writer = Writer(
                    str(msg["log_path"]),
                    int(msg.get("log_max_size") or 0),
                    int(msg.get("log_max_file") or 1),
                )
        files = self._files(proc, bundle)
        child_fds, console = self._stdio(proc, msg.get("console_size"))
        argv = ["--root", str(ref["root"])]
        if path is not None:
            argv += ["--log", files["log"], "--log-format", "json"]
        if bundle is not None and msg.get("restore"):
            argv += ["restore", "-d", "--image-path", str(msg["restore"])]
            argv += ["--bundle", bundle, "--pid-file", files["pid"]]
        elif bundle is not None:
            argv += ["run", "-d", "--bundle", bundle, "--pid-file", files["pid"]]
        else:
            process = dict(msg["process"])
            process["terminal"] = proc.tty
            write_json(files["process"], process)
            argv += ["exec", "-d", "--pid-file", files["pid"], "--process", files["process"]]
        if console:
            argv += ["--console-socket", console]
        argv.append(proc.container_id)
        err_r, err_w = os.pipe()
        t0 = time.monotonic()
        since = self.loop.mark()  # the runtime and the process it starts are newer than this
        try:
            pid = spawn.spawn(path, argv, child_fds, err_w)
        finally:
            os.close(err_w)
            for fd in set(child_fds) - {self.devnull}:
                os.close(fd)
        os.set_blocking(err_r, False)

        def ran(status: int) -> None:
            self._launched(conn, req, proc, status, err_r, files, path is None, t0, since)

        self.loop.wait_pid(pid, ran, since)

    def _files(self, proc: Proc, bundle: str | None) -> dict[str, str]:
        if bundle is not None:
            return {
                "pid": os.path.join(bundle, "init.pid"),
                "log": os.path.join(bundle, "runtime-log.json"),
            }
        base = os.path.join(self.exec_root, "execs")
        os.makedirs(base, exist_ok=True)
        stem = os.path.join(base, proc.key)
        return {"pid": stem + ".pid", "log": stem + "-log.json", "process": stem + ".json"}

    def _stdio(self, proc: Proc, size: Any) -> tuple[tuple[int, int, int], str | None]:
        """The runtime's stdio (which the process inherits) and the console socket path."""
        if proc.tty:
            self.seq += 1
            path = os.path.join(self.exec_root, f"console-{os.getpid()}-{self.seq}.sock")
            listen_console(self.loop, proc, path, size)
            return (self.devnull, self.devnull, self.devnull), path
        stdin = self.devnull
        if proc.want_stdin:
            stdin, ours = os.pipe()
            proc.set_stdin(ours)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        proc.add_output(out_r, 1)
        proc.add_output(err_r, 2)
        return (stdin, out_w, err_w), None

    def _launched(
        self, conn: Conn, req: int, proc: Proc, status: int, err_r: int, files: dict[str, str],
        in_process: bool, t0: float, since: int,
    ) -> None:  # fmt: skip
        err = read_available(err_r).decode(errors="replace")
        os.close(err_r)
        rc = exit_code(status)
        # the runtime's message is read from its log before an exec's files are removed
        message = runtime_error(err, None if in_process else files["log"], rc) if rc else ""
        if "process" in files:  # an exec: its files are ours to remove
            for name in ("process", "log"):
                unlink(files[name])
        if rc != 0:
            self._drop(proc)
            conn.send({"re": req, "error": {"kind": "Start", "message": message}})
            return
        try:
            with open(files["pid"]) as f:
                proc.pid = int(f.read().strip())
            if "process" in files:
                unlink(files["pid"])
        except (OSError, ValueError) as exc:
            self._drop(proc)
            conn.send(protocol.error_reply(req, Unavailable(f"reading {files['pid']}: {exc}")))
            return
        proc.status = "running"
        proc.started_at = time.time()
        proc.on_done = self._done
        conn.send(
            {"re": req, "ok": {"pid": proc.pid, "ms": round((time.monotonic() - t0) * 1000, 2)}}
        )
        if self.hellos and not self._starting():
            self._answer_hellos()
        # after the answer: the start's latency does not pay for it
        proc.start_time = adopt.start_time(proc.pid)
        adopt.save(self.exec_root, _state(proc))
        if not proc.want_stdin and proc.stdin_fd < 0:
            proc.stdin_buf = b""
        self.loop.wait_pid(proc.pid, lambda st: self._exited(proc, st), since)

    def _exited(self, proc: Proc, status: int) -> None:
        proc.exit_code = exit_code(status)
        proc.finished_at = time.time()
        adopt.save(self.exec_root, _state(proc))  # first: a crash must not lose the code
        proc.status = "exiting"
        proc.draining = True
        if not proc.outs and not proc.pty_pending:
            proc.finish()
        elif proc.outs:
            self.loop.later(0.1, proc.drain_now)
        else:  # the pty's message was sent before the runtime exited, and is read after this
            self.loop.later(2.0, proc.drain_now)

    def _done(self, proc: Proc) -> None:
        if proc.is_exec:
            self.broadcast({
                "event": "exec-exit", "container_id": proc.container_id, "id": proc.container_id,
                "exec_id": proc.key, "exit_code": proc.exit_code,
            })  # fmt: skip
            adopt.remove(self.exec_root, proc.key)  # the record in self.execs tells `hello`
        else:
            self.broadcast({
                "event": "exit", "id": proc.key, "exit_code": proc.exit_code,
                "finished_at": proc.finished_at,
            })  # fmt: skip

    def _drop(self, proc: Proc) -> None:
        """A start that failed: no process, no record; attached clients are closed."""
        proc.close_fds()
        if proc.writer is not None:
            proc.writer.close()
            proc.writer = None
        for client in list(proc.clients):
            client.close()
        table = self.execs if proc.is_exec else self.procs
        if table.get(proc.key) is proc:
            del table[proc.key]
        if self.hellos and not self._starting():
            self._answer_hellos()


def _answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _path(ref: Msg) -> str | None:
    return None if ref.get("in_process") else str(ref["path"])


def _attach_opts(msg: Msg) -> Msg:
    keys = protocol.from_hex(msg.get("detach_keys"))
    if keys is None and msg.get("stdin"):
        keys = protocol.DEFAULT_DETACH_KEYS
    return {**msg, "detach_keys": keys}


def _status(p: Proc) -> Msg:
    running = p.status in ("starting", "running", "exiting")
    return {
        "id": p.key, "pid": p.pid, "status": "running" if running else "exited",
        "exit_code": p.exit_code if not running else None, "started_at": p.started_at,
        "finished_at": p.finished_at if not running else None,
    }  # fmt: skip


def _state(p: Proc) -> adopt.State:
    w = p.writer
    return adopt.State(
        id=p.key, pid=p.pid, start_time=p.start_time, tty=p.tty, want_stdin=p.want_stdin,
        stdin_once=p.stdin_once, log_path=w.path if w else None,
        log_max_size=w.max_size if w else 0, log_max_file=w.max_file if w else 1,
        started_at=p.started_at, status="running" if p.exit_code is None else "exited",
        exit_code=p.exit_code, finished_at=p.finished_at,
        container_id=p.container_id if p.is_exec else None,
    )  # fmt: skip


def _exec_status(p: Proc) -> Msg:
    return {
        "container_id": p.container_id, "exec_id": p.key, "pid": p.pid,
        "status": "exited" if p.status == "exited" else "running",
        "exit_code": p.exit_code if p.status == "exited" else None,
    }  # fmt: skip


def _collect(bufs: list[bytes], i: int, fd: int) -> None:
    bufs[i] += read_available(fd, 64 << 20)
