"""The distribution protocol over HTTP/1.1 (stdlib http.client): one `Registry` per host.

Auth is negotiated on the first 401: a Bearer challenge fetches a token from the realm
(basic credentials sent there if we have some; `offline_token`/`account` as Docker),
a Basic challenge sends the credentials. Tokens are cached per scope set.

Scheme: a secure registry is https only; an insecure one (loopback, or named with
--insecure-registry) is tried with https first (certificate not verified), then http,
as Docker does. Connections are kept per thread (layers download in parallel).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

from wharfie.distribution import auth as authmod
from wharfie.distribution.errors import Unauthorized, for_status, registry_message
from wharfie.errors import Unavailable

TIMEOUT = 60.0
BLOCK = 1 << 20
USER_AGENT = "docker/25.0.0 go/go1.21 (wharfie)"

Body = bytes | Iterable[bytes] | BinaryIO | None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    resp: http.client.HTTPResponse
    url: str

    def read(self) -> bytes:
        try:
            return self.resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"read {self.url}: {exc}") from exc

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def _tls_context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def dial_error(method: str, url: str, exc: BaseException) -> Unavailable:
    """Docker's wording: Get "http://h/v2/": dial tcp h: connect: connection refused."""
    parts = urlsplit(url)
    host = parts.netloc
    verb = method[:1] + method[1:].lower()
    if isinstance(exc, ConnectionRefusedError):  # Go names the address it dialled
        dialled = _dialled(parts.hostname or "", parts.port, host)
        why = f"dial tcp {dialled}: connect: connection refused"
    elif isinstance(exc, socket.gaierror):
        why = f"dial tcp: lookup {parts.hostname}: no such host"
    elif isinstance(exc, (socket.timeout, TimeoutError)):
        why = f"dial tcp {host}: i/o timeout"
    else:
        why = str(exc) or type(exc).__name__
    return Unavailable(f'{verb} "{url}": {why}')


def _dialled(hostname: str, port: int | None, fallback: str) -> str:
    """`127.0.0.1:5000` for `localhost:5000` (the first address the name resolves to)."""
    try:
        family, _, _, _, addr = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError):
        return fallback
    ip, dport = str(addr[0]), str(port or "")
    return f"[{ip}]:{dport}" if family == socket.AF_INET6 else f"{ip}:{dport}"


