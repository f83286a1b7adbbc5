"""pump(): the attach/exec copy loop over a real socket pair and pipes."""

from __future__ import annotations

import os
import socket
import threading

from wharfie.cli.stream import pump
from wharfie.client.api import HijackedSocket


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def _read_all(fd: int) -> bytes:
    out = b""
    while chunk := os.read(fd, 65536):
        out += chunk
    return out


def test_demultiplexes_and_half_closes_on_stdin_eof() -> None:
    ours, daemon = socket.socketpair()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe()
    received = []

    def serve() -> None:
        data = b""
        while chunk := daemon.recv(100):  # until our half-close
            data += chunk
        received.append(data)
        payload = frame(1, b"out") + frame(2, b"err") + frame(1, b"!")
        for i in range(0, len(payload), 3):  # split frames
            daemon.sendall(payload[i : i + 3])
        daemon.close()

    t = threading.Thread(target=serve)
    t.start()
    os.write(in_w, b"typed")
    os.close(in_w)
    sock = HijackedSocket(ours, frame(1, b"early:"), {})
    detached = pump(sock, tty=False, stdin=True, out_fd=out_w, err_fd=err_w, in_fd=in_r)
    t.join(5)
    for fd in (out_w, err_w, in_r):
        os.close(fd)
    assert not detached
    assert received == [b"typed"]
    assert _read_all(out_r) == b"early:out!"
    assert _read_all(err_r) == b"err"
    ours.close()


def test_tty_detach_sequence_leaves_the_stream() -> None:
    ours, daemon = socket.socketpair()
    out_r, out_w = os.pipe()
    in_r, in_w = os.pipe()
    daemon.sendall(b"prompt$ ")
    os.write(in_w, b"ls\x10\x11more")
    sock = HijackedSocket(ours, b"", {})
    detached = pump(sock, tty=True, stdin=True, detach_keys=None, out_fd=out_w, in_fd=in_r)
    assert detached
    daemon.settimeout(2)
    assert daemon.recv(100) == b"ls"
    os.close(out_w)
    assert _read_all(out_r) == b"prompt$ "
    for s in (ours, daemon):
        s.close()
    for fd in (out_r, in_r, in_w):
        os.close(fd)
