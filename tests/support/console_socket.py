"""A tiny `--console-socket` server: receive the pty master of a container over SCM_RIGHTS.

runc's protocol: the runtime connects to the AF_UNIX SOCK_STREAM socket and sends one
message whose ancillary data carries the master fd (the payload is the pty's name,
usually "/dev/ptmx"). `ConsoleSocket` accepts in a background thread so the runtime
call can block on it without a deadlock.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from pathlib import Path


class ConsoleSocket:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(1)
        self._sock.settimeout(15)
        self.master: int | None = None
        self.name = b""
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        try:
            conn, _ = self._sock.accept()
            with conn:
                msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
            self.name = msg
            if fds:
                self.master = fds[0]
                for extra in fds[1:]:
                    os.close(extra)
        except BaseException as exc:  # reported by wait_master()
            self.error = exc

    def wait_master(self, timeout: float = 15.0) -> int:
        self._thread.join(timeout)
        if self.master is None:
            raise AssertionError(f"no pty master received on {self.path}: {self.error!r}")
        return self.master

    def read_until(self, needle: bytes, timeout: float = 10.0) -> bytes:
        """Read the master until `needle` appears, EOF/EIO (all slaves closed), or timeout."""
        master = self.wait_master()
        buf = b""
        deadline = time.monotonic() + timeout
        while needle not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last slave fd was closed
                break
            if not chunk:
                break
            buf += chunk
        return buf

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None
        with contextlib.suppress(OSError):
            self.path.unlink()