class Registry:
    """One registry host ("127.0.0.1:5000", "docker.io" → registry-1.docker.io)."""

    def __init__(
        self,
        host: str,
        credentials: authmod.AuthConfig,
        *,
        insecure: bool,
        base_url: str = "",
    ) -> None:
        self.host = host
        self.credentials = credentials
        self.insecure = insecure
        api_host = "registry-1.docker.io" if host == "docker.io" else host
        self._base = base_url.rstrip("/")
        self._api_host = api_host
        self._local = threading.local()
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._challenge: authmod.Challenge | None = None

    # -- connections ----------------------------------------------------------------

    @property
    def base(self) -> str:
        with self._lock:
            if not self._base:
                self._base = self._probe()
            return self._base

    def _probe(self) -> str:
        """GET /v2/ first, as Docker: https, or http for an insecure registry whose https
        fails; an unreachable registry fails here with Docker's wording."""
        https = f"https://{self._api_host}"
        try:
            self._ping_once(
                http.client.HTTPSConnection(
                    self._api_host, timeout=10, context=_tls_context(not self.insecure)
                )
            )
            return https
        except ssl.SSLError as exc:
            if not self.insecure:
                raise dial_error("GET", https + "/v2/", exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            if not self.insecure:
                raise dial_error("GET", https + "/v2/", exc) from exc
        plain = f"http://{self._api_host}"
        try:
            self._ping_once(http.client.HTTPConnection(self._api_host, timeout=10))
        except (OSError, http.client.HTTPException) as exc:
            raise dial_error("GET", plain + "/v2/", exc) from exc
        return plain

    @staticmethod
    def _ping_once(conn: http.client.HTTPConnection) -> None:
        try:
            conn.request("GET", "/v2/", headers={"User-Agent": USER_AGENT})
            conn.getresponse().read()
        finally:
            conn.close()

    def _conn(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conns: dict[tuple[str, str], http.client.HTTPConnection] = (
            getattr(self._local, "conns", None) or {}
        )
        self._local.conns = conns
        key = (scheme, netloc)
        conn = conns.get(key)
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    netloc,
                    timeout=TIMEOUT,
                    context=_tls_context(not self.insecure),
                    blocksize=BLOCK,
                )
            else:
                conn = http.client.HTTPConnection(netloc, timeout=TIMEOUT, blocksize=BLOCK)
            conns[key] = conn
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        conns = getattr(self._local, "conns", {})
        conn = conns.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for conn in list(getattr(self._local, "conns", {}).values()):
            conn.close()
        self._local.conns = {}

    # -- requests -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: list[str],
        headers: dict[str, str] | None = None,
        body: Body = None,
        ok: tuple[int, ...] = (200,),
    ) -> Reply:
        """One request with auth; a status outside `ok` raises with the registry's words."""
        url = path if path.startswith("http") else self.base + path
        reply = self._send(method, url, headers or {}, body, scopes)
        replayable = isinstance(body, (bytes, type(None)))
        verb = method[:1] + method[1:].lower()
        if reply.status == 401:
            ch = authmod.parse_challenge(reply.header("www-authenticate"))
            if ch is not None and ch.scheme == "basic" and self.credentials.anonymous:
                reply.read()
                raise Unauthorized(f'{verb} "{url}": no basic auth credentials')
            if self._learn(reply, scopes) and replayable:
                reply = self._send(method, url, headers or {}, body, scopes)
        if reply.status in ok:
            return reply
        text = registry_message(
            b"" if method == "HEAD" else reply.read(), reply.status, reply.resp.reason
        )
        reply.resp.close()
        if reply.status in (401, 403):
            raise Unauthorized(f'{verb} "{url}": {text}')
        raise for_status(reply.status, text)

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: Body, scopes: list[str]
    ) -> Reply:
        for attempt in range(2):
            parts = urlsplit(url)
            conn = self._conn(parts.scheme, parts.netloc)
            hdrs = {"User-Agent": USER_AGENT, **headers}
            if parts.netloc == urlsplit(self.base).netloc:
                hdrs.update(self._auth_header(scopes))
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                conn.request(method, target, body=body, headers=hdrs)
                resp = conn.getresponse()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
                self._drop(parts.scheme, parts.netloc)
                if attempt == 0 and (body is None or isinstance(body, bytes)):
                    continue  # a kept-alive connection the server had closed
                raise dial_error(method, url, exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(parts.scheme, parts.netloc)
                raise dial_error(method, url, exc) from exc
            except BaseException:  # e.g. a streamed body failing half-way
                self._drop(parts.scheme, parts.netloc)
                raise
            heads = {k.lower(): v for k, v in resp.getheaders()}
            if resp.status in (301, 302, 303, 307, 308) and heads.get("location"):
                resp.read()
                url = urljoin(url, heads["location"])
                method = "GET" if resp.status == 303 else method
                continue
            return Reply(resp.status, heads, resp, url)
        raise Unavailable(f"{method} {url}: too many redirects")

    # -- auth -----------------------------------------------------------------------

    def _auth_header(self, scopes: list[str]) -> dict[str, str]:
        with self._lock:
            if self._basic:
                return {
                    "Authorization": "Basic "
                    + authmod.encode_auth(self.credentials.username, self.credentials.password)
                }
            if self.credentials.registry_token:
                return {"Authorization": "Bearer " + self.credentials.registry_token}
            token = self._tokens.get(" ".join(sorted(scopes)))
            if token is None and self._challenge is not None:
                token = self._fetch_token(self._challenge, scopes)
            return {"Authorization": "Bearer " + token} if token else {}

    def _learn(self, reply: Reply, scopes: list[str]) -> bool:
        """After a 401: set up auth from the challenge; False if nothing new to try."""
        reply.read()
        ch = authmod.parse_challenge(reply.header("www-authenticate"))
        if ch is None:
            return False
        with self._lock:
            if ch.scheme == "basic":
                if self._basic or self.credentials.anonymous:
                    return False
                self._basic = True
                return True
            key = " ".join(sorted(scopes))
            if key in self._tokens and self._challenge is not None:
                return False
            self._challenge = ch
            self._tokens[key] = self._fetch_token(ch, scopes)
            return True

    def _fetch_token(self, ch: authmod.Challenge, scopes: list[str]) -> str:
        """GET the realm (lock held); basic credentials go along when we have them."""
        url = authmod.token_url(ch, scopes)
        c = self.credentials
        headers = {"User-Agent": USER_AGENT}
        if c.username or c.password:
            cred = base64.b64encode(f"{c.username}:{c.password}".encode()).decode()
            headers["Authorization"] = "Basic " + cred
        if c.identity_token:
            q = {
                "grant_type": "refresh_token",
                "refresh_token": c.identity_token,
                "service": ch.params.get("service", ""),
                "scope": " ".join(scopes),
                "client_id": "docker",
            }
            return self._post_token(ch.params["realm"], q)
        parts = urlsplit(url)
        conn = self._conn(parts.scheme, parts.netloc)
        try:
            conn.request("GET", parts.path + "?" + parts.query, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop(parts.scheme, parts.netloc)
            raise dial_error("GET", url, exc) from exc
        key = " ".join(sorted(scopes))
        if resp.status != 200:
            text = registry_message(raw, resp.status, resp.reason)
            raise Unauthorized(f'Get "{url}": {text}' if resp.status in (401, 403) else text)
        token = _token_of(raw)
        self._tokens[key] = token
        return token

    def _post_token(self, realm: str, query: dict[str, str]) -> str:
        parts = urlsplit(realm)
        conn = self._conn(parts.scheme, parts.netloc)
        body = urlencode(query).encode()
        try:
            conn.request(
                "POST",
                parts.path or "/",
                body=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": USER_AGENT,
                },
            )
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop(parts.scheme, parts.netloc)
            raise dial_error("POST", realm, exc) from exc
        if resp.status != 200:
            raise Unauthorized(
                f'Post "{realm}": ' + registry_message(raw, resp.status, resp.reason)
            )
        return _token_of(raw)

    def ping(self) -> None:
        """GET /v2/ with credentials (login): raises Unauthorized on bad ones."""
        reply = self.request("GET", "/v2/", scopes=[], ok=(200, 401))
        reply.read()
        if reply.status == 401:
            raise Unauthorized("unauthorized: incorrect username or password")


def _token_of(raw: bytes) -> str:
    try:
        obj: Any = json.loads(raw)
    except ValueError as exc:
        raise Unauthorized(f"invalid token response: {exc}") from exc
    token = obj.get("token") or obj.get("access_token") if isinstance(obj, dict) else None
    if not token:
        raise Unauthorized("token response without a token")
    return str(token)
