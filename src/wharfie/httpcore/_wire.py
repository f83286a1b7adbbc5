"""HTTP/1.1 message framing per RFC 9112, without I/O.

The I/O layer reads lines and byte runs the way its sockets like (asyncio streams, a
blocking socket, the CLI's raw socket) and hands them here; this module decides what
they mean and refuses what request smuggling and header floods rely on:

- a head is read line by line into a `HeadParser`, which enforces the line, size and
  count limits as the lines arrive, so nothing past a limit is ever buffered;
- a body is decoded by a `BodyDecoder`, which says what it wants next (a line, a CRLF or
  up to N data bytes) and checks each piece, so a huge chunk is streamed, never held.

Kept free of `re`, `dataclasses` and `typing` at run time: the CLI imports it on every
command (see docs/dependencies.md for the start-up numbers).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


class ProtocolError(Exception):
    """Bytes that are not HTTP/1.1 we accept; `status` is the answer (then close)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Limits:
    """Where a head stops being read, answered with 431 as Go's net/http (dockerd, the
    reference registry) does: 1 MiB of head in all, as Go's default; the line limit is
    per line (request line or one field). Go has no count limit: 10,000 fields bound
    the parsing work of a head of tiny fields."""

    __slots__ = ("max_head", "max_headers", "max_line")

    def __init__(
        self, max_line: int = 1 << 20, max_head: int = 1 << 20, max_headers: int = 10_000
    ) -> None:
        self.max_line = max_line
        self.max_head = max_head
        self.max_headers = max_headers


DEFAULT_LIMITS = Limits()

# RFC 9110 5.6.2 tchar
_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# field-vchar / obs-text, SP and HTAB (RFC 9110 5.5)
_VALUE_OK = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100)) + b" \t"
# request-target: any visible ASCII (a raw UTF-8 byte is tolerated, as Go does)
_TARGET_OK = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"


def _is_token(data: bytes) -> bool:
    return bool(data) and not data.translate(None, _TCHAR)


def _strip_eol(line: bytes) -> bytes:
    """The line without its CRLF (or bare LF, which RFC 9112 2.2 lets us accept)."""
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        line = line[:-1]
    else:
        raise ProtocolError(400, "line not terminated")
    if b"\r" in line or b"\n" in line:
        raise ProtocolError(400, "bare CR in a line")
    return line


class Head:
    """A parsed request or response head.

    `headers` maps lower-case names to values (repeated fields joined with ", ");
    `length` is the body length (None: chunked, or until EOF for a response);
    `chunked`, `keep_alive` and `upgrade` come from Transfer-Encoding and Connection.
    """

    __slots__ = (
        "chunked",
        "headers",
        "keep_alive",
        "length",
        "method",
        "reason",
        "status",
        "target",
        "upgrade",
        "version",
    )

    def __init__(self) -> None:
        self.method = ""
        self.target = ""
        self.status = 0
        self.reason = ""
        self.version = "HTTP/1.1"
        self.headers: dict[str, str] = {}
        self.length: int | None = 0
        self.chunked = False
        self.keep_alive = True
        self.upgrade = False


