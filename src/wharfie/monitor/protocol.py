"""The monitor's wire format and the pure parts of stream handling.

Messages: one JSON object (UTF-8) per SOCK_SEQPACKET datagram, with optional fds attached
(SCM_RIGHTS). Requests carry "req": n and an "op"; answers are {"re": n, "ok": {...}} or
{"re": n, "error": {"kind", "message"}}; unsolicited events carry "event".
"""

from __future__ import annotations

import array
import os
import socket

from wharfie.errors import Conflict, InvalidArgument, NotFound, Unavailable, WharfieError
from wharfie.oci.jsonio import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_MESSAGE = 1 << 18
MAX_FDS = 4
DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


class StartError(WharfieError):
    """The runtime failed to start the container or exec; the message is the runtime's."""


ERROR_KINDS: dict[str, type[WharfieError]] = {
    "NotFound": NotFound,
    "Conflict": Conflict,
    "InvalidArgument": InvalidArgument,
    "Unavailable": Unavailable,
    "Start": StartError,
}


def encode(msg: dict[str, Any]) -> bytes:
    data = dumps(msg).encode()
    if len(data) > MAX_MESSAGE:
        raise InvalidArgument(f"monitor message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    return data


def decode(data: bytes) -> dict[str, Any]:
    try:
        msg = loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"monitor message is not JSON: {exc}") from exc
    if not isinstance(msg, dict):
        raise InvalidArgument("monitor message is not a JSON object")
    return msg


def error_kind(exc: BaseException) -> str:
    for kind, cls in ERROR_KINDS.items():
        if isinstance(exc, cls):
            return kind
    return (
        "InvalidArgument" if isinstance(exc, (KeyError, TypeError, ValueError)) else "Unavailable"
    )


def error_reply(req: int, exc: BaseException) -> dict[str, Any]:
    msg = str(exc) if not isinstance(exc, KeyError) else f"missing field {exc}"
    return {"re": req, "error": {"kind": error_kind(exc), "message": msg}}


def raise_error(err: dict[str, Any]) -> None:
    cls = ERROR_KINDS.get(str(err.get("kind")), WharfieError)
    raise cls(str(err.get("message", "")))


def recv_fds(sock: socket.socket, flags: int = 0) -> tuple[bytes, list[int]]:
    """One datagram and the fds attached to it (socket.recv_fds ignores `flags` in 3.11)."""
    data, anc, _flags, _addr = sock.recvmsg(MAX_MESSAGE, socket.CMSG_LEN(MAX_FDS * 4), flags)
    fds: list[int] = []
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(array.array("i", payload[:usable]))
    return data, fds


def recv_message(sock: socket.socket, flags: int = 0) -> dict[str, Any] | None:
    """One message from a peer that sends no fds (any that come are closed); None when the
    peer is gone (end of stream or a socket error). BlockingIOError passes through."""
    try:
        data, fds = recv_fds(sock, flags)
    except BlockingIOError:
        raise
    except OSError:
        return None
    for fd in fds:
        os.close(fd)
    return decode(data) if data else None


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed framing: stream byte, 3 zero bytes, big-endian uint32 length."""
    n = len(data)
    return bytes((stream, 0, 0, 0, n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)) + data


def hex_bytes(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def from_hex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


class DetachScanner:
    """Find the detach sequence in a client's input, across chunk boundaries.

    feed() returns (bytes to deliver, detached). Bytes that might be the start of the
    sequence are held back until the next chunk shows whether they are.
    """

    __slots__ = ("held", "keys")

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        keys = self.keys
        if not keys:
            return data, False
        buf = self.held + data
        self.held = b""
        hit = buf.find(keys)
        if hit >= 0:
            return buf[:hit], True
        for n in range(min(len(keys) - 1, len(buf)), 0, -1):
            if buf.endswith(keys[:n]):
                self.held = buf[-n:]
                return buf[:-n], False
        return buf, False

    def flush(self) -> bytes:
        """At end of input: the held-back bytes were not the sequence after all."""
        held, self.held = self.held, b""
        return held
