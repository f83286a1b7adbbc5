"""The monitor's pure parts: message codec, error mapping, framing, detach-key scanning."""

from __future__ import annotations

import socket
import struct

import pytest

from wharfie.errors import Conflict, NotFound, WharfieError
from wharfie.monitor import protocol
from wharfie.monitor.protocol import DetachScanner, StartError, frame


def test_message_round_trip_with_fds() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r, w = socket.socketpair()
    try:
        msg = {"req": 7, "op": "attach", "id": "abc", "detach_keys": protocol.hex_bytes(b"\x18")}
        socket.send_fds(a, [protocol.encode(msg)], [r.fileno()])
        data, fds = protocol.recv_fds(b)
        assert protocol.decode(data) == msg
        assert len(fds) == 1
        w.send(b"x")
        assert socket.socket(fileno=fds[0]).recv(1) == b"x"
        assert protocol.from_hex(msg["detach_keys"]) == b"\x18"
    finally:
        for s in (a, b, r, w):
            s.close()


def test_decode_rejects_garbage() -> None:
    with pytest.raises(WharfieError, match="not JSON"):
        protocol.decode(b"{nope")
    with pytest.raises(WharfieError, match="not a JSON object"):
        protocol.decode(b"[1]")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [(NotFound("x"), "NotFound"), (Conflict("x"), "Conflict"), (StartError("x"), "Start"),
     (KeyError("id"), "InvalidArgument"), (OSError(5, "EIO"), "Unavailable")],
)  # fmt: skip
def test_errors_map_to_kinds_and_back(exc: BaseException, kind: str) -> None:
    reply = protocol.error_reply(3, exc)
    assert reply["re"] == 3 and reply["error"]["kind"] == kind
    with pytest.raises(protocol.ERROR_KINDS.get(kind, WharfieError)):
        protocol.raise_error(reply["error"])


def test_start_error_keeps_the_runtime_message() -> None:
    msg = 'exec: "nosuch": executable file not found in $PATH'
    with pytest.raises(StartError, match="executable file not found"):
        protocol.raise_error(protocol.error_reply(1, StartError(msg))["error"])


def test_frame_header() -> None:
    assert frame(1, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    big = frame(2, b"x" * 70000)
    assert big[:4] == b"\x02\x00\x00\x00" and struct.unpack(">I", big[4:8])[0] == 70000


def test_detach_in_one_chunk_delivers_bytes_before() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"abc\x10\x11def") == (b"abc", True)


def test_detach_split_across_chunks() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"ab\x10") == (b"ab", False)
    assert s.feed(b"\x11") == (b"", True)


def test_partial_match_that_fails_is_delivered() -> None:
    s = DetachScanner(b"\x18\x19\x1a")
    assert s.feed(b"x\x18\x19") == (b"x", False)
    assert s.feed(b"y") == (b"\x18\x19y", False)
    assert s.feed(b"\x18") == (b"", False)
    assert s.flush() == b"\x18"


def test_single_key_and_disabled() -> None:
    assert DetachScanner(b"\x18").feed(b"ab\x18c") == (b"ab", True)
    assert DetachScanner(b"").feed(b"\x10\x11") == (b"\x10\x11", False)