class HeadParser:
    """Feed a head's lines (each with its line end) until `line()` returns the Head.

    `request=True` parses a request (request line, framing rules of RFC 9112 6.3 for
    requests); otherwise a response to `method` (HEAD, 1xx, 204, 304 have no body).
    """

    __slots__ = ("_cl", "_count", "_head", "_size", "_started", "_te", "limits", "method")

    def __init__(self, request: bool, limits: Limits = DEFAULT_LIMITS, method: str = "") -> None:
        self.limits = limits
        self.method = "" if request else method or "GET"
        self._head: Head | None = None
        self._size = 0
        self._count = 0
        self._cl: list[bytes] = []
        self._te: list[bytes] = []
        self._started = False

    @property
    def started(self) -> bool:
        """True once any byte of a head (not only blank lines) arrived."""
        return self._started

    def line(self, raw: bytes) -> Head | None:
        self._size += len(raw)
        if len(raw) > self.limits.max_line or self._size > self.limits.max_head:
            raise ProtocolError(431, "request header fields too large")
        line = _strip_eol(raw)
        head = self._head
        if head is None:
            if not line:
                if self._size > 64:
                    raise ProtocolError(400, "blank lines instead of a request")
                return None  # RFC 9112 2.2: blank lines before a request line are ignored
            self._started = True
            self._head = head = Head()
            if self.method:
                _status_line(head, line)
            else:
                _request_line(head, line)
            return None
        if not line:
            return self._finish(head)
        self._count += 1
        if self._count > self.limits.max_headers:
            raise ProtocolError(431, "too many header fields")
        if line[0] in b" \t":
            raise ProtocolError(400, "obsolete line folding in a header")
        name, sep, value = line.partition(b":")
        if not sep or not _is_token(name):
            raise ProtocolError(400, f"malformed header line {line[:60]!r}")
        value = value.strip(b" \t")
        if value.translate(None, _VALUE_OK):
            raise ProtocolError(400, f"invalid character in header {name.decode()!r}")
        key = name.decode("ascii").lower()
        if key == "content-length":
            self._cl += [v.strip(b" \t") for v in value.split(b",")]
        elif key == "transfer-encoding":
            self._te += [v.strip(b" \t") for v in value.split(b",") if v.strip(b" \t")]
        text = value.decode("latin-1")
        old = head.headers.get(key)
        head.headers[key] = text if old is None else f"{old}, {text}"
        return None

    def _finish(self, head: Head) -> Head:
        conn = {t.strip().lower() for t in head.headers.get("connection", "").split(",")}
        if head.version == "HTTP/1.0":
            head.keep_alive = "keep-alive" in conn
        else:
            head.keep_alive = "close" not in conn
        head.upgrade = "upgrade" in conn
        if self._te:
            if self._cl:
                raise ProtocolError(400, "both Transfer-Encoding and Content-Length")
            if len(self._te) != 1 or self._te[0].lower() != b"chunked":
                raise ProtocolError(501, "unsupported transfer encoding")
            if head.version == "HTTP/1.0":
                raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 message")
            head.chunked, head.length = True, None
        elif self._cl:
            first = self._cl[0]
            if any(v != first for v in self._cl):
                raise ProtocolError(400, "conflicting Content-Length values")
            if not first or first.translate(None, _DIGITS) or len(first) > 18:
                raise ProtocolError(400, f"bad Content-Length {first[:30]!r}")
            head.length = int(first)
        elif self.method:
            head.length = None  # a response without framing runs until EOF
        if self.method and (
            self.method == "HEAD" or head.status < 200 or head.status in (204, 304)
        ):
            head.length, head.chunked = 0, False
        return head


def _request_line(head: Head, line: bytes) -> None:
    parts = line.split(b" ")
    if len(parts) != 3:
        raise ProtocolError(400, f"malformed request line {line[:80]!r}")
    method, target, version = parts
    if not _is_token(method) or not target or target.translate(None, _TARGET_OK):
        raise ProtocolError(400, f"malformed request line {line[:80]!r}")
    _version(head, version)
    head.method = method.decode("ascii")
    head.target = target.decode("latin-1")


def _status_line(head: Head, line: bytes) -> None:
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if len(code) != 3 or code.translate(None, _DIGITS):
        raise ProtocolError(502, f"malformed status line {line[:80]!r}")
    _version(head, version)
    head.status = int(code)
    head.reason = reason.decode("latin-1")


def _version(head: Head, version: bytes) -> None:
    if (
        len(version) != 8
        or not version.startswith(b"HTTP/")
        or version[6:7] != b"."
        or version[5:6].translate(None, _DIGITS)
        or version[7:8].translate(None, _DIGITS)
    ):
        raise ProtocolError(400, f"malformed HTTP version {version[:20]!r}")
    if version[5:6] != b"1":
        raise ProtocolError(505, "HTTP version not supported")
    head.version = version.decode("ascii")


