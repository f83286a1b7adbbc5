"""A supervised process's stdio (container init or exec) and the clients attached to it.

Output: every chunk read (up to 64 KiB) goes to the log writer and to each attached
client that wants its stream, raw (TTY) or in Docker's multiplexed frames. A client that
cannot keep up gets a buffer of at most CLIENT_BUFFER bytes, then is disconnected: it
never stalls the container or the other clients. Input from clients goes to the
process's stdin (a pipe or the pty master), buffered while the process does not exist yet.
"""

from __future__ import annotations

import errno
import os

from wharfie.monitor.protocol import DetachScanner, frame

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any

    from wharfie.logs import Writer
    from wharfie.monitor.adopt import WardenLink
    from wharfie.monitor.loop import Loop

CHUNK = 65536
CLIENT_BUFFER = 4 << 20
STDIN_BUFFER = 4 << 20
_SPLICE_F_NONBLOCK = 2
_tee: list[Any] = []  # [libc.tee, scratch read fd, scratch write fd], made on first use


def peek(fd: int) -> bytes:
    """Up to CHUNK bytes at the head of pipe `fd`, left in the pipe (tee(2) into a scratch
    pipe); b"" at end of file. BlockingIOError when the pipe is empty."""
    if not _tee:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        tee = libc.tee
        tee.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint)
        tee.restype = ctypes.c_ssize_t
        r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        _tee.extend((tee, r, w, ctypes.get_errno))
    tee, r, w, get_errno = _tee
    n = tee(fd, w, CHUNK, _SPLICE_F_NONBLOCK)
    while n < 0 and get_errno() == errno.EINTR:  # a signal (SIGCHLD): ctypes does not retry
        n = tee(fd, w, CHUNK, _SPLICE_F_NONBLOCK)
    if n < 0:
        err = get_errno()
        if err == errno.EAGAIN:  # empty while writers remain (EOF makes tee return 0)
            raise BlockingIOError(err, os.strerror(err))
        raise OSError(err, os.strerror(err))
    if n == 0:
        return b""
    out = b""
    while len(out) < n:
        out += os.read(r, n - len(out))
    return out


def consume(fd: int, n: int) -> None:
    """Drop `n` bytes that peek() returned (the pipe holds at least that many)."""
    while n > 0:
        n -= len(os.read(fd, n))


