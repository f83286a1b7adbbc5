"""The warden: the monitor's parent, so that a monitor crash costs no container and no byte.

`python -m wharfie.monitor` runs this. It takes `<exec_root>/monitor.lock` (one warden per
exec root; the flock goes with the process, so a crashed warden never blocks the next),
pre-imports the runtime, becomes a child subreaper and forks the monitor proper (the
worker, `server.Monitor`), which is a subreaper too: container inits are the worker's
children. When the worker dies, its children are re-parented to the warden, which

* reaps them and forwards each exit status to the next worker (kept by pid while no
  worker is connected), so exit codes are never lost;
* holds a duplicate of every fd that is the supervisor's end of a container's stdio
  (stdout/stderr pipe read ends, the stdin write end, the pty master), sent to it by the
  worker with SCM_RIGHTS. A pipe keeps a reader, so the container never gets EPIPE or
  SIGPIPE, and what it writes waits in the pipe; stdin never sees a spurious EOF; the pty
  never hangs up. The next worker is forked from the warden and so inherits these fds at
  the same numbers: it re-adopts the containers (adopt.py) and reads on where the dead
  one stopped;
* forks a new worker at once (backing off if workers keep dying within a second).

The warden does nothing else: no requests from wharfied, no container I/O, so it has
little reason to die. If it is killed, the worker keeps working (re-parented to init);
only a second crash, of the worker, would then lose stdio and exit codes.

Warden <-> worker: a SOCK_SEQPACKET socketpair, JSON datagrams (monitor.protocol).
Worker -> warden: {"op": "hold", "key", "role"} + one fd; {"op": "drop", "key",
"role"?}; {"op": "claim", "req", "pids"} -> {"re", "pids": {pid: status | "running" |
"gone"}}. Warden -> worker: {"exit": pid, "status": wait status} for re-parented children.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import select
import signal
import socket
import sys
import time

from wharfie.monitor import protocol

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

PR_SET_CHILD_SUBREAPER = 36
_MAX_ORPHANS = 4096
LOCK_NAME = "monitor.lock"
PID_NAME = "warden.pid"


def set_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def take_lock(exec_root: str) -> int | None:
    """The warden's lock fd, or None when another warden of this exec root holds it."""
    fd = os.open(os.path.join(exec_root, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lock_held(exec_root: str) -> bool:
    """Whether a warden lives for `exec_root` (its flock is taken)."""
    fd = take_lock(exec_root)
    if fd is None:
        return True
    os.close(fd)
    return False


class Warden:
    def __init__(
        self, exec_root: str, lock_fd: int, worker: Callable[[int, dict[str, dict[str, int]]], None]
    ) -> None:
        self.exec_root = exec_root
        self.lock_fd = lock_fd
        self.worker_main = worker  # in the forked worker: (its socket end, the held fds)
        self.holds: dict[str, dict[str, int]] = {}  # key -> role -> fd
        self.orphans: dict[int, int] = {}  # re-parented child pid -> wait status, unclaimed
        self.worker_pid = 0
        self.sock: socket.socket | None = None
        self.deaths: list[float] = []
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.stopping = False

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGCHLD, _noop)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self._fork_worker()
        poller = select.poll()
        poller.register(self.wake_r, select.POLLIN)
        registered = -1
        restart_at = 0.0
        while not self.stopping or self.worker_pid:
            sock_fd = self.sock.fileno() if self.sock is not None else -1
            if sock_fd != registered:
                if registered >= 0:
                    poller.unregister(registered)
                if sock_fd >= 0:
                    poller.register(sock_fd, select.POLLIN)
                registered = sock_fd
            timeout = None
            if not self.worker_pid and not self.stopping:
                timeout = max(0, int((restart_at - time.monotonic()) * 1000))
            try:
                events = poller.poll(timeout)
            except InterruptedError:
                events = []
            for fd, _ in events:
                if fd == self.wake_r:
                    _drain(self.wake_r)
                elif fd == sock_fd:
                    self._message()
            if self._reap() and not self.stopping:
                restart_at = time.monotonic() + self._backoff()
            if not self.worker_pid and not self.stopping and time.monotonic() >= restart_at:
                self._fork_worker()

    def _on_term(self, signum: int, _frame: object) -> None:
        self.stopping = True
        if self.worker_pid:
            try:
                os.kill(self.worker_pid, signum)
            except ProcessLookupError:
                pass

    def _backoff(self) -> float:
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < 10] + [now]
        return 0.0 if len(self.deaths) <= 3 else min(5.0, 0.1 * 2 ** (len(self.deaths) - 3))

    def _fork_worker(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                ours.detach()
                fd = theirs.detach()
                self._child_cleanup(fd)
                self.worker_main(fd, self.holds)
                code = 0
            except BaseException as exc:
                try:
                    sys.stderr.write(f"wharfie-monitor: {exc!r}\n")
                    sys.stderr.flush()
                except OSError:
                    pass
            finally:
                os._exit(code)
        theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self.worker_pid = pid
        for pid_, status in list(self.orphans.items()):  # reaped while no worker listened
            self._send({"exit": pid_, "status": status})
        self.orphans.clear()

    def _child_cleanup(self, sock_fd: int) -> None:
        """In the new worker: keep stdio, its socket and the held fds; close the rest."""
        signal.set_wakeup_fd(-1)
        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        keep = {sock_fd} | {fd for roles in self.holds.values() for fd in roles.values()}
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2 and fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass

    # -- children ------------------------------------------------------------------------
    def _reap(self) -> bool:
        """Reap every exited child; True when it was the worker."""
        worker_died = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.worker_pid:
                worker_died = True
                self.worker_pid = 0
                if self.sock is not None:
                    self.sock.close()
                    self.sock = None
                sys.stderr.write(f"wharfie-monitor: worker {pid} died ({_describe(status)})\n")
                sys.stderr.flush()
                continue
            if not self._send({"exit": pid, "status": status}):
                if len(self.orphans) >= _MAX_ORPHANS:
                    self.orphans.pop(next(iter(self.orphans)))
                self.orphans[pid] = status
        return worker_died

    # -- the worker's requests -----------------------------------------------------------
    def _message(self) -> None:
        sock = self.sock
        if sock is None:
            return
        while True:
            try:
                data, fds = protocol.recv_fds(sock, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:  # the worker closed its end: it is dying; SIGCHLD follows
                return
            try:
                self._handle(protocol.decode(data), fds)
            except (ValueError, KeyError, TypeError) as exc:
                sys.stderr.write(f"wharfie-monitor: warden: bad message: {exc}\n")
                for fd in fds:
                    os.close(fd)

    def _handle(self, msg: dict[str, Any], fds: list[int]) -> None:
        op = msg.get("op")
        key = str(msg.get("key"))
        if op == "batch":  # holds and drops in order; each hold takes the next fd
            for sub in msg["ops"]:
                n = 1 if sub.get("op") == "hold" else 0
                self._handle(sub, fds[:n])
                del fds[:n]
            for fd in fds:
                os.close(fd)
        elif op == "hold":
            role = str(msg["role"])
            roles = self.holds.setdefault(key, {})
            old = roles.pop(role, None)
            if old is not None:
                os.close(old)
            roles[role] = fds.pop(0)
            for fd in fds:
                os.close(fd)
        elif op == "drop":
            roles = self.holds.get(key, {})
            for role in [msg["role"]] if msg.get("role") else list(roles):
                held = roles.pop(str(role), -1)
                if held >= 0:
                    os.close(held)
            if not roles:
                self.holds.pop(key, None)
        elif op == "claim":
            self._reap()
            me = os.getpid()
            answer: dict[str, Any] = {}
            for pid in (int(p) for p in msg["pids"]):
                if pid in self.orphans:
                    answer[str(pid)] = self.orphans.pop(pid)
                else:
                    answer[str(pid)] = "running" if parent_of(pid) == me else "gone"
            self._send({"re": msg.get("req"), "pids": answer, "killed": self._kill_runtimes()})
        else:
            raise ValueError(f"unknown warden operation {op!r}")

    def _kill_runtimes(self) -> list[int]:
        """SIGKILL what a dead worker left half done: runtimes forked in-process (and the
        inits they had not exec'd yet) are children that still run the monitor's own
        command line. A start cut short must not finish behind the next worker's back;
        the daemon's clean-up (`delete --force`) then finds it whole or absent. Safe by
        pid: they are our children, not reaped yet."""
        me, worker = os.getpid(), self.worker_pid
        try:
            with open(f"/proc/{me}/cmdline", "rb") as f:
                ours = f.read()
        except OSError:
            return []
        killed: list[int] = []
        for _ in range(50):  # a killed runtime's own children come to us: again until none
            found = []
            for name in os.listdir("/proc"):
                pid = int(name) if name.isdigit() else 0
                if not pid or pid in (me, worker) or pid in killed or parent_of(pid) != me:
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if f.read() != ours:
                            continue
                    os.kill(pid, signal.SIGKILL)
                    found.append(pid)
                except OSError:
                    continue
            if not found and not any(parent_of(p) == me for p in killed):
                break
            killed += found
            time.sleep(0.01)
        return killed

    def _send(self, msg: dict[str, Any]) -> bool:
        if self.sock is None:
            return False
        try:
            self.sock.setblocking(True)  # small datagrams; the worker reads them promptly
            self.sock.settimeout(2.0)
            self.sock.send(protocol.encode(msg))
            return True
        except OSError:
            return False
        finally:
            if self.sock is not None:
                self.sock.setblocking(False)


def parent_of(pid: int) -> int:
    """The parent pid of a live (not zombie) process, else 0."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return 0
    return int(fields[1])


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
    except OSError as exc:
        if exc.errno != errno.EAGAIN:
            raise


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {os.waitstatus_to_exitcode(status)}"


def _noop(_signum: int, _frame: object) -> None:
    return None
