"""Starting a process through the OCI runtime: the process file of an exec, the
runtime's own error message, and the console socket over which the runtime sends the
pty master (runc's console-socket protocol). Used by the monitor (server.py)."""

from __future__ import annotations

import os
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.monitor.loop import Loop
    from wharfie.monitor.stdio import Proc

RUNTIME_PREFIX = "wharfie-runtime: "


def close_all(fds: list[int]) -> None:
    while fds:
        os.close(fds.pop())


def write_json(path: str, obj: Any) -> None:
    from wharfie.oci.jsonio import dumps

    with open(path, "w") as f:
        f.write(dumps(obj))


def unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def runtime_error(err: str, log_path: str | None, rc: int) -> str:
    """The runtime's own message: the last error in its JSON log, else its error stream."""
    if log_path is not None:
        from wharfie.oci.jsonio import loads

        try:
            with open(log_path) as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        for line in reversed(lines):
            try:
                rec = loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("level") == "error" and rec.get("msg"):
                return str(rec["msg"])
    for line in reversed(err.splitlines()):
        line = line.strip()
        if line and not line.startswith("warning:"):
            return line.removeprefix(RUNTIME_PREFIX)
    return f"the runtime failed with status {rc}"


def set_size(fd: int, height: int, width: int) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def listen_console(loop: Loop, proc: Proc, path: str, size: Any) -> None:
    """Receive the pty master the runtime sends over `path` (runc's console-socket protocol)."""
    unlink(path)
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(1)
    lsock.setblocking(False)

    def accepted() -> None:
        try:
            conn, _ = lsock.accept()
        except BlockingIOError:
            return
        proc.close_console()
        unlink(path)
        conn.setblocking(False)
        loop.set_read(conn.fileno(), lambda: received(conn))

    def received(conn: socket.socket) -> None:
        try:
            _msg, fds, _f, _a = socket.recv_fds(conn, 4096, 4)
        except BlockingIOError:
            return
        loop.watch(conn.fileno())
        conn.close()
        proc.pty_pending = False
        if not fds:
            return
        master = fds.pop(0)
        close_all(fds)
        if proc.status in ("exited",):
            os.close(master)
            return
        if proc.status == "exiting":  # the exit was seen first: the usual grace from now
            loop.later(0.1, proc.drain_now)
        if size:
            set_size(master, int(size[0]), int(size[1]))
        os.set_blocking(master, False)
        proc.master = master
        proc.add_output(master, 1)
        if proc.want_stdin:
            proc.set_stdin(master)

    loop.set_read(lsock.fileno(), accepted)
    proc.console = lsock  # closed with the proc if the runtime never connects
    proc.pty_pending = True
