"""The host-side process of an `exec`: its pid is the exec's pid, its exit code the exec's.

It hands its stdio (or, with a terminal, the slave of a new pty whose master goes to the
console socket) to the container's shim, which relays it to the agent. It then waits for the
exit code, forwarding the signals it receives and, with a terminal, size changes (the pty's
SIGWINCH: the pty is its controlling terminal).
"""

from __future__ import annotations

import json
import os
import signal
import socket
from typing import Any

FORWARDED = (
    signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
    signal.SIGUSR2, signal.SIGWINCH,
)  # fmt: skip


def run_proxy(shim_sock: str, process: dict[str, Any], console_socket: str | None,
              report_fd: int) -> int:  # fmt: skip
    def report(msg: str) -> None:
        nonlocal report_fd
        if report_fd >= 0:
            os.write(report_fd, msg.encode() + b"\n")
            os.close(report_fd)
            report_fd = -1

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    tty_fd = -1
    try:
        conn.connect(shim_sock)
        if process.get("terminal"):
            import fcntl
            import termios
            import tty

            from wharfie.vm.hostio import send_console

            master, slave = os.openpty()
            tty.setraw(slave, termios.TCSANOW)
            send_console(console_socket, master)
            os.close(master)
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            tty_fd = slave
            fds = [slave]
        else:
            fds = [0, 1, 2]
        socket.send_fds(conn, [json.dumps({"op": "exec", "process": process}).encode()], fds)
        first = _recv(conn)
        if "error" in first:
            report(f"err {first['error']}")
            return 255
        sid = int(first["id"])
        started = _recv(conn)
        if "error" in started:
            report(f"err {started['error']}")
            return 255
    except (OSError, ValueError, KeyError) as exc:
        report(f"err wharfie-vm: exec: {exc}")
        return 255
    for fd in (0, 1, 2):
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, fd)
        os.close(null)
    report("ok")
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd)
    pending: list[int] = []
    for sig in FORWARDED:
        signal.signal(sig, lambda n, _f: pending.append(n))
    if tty_fd >= 0:  # a size set before the handler was there is otherwise lost
        pending.append(signal.SIGWINCH)
        os.write(wfd, b"\0")
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ)
    sel.register(rfd, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj == rfd:
                try:
                    os.read(rfd, 512)
                except BlockingIOError:
                    pass
                sigs, pending[:] = list(pending), []
                for signum in sigs:
                    if signum == signal.SIGWINCH and tty_fd >= 0:
                        from wharfie.vm.hostio import get_size

                        rows, cols = get_size(tty_fd)
                        req = {"op": "winsize", "id": sid, "rows": rows, "cols": cols}
                    else:
                        req = {"op": "signal-exec", "id": sid, "signal": signum}
                    try:
                        conn.send(json.dumps(req).encode())
                    except OSError:
                        return 255
                continue
            try:
                msg = _recv(conn)
            except (OSError, ValueError):
                return 255
            if "exit" in msg:
                return int(msg["exit"])


def _recv(conn: socket.socket) -> dict[str, Any]:
    data = conn.recv(1 << 16)
    if not data:
        raise OSError("the shim closed the connection")
    msg: dict[str, Any] = json.loads(data)
    return msg


__all__ = ["run_proxy"]
