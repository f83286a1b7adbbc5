"""The worker's side of the warden (warden.py), container state files, and re-adoption.

Every container the monitor starts gets `<exec_root>/monitor-state/<id>.json` (pid, the
pid's start time, stdio and log settings; the exit code once it exited), removed by
`forget`. A new worker reads these files and re-adopts: a running container's held fds
(inherited from the warden at the same numbers) become its stdio again, its exit status
comes from the warden, which is its parent now. See docs/monitor.md.
"""

from __future__ import annotations

import os
import select
import socket
import sys
from dataclasses import asdict, dataclass

from wharfie.monitor import protocol

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wharfie.monitor.loop import Loop
    from wharfie.monitor.server import Monitor

STATE_DIR = "monitor-state"
UNKNOWN_EXIT = 255 << 8  # a wait status meaning exit code 255: nobody saw how it ended


class WardenLink:
    """Hold/drop fds at the warden, claim exit statuses, receive re-parented exits."""

    def __init__(self, loop: Loop, fd: int, on_exit: Callable[[int, int], None]) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=fd)
        self.sock.settimeout(2.0)
        self.loop = loop
        self.on_exit = on_exit
        self.alive = True
        self.stash: list[tuple[int, int]] = []  # exits received while waiting for a reply
        self.seq = 0
        # holds and drops wait for the end of the loop's iteration and go as one message:
        # an exec's three holds (stdout, stderr, the client) and its three drops were six
        # wake-ups of the warden. A hold carries a duplicate of the fd, so the fd may be
        # closed (and its number reused) before the message leaves.
        self.pending: list[dict[str, Any]] = []
        self.pending_fds: list[int] = []
        self.flush_armed = False

    def start(self) -> None:
        """Deliver exits as they come (after adoption) through the loop."""
        for pid, status in self.stash:
            self.on_exit(pid, status)
        self.stash.clear()
        if self.alive:
            self.sock.setblocking(False)
            self.loop.set_read(self.sock.fileno(), self._readable)

    def hold(self, key: str, role: str, fd: int) -> None:
        if self.alive:
            self.pending.append({"op": "hold", "key": key, "role": role})
            self.pending_fds.append(os.dup(fd))
            self._arm()

    def drop(self, key: str, role: str | None = None) -> None:
        if self.alive:
            self.pending.append({"op": "drop", "key": key, "role": role})
            self._arm()

    def _arm(self) -> None:
        if not self.flush_armed:
            self.flush_armed = True
            self.loop.later(0, self.flush)  # after the events at hand, before the next poll

    def flush(self) -> None:
        """Send the pending holds and drops, in order, as few messages as the fd limit
        allows (protocol.MAX_FDS per message)."""
        self.flush_armed = False
        ops, fds = self.pending, self.pending_fds
        self.pending, self.pending_fds = [], []
        try:
            while ops:
                batch: list[dict[str, Any]] = []
                n = 0
                while ops and (ops[0]["op"] != "hold" or n < protocol.MAX_FDS):
                    op = ops.pop(0)
                    n += op["op"] == "hold"
                    batch.append(op)
                sent, fds_left = fds[:n], fds[n:]
                msg = batch[0] if len(batch) == 1 else {"op": "batch", "ops": batch}
                try:
                    self._send(msg, sent)
                finally:
                    for fd in sent:
                        os.close(fd)
                fds = fds_left
        finally:
            for fd in fds:
                os.close(fd)

    def claim(self, pids: list[int]) -> dict[str, Any]:
        """For each pid: its wait status (exited), "running" (the warden's child) or "gone".
        The warden also kills the runtimes the dead worker left running."""
        self.flush()
        if not self.alive:
            return {}
        self.seq += 1
        self._send({"op": "claim", "req": self.seq, "pids": pids}, [])
        while self.alive:
            msg = self._recv()
            if msg is None:
                break
            if "exit" in msg:
                self.stash.append((int(msg["exit"]), int(msg["status"])))
            elif msg.get("re") == self.seq:
                answer: dict[str, Any] = msg.get("pids") or {}
                if msg.get("killed"):
                    sys.stderr.write(f"wharfie-monitor: killed orphaned runtimes {msg['killed']}\n")
                return answer
        return {}

    def _send(self, msg: dict[str, Any], fds: list[int]) -> None:
        if not self.alive:
            return
        data = protocol.encode(msg)
        try:
            for _ in range(100):  # the warden reads at once: a full buffer is a hiccup
                try:
                    socket.send_fds(self.sock, [data], fds) if fds else self.sock.send(data)
                    return
                except BlockingIOError:
                    select.select([], [self.sock], [], 0.02)
            raise TimeoutError("the warden does not read")
        except OSError as exc:
            self._lost(f"sending to the warden: {exc}")

    def _recv(self) -> dict[str, Any] | None:
        msg = protocol.recv_message(self.sock)
        if msg is None:
            self._lost("the warden closed its end")
        return msg

    def _readable(self) -> None:
        while self.alive:
            try:
                msg = protocol.recv_message(self.sock, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            if msg is None:
                self._lost("the warden is gone")
                return
            if "exit" in msg:
                self.on_exit(int(msg["exit"]), int(msg["status"]))

    def _lost(self, why: str) -> None:
        if not self.alive:
            return
        self.alive = False
        sys.stderr.write(f"wharfie-monitor: {why}: a monitor crash would now lose stdio\n")
        sys.stderr.flush()
        if self.sock.fileno() in self.loop.cbs:
            self.loop.watch(self.sock.fileno())


@dataclass
class State:
    """What a new worker needs to supervise a running container again."""

    id: str
    pid: int
    start_time: str | None
    tty: bool
    want_stdin: bool
    stdin_once: bool
    log_path: str | None
    log_max_size: int
    log_max_file: int
    started_at: float
    status: str = "running"  # running | exited
    exit_code: int | None = None
    finished_at: float | None = None
    container_id: str | None = None  # an exec: the container it runs in (None: an init)


def state_path(exec_root: str, cid: str) -> str:
    return os.path.join(exec_root, STATE_DIR, cid + ".json")


def exit_path(exec_root: str, cid: str) -> str:
    """Where the exit is recorded: a file of its own beside the running state. Renaming a
    new file over an existing one makes ext4 (auto_da_alloc) write the data out first, a
    synchronous flush on every exit when the exec root is on disk; a new name costs none."""
    return os.path.join(exec_root, STATE_DIR, cid + EXITED)


EXITED = ".exited.json"


def save(exec_root: str, st: State) -> None:
    """The running state at start; the exit beside it (`exit_path`), on disk before anyone
    is told of it. Written in place, without a temp file and a rename: a file cut short by a
    crash is not a JSON object, so `load_all` drops it, which is what a crash just before
    the write would have left (no state yet; or, for the exit, the running state)."""
    from wharfie.oci.jsonio import dumps

    exited = st.status == "exited"
    path = exit_path(exec_root, st.id) if exited else state_path(exec_root, st.id)
    data = dumps(asdict(st)).encode()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    if not exited:  # a start after an exit nobody forgot (a restart): the old exit is void
        _unlink(exit_path(exec_root, st.id))


def remove(exec_root: str, cid: str) -> None:
    _unlink(state_path(exec_root, cid))
    _unlink(exit_path(exec_root, cid))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def load_all(exec_root: str) -> list[State]:
    """One state per container or exec: its exit record when there is one, else its
    running state."""
    from wharfie.oci.jsonio import loads

    base = os.path.join(exec_root, STATE_DIR)
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    out: dict[str, State] = {}
    for name in sorted(names, key=lambda n: n.endswith(EXITED)):  # exits last: they win
        path = os.path.join(base, name)
        if not name.endswith(".json"):
            os.unlink(path)  # a temp file of an older version's crashed save
            continue
        try:
            with open(path) as f:
                st = State(**loads(f.read()))
        except (OSError, ValueError, TypeError) as exc:
            sys.stderr.write(f"wharfie-monitor: dropping unreadable {path}: {exc}\n")
            os.unlink(path)
            continue
        out[st.id] = st
    return list(out.values())


CLIENT_ROLE = "client "


def client_role(opts: dict[str, Any], n: int) -> str:
    """The warden role of an attached client's socket: its options ride in the name, so a
    new worker can serve the client again without a state file per attach."""
    from wharfie.oci.jsonio import dumps

    keys = opts.get("detach_keys")
    wire = {
        "stdin": bool(opts.get("stdin")), "stdout": bool(opts.get("stdout")),
        "stderr": bool(opts.get("stderr")), "tty": bool(opts.get("tty")),
        "close_on_exit": bool(opts.get("close_on_exit", True)),
        "detach_keys": keys.hex() if isinstance(keys, bytes) else None, "n": n,
    }  # fmt: skip
    return CLIENT_ROLE + dumps(wire)


def client_opts(role: str) -> dict[str, Any]:
    from wharfie.oci.jsonio import loads

    opts: dict[str, Any] = loads(role[len(CLIENT_ROLE) :])
    keys = opts.get("detach_keys")
    opts["detach_keys"] = bytes.fromhex(keys) if isinstance(keys, str) else None
    return opts


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat, or None when the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return None if fields[0] in (b"Z", b"X") else fields[19].decode()


def adopt(monitor: Monitor, holds: dict[str, dict[str, int]]) -> None:
    """Take over the containers a dead worker supervised (called before serving)."""
    from wharfie.monitor.stdio import Proc

    link = monitor.link
    states = load_all(monitor.exec_root)
    running = [s.pid for s in states if s.status == "running"]
    answer = link.claim(running) if link is not None else {}
    stashed = dict(link.stash) if link is not None else {}
    if link is not None:
        link.stash = [(p, s) for p, s in link.stash if p not in set(running)]
    for st in states:
        is_exec = st.container_id is not None
        proc = Proc(monitor.loop, st.id, st.container_id or st.id, is_exec)
        proc.link = link
        proc.pid, proc.tty, proc.want_stdin = st.pid, st.tty, st.want_stdin
        proc.stdin_once, proc.started_at = st.stdin_once, st.started_at
        proc.start_time = st.start_time
        (monitor.execs if is_exec else monitor.procs)[st.id] = proc
        if st.status == "exited":
            proc.status, proc.exit_code, proc.finished_at = "exited", st.exit_code, st.finished_at
            if is_exec:  # reported by `hello`; its record goes with the container's
                remove(monitor.exec_root, st.id)
            continue
        roles = holds.pop(st.id, {})
        _restore_stdio(monitor, proc, st, roles)
        proc.status = "running"
        proc.on_done = monitor._done
        verdict = answer.get(str(st.pid), "gone")
        if isinstance(verdict, int):
            monitor._exited(proc, verdict)
        elif st.pid in stashed:
            monitor._exited(proc, stashed[st.pid])
        elif verdict == "running":
            monitor.adopted[st.pid] = proc
            _open_pidfd(proc)
        elif st.start_time is not None and start_time(st.pid) == st.start_time:
            _watch_foreign(monitor, proc)  # alive, but the warden is new: not our child
        else:
            monitor._exited(proc, UNKNOWN_EXIT)
    for key, roles in holds.items():  # held for something with no state: nothing to adopt
        for fd in roles.values():
            os.close(fd)
        if link is not None:
            link.drop(key)
    holds.clear()


def _restore_stdio(monitor: Monitor, proc: Any, st: State, roles: dict[str, int]) -> None:
    if st.log_path:
        from wharfie.logs import Writer

        try:
            proc.writer = Writer(st.log_path, st.log_max_size, st.log_max_file)
        except OSError as exc:
            sys.stderr.write(f"wharfie-monitor: {st.id[:12]}: {exc}\n")
    pty = roles.get("pty", -1)
    if pty >= 0:
        proc.master = pty
        proc.add_output(pty, 1)
        if proc.want_stdin:
            proc.set_stdin(pty)
    for role, stream in (("out", 1), ("err", 2)):
        if role in roles:
            proc.add_output(roles[role], stream)
    if "in" in roles:
        proc.set_stdin(roles["in"])
    if proc.stdin_fd < 0:
        proc.stdin_buf = b""
    from wharfie.monitor.stdio import Client

    for role, fd in roles.items():  # attached sessions: the same socket, served again
        if role.startswith(CLIENT_ROLE):
            try:
                opts = client_opts(role)
            except ValueError:
                os.close(fd)
                continue
            Client(monitor.loop, proc, fd, opts, held_as=role)


def _open_pidfd(proc: Any) -> None:
    try:
        proc.pidfd = os.pidfd_open(proc.pid)
    except OSError:
        proc.pidfd = -1


def _watch_foreign(monitor: Monitor, proc: Any) -> None:
    """A live container that is nobody's child we can wait for: its pidfd tells the exit
    (the code is unknown: 255, as Docker reports a container whose exit nobody saw)."""
    _open_pidfd(proc)
    if proc.pidfd < 0:
        monitor._exited(proc, UNKNOWN_EXIT)
        return

    def gone() -> None:
        monitor.loop.watch(proc.pidfd)
        monitor._exited(proc, UNKNOWN_EXIT)

    monitor.loop.set_read(proc.pidfd, gone)