NEED_LINE = -1
NEED_CRLF = -2
_TRAILERS = -3


class BodyDecoder:
    """What a body needs next, checked piece by piece.

    `want` is NEED_LINE (a chunk-size or trailer line), NEED_CRLF (the two bytes after
    chunk data), a positive count (up to that many data bytes) or 0 (the body is done).
    A body that runs until EOF (`length=None, chunked=False`) wants data until `eof()`.
    """

    __slots__ = ("_left", "_state", "_trailers", "_until_eof", "chunked", "limits", "received")

    UNTIL_EOF = 1 << 62

    def __init__(self, length: int | None, chunked: bool, limits: Limits = DEFAULT_LIMITS) -> None:
        self.chunked = chunked
        self.limits = limits
        self.received = 0
        self._trailers = 0
        self._until_eof = length is None and not chunked
        if chunked:
            self._state, self._left = NEED_LINE, 0
        elif length is None:
            self._state, self._left = 1, self.UNTIL_EOF
        else:
            self._state, self._left = (1 if length else 0), length

    @classmethod
    def for_head(cls, head: Head, limits: Limits = DEFAULT_LIMITS) -> BodyDecoder:
        return cls(head.length, head.chunked, limits)

    @property
    def want(self) -> int:
        if self._state == 1:
            return self._left
        return NEED_LINE if self._state == _TRAILERS else self._state

    @property
    def done(self) -> bool:
        return self._state == 0

    def data(self, n: int) -> None:
        """`n` data bytes (at most `want`) were taken."""
        if self._state != 1 or n > self._left:
            raise ProtocolError(400, "body data where none was expected")
        self._left -= n
        self.received += n
        if self._left == 0:
            self._state = NEED_CRLF if self.chunked else 0

    def eof(self) -> None:
        """The peer closed: fine only for a body that runs until EOF."""
        if not self._until_eof or self._state != 1:
            raise ProtocolError(400, "connection closed inside the body")
        self._state = 0

    def crlf(self, two: bytes) -> None:
        if self._state != NEED_CRLF or two != b"\r\n":
            raise ProtocolError(400, "missing CRLF after chunk data")
        self._state = NEED_LINE

    def line(self, raw: bytes) -> None:
        if len(raw) > self.limits.max_line:
            raise ProtocolError(400, "chunk line too long")
        line = _strip_eol(raw)
        if self._state == _TRAILERS:
            self._trailer(line)
            return
        if self._state != NEED_LINE:
            raise ProtocolError(400, "chunk line where data was expected")
        size, _, ext = line.partition(b";")
        size = size.rstrip(b" \t")
        if not size or len(size) > 15 or size.translate(None, _HEX):
            raise ProtocolError(400, f"malformed chunk size {line[:40]!r}")
        if ext and ext.translate(None, _VALUE_OK):
            raise ProtocolError(400, "invalid character in a chunk extension")
        self._left = int(size, 16)
        self._state = 1 if self._left else _TRAILERS

    def _trailer(self, line: bytes) -> None:
        if not line:
            self._state = 0
            return
        self._trailers += 1
        if self._trailers > self.limits.max_headers or line[0] in b" \t":
            raise ProtocolError(400, "malformed trailer section")
        name, sep, _ = line.partition(b":")
        if not sep or not _is_token(name):
            raise ProtocolError(400, "malformed trailer field")


def encode_head(start: str, headers: dict[str, str] | Iterator[tuple[str, str]]) -> bytes:
    """A start line and header fields as bytes; a value with CR or LF is refused."""
    items = headers.items() if isinstance(headers, dict) else headers
    out = [start, "\r\n"]
    for name, value in items:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        out += (name, ": ", value, "\r\n")
    out.append("\r\n")
    return "".join(out).encode("latin-1")


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
