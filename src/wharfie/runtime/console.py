"""Terminals: the console-socket protocol runc uses, and a local pty proxy.

With `process.terminal`, the container's init opens a pty from the container's
own devpts, makes it its controlling terminal on fds 0-2, and sends the master
over the console socket (SCM_RIGHTS) to whoever manages the terminal. When no
console socket is given (`run` or `exec` in the foreground), the runtime
itself receives the master and copies bytes between it and its own stdio.
"""

from __future__ import annotations

import _socket
import array
import fcntl
import os
import struct

from wharfie import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413


def connect(path: str) -> int:
    """Connect to a console socket; returns the fd (close-on-exec)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"connecting to console socket {path}: {exc.strerror}") from exc
    return int(sock.detach())


def send_fd(sock_fd: int, fd: int, name: str) -> None:

    sock = _socket.socket(fileno=sock_fd)
    try:
        rights = array.array("i", [fd]).tobytes()
        sock.sendmsg([name.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
    finally:
        sock.close()


def recv_fd(sock_fd: int) -> int:

    sock = _socket.socket(fileno=sock_fd)
    try:
        fds = array.array("i")
        _, anc, _, _ = sock.recvmsg(4096, _socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    finally:
        sock.close()
    if not fds:
        raise OSError(0, "console socket: no file descriptor received")
    return fds[0]


def set_size(fd: int, size: dict[str, Any] | None) -> None:
    if not size:
        return

    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", size["height"], size["width"], 0, 0))


def setup_in_container(console_fd: int, size: dict[str, Any] | None) -> None:
    """In a new container: a pty from its devpts, also bound at /dev/console."""
    slave, name = _pty_to_socket(console_fd, size)
    console = "/dev/console"
    if not os.path.exists(console):
        os.close(os.open(console, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
    sc.mount(name, console, None, sc.MS_BIND, None)
    _make_controlling(slave)


def setup_exec_tty(console_fd: int, size: dict[str, Any] | None) -> None:
    """In an exec'd process (already in a new session): a pty on fds 0-2."""
    slave, _ = _pty_to_socket(console_fd, size)
    _make_controlling(slave)


def _pty_to_socket(console_fd: int, size: dict[str, Any] | None) -> tuple[int, str]:
    master, slave = os.openpty()
    name = os.ttyname(slave)
    set_size(slave, size)
    send_fd(console_fd, master, name)
    os.close(master)
    return slave, name


def _make_controlling(slave: int) -> None:

    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    fcntl.ioctl(0, TIOCSCTTY, 0)


def socketpair() -> tuple[int, int]:
    """A private console socket for the foreground proxy: (ours, the container's)."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    return int(a.detach()), int(b.detach())


def proxy(master: int) -> None:
    """Copy our stdin to the pty master and the master to our stdout until the pty closes.

    Our terminal (if stdin is one) is put in raw mode meanwhile, and window-size
    changes are passed on.
    """
    import _signal
    import select
    import termios
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _copy_winsize(0, master)
        _signal.signal(_signal.SIGWINCH, lambda *_: _copy_winsize(0, master))
    try:
        _pump(master, select)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(master)


def _copy_winsize(src: int, dst: int) -> None:

    try:
        buf = fcntl.ioctl(src, TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, TIOCSWINSZ, buf)
    except OSError:
        pass


def _pump(master: int, select: Any) -> None:
    inputs = [master, 0]
    while True:
        ready, _, _ = select.select(inputs, [], [])
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every slave fd is closed, the process is gone
                return
            if not data:
                return
            os.write(1, data)
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                inputs.remove(0)
                os.write(master, b"\x04")
            else:
                os.write(master, data)