class Proc:
    """A container's init or an exec process: fds, buffers and attached clients."""

    __slots__ = (
        "clients", "console", "container_id", "draining", "exit_code", "finished_at", "is_exec",
        "key", "link", "loop", "master", "on_done", "outs", "pid", "pidfd", "pty_pending",
        "start_time",
        "started_at", "status", "stdin_buf", "stdin_eof", "stdin_fd", "stdin_once", "tty",
        "want_stdin", "writer",
    )  # fmt: skip

    def __init__(self, loop: Loop, key: str, container_id: str, is_exec: bool) -> None:
        self.loop = loop
        self.key = key
        self.container_id = container_id
        self.is_exec = is_exec
        self.status = "created"  # created -> starting -> running -> exiting -> exited
        self.pid = 0
        self.exit_code: int | None = None
        self.started_at = 0.0
        self.finished_at: float | None = None
        self.tty = False
        self.want_stdin = False
        self.stdin_once = is_exec
        self.stdin_fd = -1
        self.stdin_buf = b""
        self.stdin_eof = False
        self.master = -1
        # the runtime sent (or will send) the pty master over the console socket and it is not
        # read yet: the process may be seen exiting first, its output still on the way
        self.pty_pending = False
        self.outs: dict[int, int] = {}  # fd -> stream (1 stdout, 2 stderr)
        self.clients: list[Client] = []
        self.writer: Writer | None = None
        self.draining = False
        self.on_done: Callable[[Proc], None] | None = None
        self.console: socket.socket | None = (
            None  # the console-socket listener until the pty arrives
        )
        self.link: WardenLink | None = None  # containers: the warden holds copies of our fds
        self.pidfd = -1  # adopted from a dead worker: signal through the pidfd
        self.start_time: str | None = None

    def _hold(self, role: str, fd: int) -> None:
        if self.link is not None:
            self.link.hold(self.key, role, fd)

    def _unhold(self, role: str | None) -> None:
        if self.link is not None:
            self.link.drop(self.key, role)

    def _role(self, fd: int) -> str:
        return "pty" if fd == self.master else ("out" if self.outs.get(fd) == 1 else "err")

    # -- output ---------------------------------------------------------------------------
    def add_output(self, fd: int, stream: int) -> None:
        os.set_blocking(fd, False)
        self.outs[fd] = stream
        self._hold(self._role(fd), fd)
        self.loop.set_read(fd, lambda: self._readable(fd))

    def _readable(self, fd: int) -> None:
        if fd != self.master:
            self._readable_pipe(fd)
            return
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the pty's last slave is closed
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._close_output(fd)
            return
        self.output(self.outs[fd], data)

    def _readable_pipe(self, fd: int) -> None:
        """Copy what the pipe holds (tee), log and forward it, and only then consume it:
        a monitor killed in between leaves the bytes in the pipe for the next one."""
        try:
            data = peek(fd)
        except BlockingIOError:
            return
        if not data:
            self._close_output(fd)
            return
        self.output(self.outs[fd], data)
        consume(fd, len(data))

    def output(self, stream: int, data: bytes) -> None:
        if self.writer is not None:
            self.writer.write(stream, data)
        for client in list(self.clients):
            client.send(stream, data)

    def _close_output(self, fd: int) -> None:
        self.loop.set_read(fd, None)
        self._unhold(self._role(fd))
        del self.outs[fd]
        if fd == self.master:
            if self.loop.cbs.get(fd):
                return  # still writing stdin into it; closed in close_fds
            self.master = -1
            if self.stdin_fd == fd:
                self.stdin_fd = -1
        os.close(fd)
        if self.draining and not self.outs:
            self.finish()

    def drain_now(self) -> None:
        """After the grace period: take what the pipes hold and stop reading them."""
        for fd in list(self.outs):
            stream = self.outs[fd]
            from wharfie.monitor.loop import read_available

            data = read_available(fd)
            if data:
                self.output(stream, data)
            if fd in self.outs:
                self._close_output(fd)
        if self.draining:
            self.finish()

    def finish(self) -> None:
        """Output is drained: flush logs, end the clients, close stdin, report the exit."""
        if not self.draining:
            return
        self.draining = False
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        for client in list(self.clients):
            if client.close_on_exit:
                client.end()
        self.close_fds()
        self.status = "exited"
        if self.on_done is not None:
            self.on_done(self)

    # -- input ----------------------------------------------------------------------------
    def set_stdin(self, fd: int) -> None:
        if fd != self.master:
            os.set_blocking(fd, False)
            self._hold("in", fd)
        self.stdin_fd = fd
        self.flush_stdin()

    def input(self, data: bytes) -> None:
        if not data or (self.status not in ("created", "starting") and self.stdin_fd < 0):
            return
        if len(self.stdin_buf) + len(data) > STDIN_BUFFER:
            data = data[: max(0, STDIN_BUFFER - len(self.stdin_buf))]
        self.stdin_buf += data
        self.flush_stdin()

    def end_input(self) -> None:
        """A client half-closed: close stdin once the buffered input is written."""
        self.stdin_eof = True
        self.flush_stdin()

    def flush_stdin(self) -> None:
        fd = self.stdin_fd
        if fd < 0:
            return
        while self.stdin_buf:
            try:
                n = os.write(fd, self.stdin_buf)
            except BlockingIOError:
                self.loop.set_write(fd, self.flush_stdin)
                return
            except OSError:  # EPIPE: the process closed its stdin
                self.stdin_buf = b""
                break
            self.stdin_buf = self.stdin_buf[n:]
        self.loop.set_write(fd, None)
        if self.stdin_eof and fd != self.master:
            self.stdin_fd = -1
            self._unhold("in")  # the warden's copy first: the process sees EOF when both go
            os.close(fd)

    def close_fds(self) -> None:
        if self.outs or self.stdin_fd >= 0 or self.master >= 0:
            self._unhold(None)
        if self.pidfd >= 0:
            if self.pidfd in self.loop.cbs:
                self.loop.watch(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = -1
        for fd in list(self.outs):
            self.loop.watch(fd)
            os.close(fd)
        self.outs.clear()
        if self.stdin_fd >= 0:
            self.loop.watch(self.stdin_fd)
            if self.stdin_fd != self.master:
                os.close(self.stdin_fd)
            self.stdin_fd = -1
        if self.master >= 0:
            self.loop.watch(self.master)
            os.close(self.master)
            self.master = -1
        self.stdin_buf = b""
        self.close_console()

    def close_console(self) -> None:
        sock = self.console
        self.console = None
        if sock is not None:
            if sock.fileno() >= 0:
                self.loop.watch(sock.fileno())
            sock.close()


class Client:
    """An attached socket (handed over by the daemon after its HTTP 101)."""

    __slots__ = (
        "close_on_exit", "fd", "held", "loop", "out", "proc", "reading", "scanner", "stderr",
        "stdin", "stdout", "tty",
    )  # fmt: skip
    _count = 0

    def __init__(
        self, loop: Loop, proc: Proc, fd: int, opts: dict[str, object], held_as: str = ""
    ) -> None:
        self.loop = loop
        self.proc = proc
        self.fd = fd
        self.stdin = bool(opts.get("stdin"))
        self.stdout = bool(opts.get("stdout"))
        self.stderr = bool(opts.get("stderr"))
        self.tty = bool(opts.get("tty"))
        self.close_on_exit = bool(opts.get("close_on_exit", True))
        keys = opts.get("detach_keys")
        self.scanner = DetachScanner(keys) if self.stdin and isinstance(keys, bytes) else None
        self.out = b""
        self.reading = self.stdin
        os.set_blocking(fd, False)
        proc.clients.append(self)
        # The warden keeps a copy of the socket (a running process's sessions only): a
        # monitor crash does not end the session; the next worker serves it again.
        self.held: tuple[WardenLink, str, str] | None = None  # (link, key, role)
        if held_as and proc.link is not None:
            self.held = (proc.link, proc.key, held_as)
        elif proc.status != "created":
            self.hold()
        if self.stdin:
            loop.set_read(fd, self._readable)

    def hold(self) -> None:
        """Give the warden a copy of the socket (once the process runs under a warden)."""
        proc = self.proc
        if self.held is not None or proc is None or proc.link is None or self.fd < 0:
            return
        from wharfie.monitor.adopt import client_role

        Client._count += 1
        opts = {
            "stdin": self.stdin, "stdout": self.stdout, "stderr": self.stderr, "tty": self.tty,
            "close_on_exit": self.close_on_exit,
            "detach_keys": self.scanner.keys if self.scanner is not None else None,
        }  # fmt: skip
        role = client_role(opts, Client._count)
        proc.link.hold(proc.key, role, self.fd)
        self.held = (proc.link, proc.key, role)

    def send(self, stream: int, data: bytes) -> None:
        # A process with a terminal has one stream (stdout's); otherwise each stream goes
        # where it was asked for, whether this client's framing is raw or multiplexed.
        if not (self.stdout if stream == 1 or self.proc.tty else self.stderr):
            return
        self.queue(data if self.tty else frame(stream, data))

    def queue(self, data: bytes) -> None:
        if self.out:
            if len(self.out) + len(data) > CLIENT_BUFFER:
                self.close()  # too slow: disconnected rather than stalling the container
                return
            self.out += data
            return
        self.out = data
        self._writable()

    def _writable(self) -> None:
        try:
            while self.out:
                n = os.write(self.fd, self.out)
                self.out = self.out[n:]
        except BlockingIOError:
            self.loop.set_write(self.fd, self._writable)
            return
        except OSError:
            self.close()  # the client went away
            return
        self.loop.set_write(self.fd, None)
        if self.proc is None:  # ending: all written
            self.close()

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._input_closed()
            return
        detached = False
        if self.scanner is not None and self.proc.tty:  # as moby: only with a terminal
            data, detached = self.scanner.feed(data)
        self.proc.input(data)
        if detached:
            self.close()

    def _input_closed(self) -> None:
        self.reading = False
        self.loop.set_read(self.fd, None)
        if self.scanner is not None:
            self.proc.input(self.scanner.flush())
        if self.proc.stdin_once or self.proc.status == "created":
            self.proc.end_input()  # before start: kept, and dropped then unless stdin_once

    def end(self) -> None:
        """The process is gone: write out what is buffered, then close."""
        self._detach_proc()
        self.loop.set_read(self.fd, None)
        if not self.out:
            self.close()

    def _detach_proc(self) -> None:
        proc = self.proc
        if proc is not None and self in proc.clients:
            proc.clients.remove(self)
        self.proc = None  # type: ignore[assignment]

    def close(self) -> None:
        if self.fd < 0:
            return
        if self.held is not None:  # the warden's copy first: the peer sees EOF at once
            link, key, role = self.held
            self.held = None
            link.drop(key, role)
        self._detach_proc()
        self.loop.watch(self.fd)
        os.close(self.fd)
        self.fd = -1
        self.out = b""
