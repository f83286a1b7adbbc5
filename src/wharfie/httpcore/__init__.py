"""One HTTP/1.1 core for the daemon's server, the registry's server and the client.

Sans-I/O: each side reads from its own kind of socket and asks this package what the
bytes mean (`HeadParser`, `BodyDecoder`), and what to write (`encode_head`,
`encode_chunk`). Strict framing per RFC 9112 (what smuggling relies on is a
`ProtocolError` with the status to answer before closing), limits enforced as lines
arrive, and the serving policies both servers share (`ConnectionSlots`, `Timeouts`,
`RateLimitFilter`). `httpcore.serving` (logging, time) is imported only by the servers.
"""

from __future__ import annotations

from wharfie.httpcore._wire import (
    DEFAULT_LIMITS,
    LAST_CHUNK,
    NEED_CRLF,
    NEED_LINE,
    BodyDecoder,
    Head,
    HeadParser,
    Limits,
    ProtocolError,
    encode_chunk,
    encode_head,
)

REASONS = {
    100: "Continue",
    101: "Switching Protocols",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    206: "Partial Content",
    304: "Not Modified",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    416: "Range Not Satisfiable",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

__all__ = [
    "DEFAULT_LIMITS",
    "LAST_CHUNK",
    "NEED_CRLF",
    "NEED_LINE",
    "REASONS",
    "BodyDecoder",
    "Head",
    "HeadParser",
    "Limits",
    "ProtocolError",
    "encode_chunk",
    "encode_head",
]
