"""Access control of the dashboard listener (pure: no I/O, unit-tested).

Like Jupyter: the URL `wharfie dashboard` prints carries a random token once
(`/?token=T`); the page answers with a cookie (HttpOnly, SameSite=Strict) and a
redirect to the same path without the token, so the token leaves the address bar
and the browser's history. Scripts may send `Authorization: Bearer T` instead.
The cookie holds a value derived from the token, not the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

COOKIE = "wharfie_dashboard"


def new_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"wharfie-dashboard-session", hashlib.sha256).hexdigest()


def read_cookie(header: str, name: str = COOKIE) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


@dataclass(frozen=True)
class Verdict:
    """What to do with a request: `status` 0 lets it through; 401 (no credentials) or
    403 (wrong ones) refuse it; `set_cookie` and `redirect` answer a first visit."""

    status: int
    set_cookie: str = ""
    redirect: str = ""


def check(
    token: str,
    *,
    path: str,
    query: str,
    cookie_header: str,
    authorization: str,
    secure: bool,
) -> Verdict:
    """Decide on one request. `query` is the raw query string of the request target."""
    pairs = parse_qsl(query, keep_blank_values=True)
    given = [v for k, v in pairs if k == "token"]
    if given:
        if not hmac.compare_digest(given[-1].encode(), token.encode()):
            return Verdict(403)
        rest = urlencode([(k, v) for k, v in pairs if k != "token"])
        flags = "; Secure" if secure else ""
        return Verdict(
            0,
            set_cookie=f"{COOKIE}={cookie_value(token)}; Path=/; HttpOnly; SameSite=Strict{flags}",
            redirect=path + ("?" + rest if rest else ""),
        )
    bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    if bearer:
        return Verdict(0 if hmac.compare_digest(bearer.encode(), token.encode()) else 403)
    got = read_cookie(cookie_header)
    if got:
        ok = hmac.compare_digest(got.encode(), cookie_value(token).encode())
        return Verdict(0 if ok else 403)
    return Verdict(401)


def same_origin(origin: str, host: str) -> bool:
    """A browser's Origin header against the Host it talks to (cross-site requests and
    WebSocket hijacking are refused even when the browser sends the cookie)."""
    if not origin:
        return True  # not a browser, or a same-origin GET
    if origin == "null":
        return False
    return origin.split("://", 1)[-1].rstrip("/") == host


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_address(text: str, default_port: int = 0) -> Address:
    """`HOST:PORT`, `[V6]:PORT`, `HOST` or `:PORT` (then loopback)."""
    text = text.strip().removeprefix("tcp://").removeprefix("https://").removeprefix("http://")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    host = host or "127.0.0.1"
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"invalid dashboard address {text!r}: the port is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"invalid dashboard address {text!r}: port out of range")
    return Address(host, port)
