"""Copying a hijacked attach/exec stream to and from our terminal.

One thread, poll() on the socket and (with -i) stdin. TTY streams are raw
bytes; non-TTY ones are demultiplexed to our stdout/stderr. Stdin EOF
half-closes the socket; the detach sequence (default ctrl-p ctrl-q) ends
the stream and leaves the container running. The stream ends when the
daemon closes the socket.
"""

from __future__ import annotations

import os
import select

from wharfie.client.api import FrameSplitter
from wharfie.errors import InvalidArgument, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from wharfie.client.api import HijackedSocket

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def detach_sequence(keys: str | None) -> bytes:
    """docker's --detach-keys: "ctrl-p,ctrl-q", "ctrl-x", "a,b", "ctrl-@"."""
    out = bytearray()
    for key in (keys or DEFAULT_DETACH_KEYS).split(","):
        k = key.strip()
        if len(k) == 1:
            out.append(ord(k))
        elif k.startswith("ctrl-") and len(k) == 6:
            c = k[5].lower()
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
            elif c in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[c])
            else:
                raise InvalidArgument(f"Unknown character: '{k}'")
        else:
            raise InvalidArgument(f"Unknown character: '{k}'")
    return bytes(out)


class Detacher:
    """Watches stdin for the detach sequence, holding back a partial match."""

    def __init__(self, seq: bytes) -> None:
        self.seq = seq
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, detached?)."""
        out = bytearray()
        for b in data:
            self.held += bytes([b])
            if self.seq.startswith(self.held):
                if self.held == self.seq:
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
        return bytes(out), False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def pump(
    sock: HijackedSocket,
    *,
    tty: bool,
    stdin: bool,
    detach_keys: str | None = None,
    out_fd: int = 1,
    err_fd: int = 2,
    in_fd: int = 0,
) -> bool:
    """Copy until the daemon closes the stream; returns True if the user detached."""
    splitter = None if tty else FrameSplitter()
    detacher = Detacher(detach_sequence(detach_keys)) if (stdin and tty) else None
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    if stdin:
        poller.register(in_fd, select.POLLIN)
    pending = sock.pending
    sock.pending = b""
    if pending and _emit(pending, splitter, out_fd, err_fd):
        return False
    while True:
        for fd, _ev in poller.poll():
            if fd == in_fd and stdin:
                data = os.read(in_fd, 65536)
                if not data:
                    poller.unregister(in_fd)
                    stdin = False
                    sock.close_write()
                    continue
                detached = False
                if detacher is not None:
                    data, detached = detacher.feed(data)
                if data:
                    sock.sendall(data)
                if detached:
                    return True
            else:
                data = sock.sock.recv(65536)
                if not data:
                    return False
                if _emit(data, splitter, out_fd, err_fd):
                    return False


def _emit(data: bytes, splitter: FrameSplitter | None, out_fd: int, err_fd: int) -> bool:
    """Write output; True when a stream-3 (system error) frame ended the stream."""
    if splitter is None:
        _write_all(out_fd, data)
        return False
    for stream, payload in splitter.feed(data):
        if stream == 3:
            raise Unavailable(payload.decode(errors="replace").strip())
        _write_all(err_fd if stream == 2 else out_fd, payload)
    return False


def copy_stream(pieces: Iterator[bytes], *, tty: bool, out_fd: int = 1, err_fd: int = 2) -> None:
    """A logs body (HTTP, already de-chunked) to stdout/stderr."""
    splitter = None if tty else FrameSplitter()
    for piece in pieces:
        _emit(piece, splitter, out_fd, err_fd)


class RawTerminal:
    """Put a terminal in raw mode for the duration of a `with` block."""

    def __init__(self, fd: int, enabled: bool) -> None:
        self.fd = fd
        self.enabled = enabled and os.isatty(fd)
        self.saved: Any = None

    def __enter__(self) -> RawTerminal:
        if self.enabled:
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)  # like docker: no flush of typed-ahead input
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def terminal_size(fd: int = 1) -> tuple[int, int]:
    """(height, width) of our terminal, (0, 0) when not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 0, 0
    return size.lines, size.columns


def install_resize(resize: Callable[[int, int], None], fd: int = 1) -> None:
    """Send our size now and on every SIGWINCH."""
    import _signal

    def on_winch(_sig: int, _frame: object) -> None:
        h, w = terminal_size(fd)
        if h and w:
            resize(h, w)

    _signal.signal(_signal.SIGWINCH, on_winch)
    on_winch(0, None)


PROXIED = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM")


def install_sig_proxy(send: Callable[[int], None]) -> None:
    """Forward the signals we receive to the container (POST /kill?signal=N)."""
    import _signal

    def forward(sig: int, _frame: object) -> None:
        send(sig)

    # `_signal`, not `signal`: the latter imports enum, a measurable start-up cost.
    for name in PROXIED:
        _signal.signal(getattr(_signal, name), forward)
