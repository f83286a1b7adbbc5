"""Small host-side I/O helpers of the shim and the exec proxy: stdio, ptys, the console
socket, the control socket's replies, QMP."""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
from typing import Any


class HostIOError(Exception):
    pass


def devnull(fd: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, fd)
    os.close(null)


def write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            import select

            select.select([], [fd], [], 1.0)
            continue
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.EIO, errno.EBADF):
                return  # the reader went away: the output is dropped, as with a closed pipe
            raise
        data = data[n:]


def reply(conn: socket.socket, msg: dict[str, Any]) -> None:
    try:
        conn.send(json.dumps(msg).encode())
    except OSError:
        pass


def raw(fd: int) -> None:
    import termios
    import tty

    tty.setraw(fd, termios.TCSANOW)


def get_size(fd: int) -> tuple[int, int]:
    import fcntl
    import termios

    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def send_console(path: str | None, master: int) -> None:
    """runc's console-socket protocol: the pty master, over a unix socket, with SCM_RIGHTS."""
    if not path:
        raise HostIOError("process.terminal is set but no --console-socket was given")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
        socket.send_fds(s, [b"/dev/ptmx"], [master])
    finally:
        s.close()


def qmp(path: str, command: str, args: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
    """One QMP command (after the capabilities handshake); returns its "return"."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.settimeout(timeout)
    try:
        s.connect(path)
        f = s.makefile("rwb")
        f.readline()  # greeting
        for cmd in ({"execute": "qmp_capabilities"}, {"execute": command, "arguments": args or {}}):
            f.write(json.dumps(cmd).encode() + b"\n")
            f.flush()
            while True:
                line = f.readline()
                if not line:
                    raise HostIOError(f"QMP {command}: QEMU closed the connection")
                msg = json.loads(line)
                if "error" in msg:
                    raise HostIOError(f"QMP {command}: {msg['error'].get('desc')}")
                if "return" in msg:
                    result = msg["return"]
                    break
        return result
    finally:
        s.close()
