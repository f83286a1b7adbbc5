"""The shared HTTP/1.1 core: RFC 9112 framing, limits, and the serving policies."""

from __future__ import annotations

import logging

import pytest

from wharfie.httpcore import (
    NEED_CRLF,
    NEED_LINE,
    BodyDecoder,
    Head,
    HeadParser,
    Limits,
    ProtocolError,
    encode_head,
)
from wharfie.httpcore.serving import ConnectionSlots, RateLimitFilter


def parse(raw: bytes, limits: Limits | None = None, method: str = "") -> Head:
    parser = HeadParser(request=not method, limits=limits or Limits(), method=method)
    for line in raw.splitlines(keepends=True):
        head = parser.line(line)
        if head is not None:
            return head
    raise AssertionError("head not complete")


def status_of(raw: bytes, limits: Limits | None = None) -> int:
    with pytest.raises(ProtocolError) as err:
        parse(raw, limits)
    return err.value.status


def test_a_plain_request() -> None:
    head = parse(
        b"\r\nPOST /v1.44/x?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
        b"X-A: 1\r\nx-a:  2 \r\n\r\n"
    )
    assert (head.method, head.target, head.length, head.chunked) == (
        "POST",
        "/v1.44/x?a=1",
        3,
        False,
    )
    assert head.headers["x-a"] == "1, 2" and head.keep_alive and not head.upgrade


def test_connection_tokens_and_http10() -> None:
    assert not parse(b"GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n").keep_alive
    assert not parse(b"GET / HTTP/1.0\r\n\r\n").keep_alive
    assert parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive
    up = parse(b"POST /attach HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    assert up.upgrade and up.keep_alive
    assert parse(b"GET / HTTP/1.1\nHost: bare-lf\n\n").headers["host"] == "bare-lf"


def test_chunked_and_identical_content_lengths() -> None:
    head = parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n")
    assert head.chunked and head.length is None
    # RFC 9112 6.3 and Go's net/http: identical repeated values are one length
    assert parse(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").length == 5


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: \u0661\r\n\r\n".encode(), 400),  # Arabic-Indic 1
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            501,
        ),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\tX-A: 1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-A : 1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1 \r\n\r\n", 400),
        (b"GET /a b HTTP/1.1\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\n\r\n", 400),
        (b"GET / SPDY/3\r\n\r\n", 400),
        (b"GET / HTTP/1.10\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"NONSENSE\r\n\r\n", 400),
    ],
)
def test_what_smuggling_needs_is_refused(raw: bytes, status: int) -> None:
    assert status_of(raw) == status


def test_limits_are_431() -> None:
    small = Limits(max_line=100, max_head=300, max_headers=3)
    assert status_of(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n", small) == 431
    assert status_of(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 4 + b"\r\n", small) == 431
    many = b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: %s\r\n" % (i, b"y" * 80) for i in range(3))
    assert status_of(many + b"\r\n", Limits(max_line=100, max_head=250, max_headers=10)) == 431
    assert status_of(b"\r\n" * 40 + b"GET / HTTP/1.1\r\n\r\n") == 400


def test_response_heads() -> None:
    head = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", method="GET")
    assert (head.status, head.reason, head.length) == (200, "OK", 2)
    assert parse(b"HTTP/1.1 200 OK\r\n\r\n", method="GET").length is None  # until EOF
    assert parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", method="HEAD").length == 0
    assert parse(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n\r\n", method="POST").length == 0
    assert parse(b"HTTP/1.1 204\r\n\r\n", method="DELETE").reason == ""
    with pytest.raises(ProtocolError):
        parse(b"HTTP/1.1 2x0 OK\r\n\r\n", method="GET")


def decode(body: bytes, length: int | None = None, chunked: bool = True) -> bytes:
    """Feed `body` to a decoder the way a socket reader would (lines, CRLF, data)."""
    dec = BodyDecoder(length, chunked, Limits(max_line=64))
    out, pos = b"", 0
    while not dec.done:
        want = dec.want
        if want == NEED_LINE:
            end = body.index(b"\n", pos) + 1
            dec.line(body[pos:end])
            pos = end
        elif want == NEED_CRLF:
            dec.crlf(body[pos : pos + 2])
            pos += 2
        else:
            piece = body[pos : pos + min(want, 3)]
            if not piece:
                dec.eof()
                break
            dec.data(len(piece))
            out += piece
            pos += len(piece)
    assert body[pos:] == b"NEXT"
    return out


def test_chunked_bodies() -> None:
    assert (
        decode(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT") == b"hello world"
    )
    assert decode(b"A  \r\n0123456789\r\n0\r\n\r\nNEXT") == b"0123456789"
    assert decode(b"hellNEXT", length=4, chunked=False) == b"hell"


@pytest.mark.parametrize(
    "body",
    [
        b"1_0\r\n",
        b"+5\r\n",
        b"0x5\r\n",
        b" 5\r\n",
        b"5 junk\r\n",
        b"\r\n",
        b"5\r\nhelloXX",
        b"5\r\nhello\n0\r\n\r\n",
        b"1" * 17 + b"\r\n",
        b"5;a\x00b\r\n",
        b"0\r\n folded: trailer\r\n\r\n",
        b"0\r\nno colon\r\n\r\n",
        b"f" * 70 + b"\r\n",
    ],
)
def test_bad_chunking_is_400(body: bytes) -> None:
    with pytest.raises(ProtocolError) as err:
        decode(body + b"NEXT")
    assert err.value.status == 400


def test_eof_only_ends_an_until_eof_body() -> None:
    dec = BodyDecoder(None, False)
    dec.data(10)
    dec.eof()
    assert dec.done and dec.received == 10
    with pytest.raises(ProtocolError):
        BodyDecoder(5, False).eof()


def test_encode_head_refuses_line_breaks() -> None:
    assert encode_head("HTTP/1.1 200 OK", {"A": "b"}) == b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n"
    with pytest.raises(ValueError):
        encode_head("HTTP/1.1 200 OK", {"A": "b\r\nSet-Cookie: x"})


def test_slots_evict_the_longest_idle_and_refuse_when_all_busy() -> None:
    closed: list[object] = []
    slots = ConnectionSlots(2, closed.append)
    assert slots.admit("a") and slots.admit("b")
    slots.busy("a")
    assert slots.admit("c") and closed == ["b"]  # b was idle: it makes room
    slots.busy("c")
    assert not slots.admit("d") and slots.refused == 1  # everyone is working
    slots.idle("a")
    assert slots.admit("e") and closed == ["b", "a"]
    slots.release("c")
    assert len(slots) == 1 and slots.admit("f")


def test_rate_limit_filter_keeps_a_burst_then_counts() -> None:
    flt = RateLimitFilter(burst=3, window=60)
    rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "accept failed: %s", ("EMFILE",), None)
    passed = sum(flt.filter(rec) for _ in range(1000))
    assert passed == 3
    other = logging.LogRecord("x", logging.ERROR, __file__, 1, "other", (), None)
    assert flt.filter(other)
