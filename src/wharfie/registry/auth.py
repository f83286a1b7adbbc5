"""Who may do what: no auth, htpasswd basic auth, or bearer tokens from our token endpoint.

Every route names what it needs as `(type, name, action)` triples, e.g.
`("repository", "library/busybox", "pull")`; an authorizer returns the account
(or None) or raises `AuthError`, whose challenge goes out as WWW-Authenticate.
Docker's login flow against the token mode: GET /v2/ -> 401 Bearer challenge ->
GET <realm>?service=..&scope=.. with basic credentials -> a signed JWT listing the
granted actions -> requests with `Authorization: Bearer <jwt>`.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import secrets
import threading
import time
from typing import Any, Protocol

from wharfie.errors import InvalidArgument
from wharfie.registry import jwt
from wharfie.registry.codes import RegistryError
from wharfie.registry.config import AccessRule, TokenConfig

Need = tuple[str, str, str]  # (type, name, action)
REFRESH = "refresh"
REFRESH_LIFETIME = 90 * 24 * 3600
ALL_ACTIONS = ("pull", "push", "delete")


class AuthError(RegistryError):
    def __init__(self, code: str, message: str, challenge: str | None, detail: Any = None) -> None:
        super().__init__(code, message, detail)
        self.challenge = challenge


class Authorizer(Protocol):
    def check(self, headers: dict[str, str], needs: list[Need], base: str) -> str | None:
        """The account allowed to do all of `needs` (None: anonymous), or AuthError."""


class NoAuth:
    def check(self, headers: dict[str, str], needs: list[Need], base: str) -> str | None:
        return None


class Htpasswd:
    """`user:bcrypt-hash` lines, re-read when the file changes; good checks are cached."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._mtime = -1.0
        self._users: dict[str, bytes] = {}
        self._ok: set[tuple[str, bytes]] = set()
        self._lock = threading.Lock()

    def _reload(self) -> None:
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError as exc:
            raise InvalidArgument(f"htpasswd {self.path}: {exc}") from exc
        if mtime == self._mtime:
            return
        users = {}
        with open(self.path) as f:
            for line in f:
                user, sep, hashed = line.strip().partition(":")
                if sep and user and not user.startswith("#"):
                    users[user] = hashed.encode()
        self._users, self._ok, self._mtime = users, set(), mtime

    def has_user(self, user: str) -> bool:
        with self._lock:
            self._reload()
            return user in self._users

    def verify(self, user: str, password: str) -> bool:
        import bcrypt

        key = (user, hashlib.sha256(password.encode()).digest())
        with self._lock:
            self._reload()
            hashed = self._users.get(user)
            if key in self._ok:
                return True
        if hashed is None or not hashed.startswith(b"$2"):
            return False
        try:
            good = bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if good:
            with self._lock:
                self._ok.add(key)
        return good


def basic_credentials(headers: dict[str, str]) -> tuple[str, str] | None:
    kind, _, value = headers.get("authorization", "").partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class BasicAuth:
    def __init__(self, htpasswd: Htpasswd, realm: str) -> None:
        self.htpasswd = htpasswd
        self.realm = realm

    def check(self, headers: dict[str, str], needs: list[Need], base: str) -> str | None:
        creds = basic_credentials(headers)
        if creds is not None and self.htpasswd.verify(*creds):
            return creds[0]
        raise AuthError("UNAUTHORIZED", "authentication required", f'Basic realm="{self.realm}"')


def parse_scope(text: str) -> list[Need]:
    """`repository:a/b:pull,push` (several separated by spaces) -> needs."""
    out: list[Need] = []
    for item in text.split():
        kind, sep, rest = item.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not (sep and sep2 and name):
            continue
        out += [(kind, name, a) for a in actions.split(",") if a]
    return out


class TokenAuth:
    def __init__(self, cfg: TokenConfig, htpasswd: Htpasswd) -> None:
        self.cfg = cfg
        self.htpasswd = htpasswd
        self.secret = _secret(cfg.secret_file or "")

    # -- the registry side ---------------------------------------------------------------
    def check(self, headers: dict[str, str], needs: list[Need], base: str) -> str | None:
        kind, _, token = headers.get("authorization", "").partition(" ")
        if kind.lower() != "bearer":
            raise self._challenge(needs, base, None)
        try:
            claims = jwt.decode(token.strip(), self.secret, self.cfg.issuer, self.cfg.service)
        except InvalidArgument as exc:
            raise self._challenge(needs, base, "invalid_token", str(exc)) from exc
        if claims.get("typ") == REFRESH:  # a refresh token opens nothing by itself
            raise self._challenge(needs, base, "invalid_token", "a refresh token is no access")
        granted = _granted(claims.get("access"))
        account = claims.get("sub") or None
        for need in needs:
            if need in granted:
                continue
            if account is None or self.allowed(account, *need):  # log in, or ask again
                raise self._challenge(needs, base, "insufficient_scope")
            raise AuthError(
                "DENIED",
                "requested access to the resource is denied",
                None,
                {"type": need[0], "name": need[1], "action": need[2]},
            )
        return str(account) if account else None

    def _challenge(
        self,
        needs: list[Need],
        base: str,
        error: str | None,
        message: str = "authentication required",
    ) -> AuthError:
        realm = self.cfg.realm or f"{base}/token"
        value = f'Bearer realm="{realm}",service="{self.cfg.service}"'
        scope = _scope_text(needs)
        if scope:
            value += f',scope="{scope}"'
        if error:
            value += f',error="{error}"'
        return AuthError("UNAUTHORIZED", message, value)

    # -- the token endpoint --------------------------------------------------------------
    def allowed(self, account: str | None, kind: str, name: str, action: str) -> bool:
        if account is None:
            return kind == "repository" and action in self.cfg.anonymous
        if self.cfg.access is None:
            return True
        return any(_rule_matches(r, account, kind, name, action) for r in self.cfg.access)

    def token_request(
        self, method: str, headers: dict[str, str], params: dict[str, list[str]]
    ) -> dict[str, Any]:
        """The token endpoint: GET with basic credentials (Docker's login and pulls), or a
        POST form with the OAuth2 password or refresh_token grant (Docker's identity tokens).
        A refresh token is handed out on request (GET `offline_token=true`, POST
        `access_type=offline`) to an account that logged in with its password."""

        def one(key: str) -> str:
            return params.get(key, [""])[-1]

        grant = one("grant_type") if method == "POST" else ""
        if grant == "refresh_token":
            account: str | None = self._refresh_account(one("refresh_token"))
        elif grant == "password":
            account = self._password_account(one("username"), one("password"))
        elif method == "POST":
            raise AuthError("UNSUPPORTED", f"unsupported grant_type {grant!r}", None)
        else:
            creds = basic_credentials(headers)
            account = self._password_account(*creds) if creds else None
        offline = (
            account is not None
            and grant != "refresh_token"
            and (one("offline_token") == "true" or one("access_type") == "offline")
        )
        return self.issue(account, one("service") or None, params.get("scope", []), offline)

    def _password_account(self, user: str, password: str) -> str:
        if not user or not self.htpasswd.verify(user, password):
            raise AuthError("UNAUTHORIZED", "invalid username or password", None)
        return user

    def _refresh_account(self, token: str) -> str:
        try:
            claims = jwt.decode(token, self.secret, self.cfg.issuer, self.cfg.service)
        except InvalidArgument as exc:
            raise AuthError("UNAUTHORIZED", f"invalid refresh token: {exc}", None) from exc
        account = claims.get("sub")
        if (
            claims.get("typ") != REFRESH
            or not isinstance(account, str)
            or not self.htpasswd.has_user(account)
        ):
            raise AuthError("UNAUTHORIZED", "invalid refresh token", None)
        return account

    def issue(
        self, account: str | None, service: str | None, scopes: list[str], offline: bool = False
    ) -> dict[str, Any]:
        """A signed access token for `account` (None: anonymous) with the granted part of
        `scopes`, plus a refresh token if `offline`."""
        if service not in (None, self.cfg.service):
            raise AuthError("DENIED", "unknown service", None, {"service": service})
        needs = parse_scope(" ".join(scopes))
        access = _access_claim([n for n in needs if self.allowed(account, *n)])
        now = int(time.time())
        claims = {
            "iss": self.cfg.issuer,
            "sub": account or "",
            "aud": self.cfg.service,
            "exp": now + self.cfg.expiration,
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = jwt.encode(claims, self.secret)
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        out: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": self.cfg.expiration,
            "issued_at": issued,
        }
        if offline:
            out["refresh_token"] = jwt.encode(
                {
                    "iss": self.cfg.issuer,
                    "sub": account,
                    "aud": self.cfg.service,
                    "exp": now + REFRESH_LIFETIME,
                    "iat": now,
                    "typ": REFRESH,
                    "jti": secrets.token_hex(16),
                },
                self.secret,
            )
        return out


def _rule_matches(rule: AccessRule, account: str, kind: str, name: str, action: str) -> bool:
    if rule.account != "*" and rule.account != account:
        return False
    target = name if kind == "repository" else f"{kind}:{name}"
    return fnmatch.fnmatchcase(target, rule.name) and (
        action in rule.actions or "*" in rule.actions
    )


def _granted(access: Any) -> set[Need]:
    out: set[Need] = set()
    for entry in access if isinstance(access, list) else []:
        if isinstance(entry, dict):
            for action in entry.get("actions") or []:
                out.add((str(entry.get("type")), str(entry.get("name")), str(action)))
    return out


def _access_claim(needs: list[Need]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], list[str]] = {}
    for kind, name, action in needs:
        acts = merged.setdefault((kind, name), [])
        if action not in acts:
            acts.append(action)
    return [{"type": k, "name": n, "actions": a} for (k, n), a in merged.items()]


def _scope_text(needs: list[Need]) -> str:
    return " ".join(
        f"{e['type']}:{e['name']}:{','.join(e['actions'])}" for e in _access_claim(needs)
    )


def _secret(path: str) -> bytes:
    """The HS256 key in `path`, made (32 random bytes, mode 0600) if missing."""
    try:
        with open(path, "rb") as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def make_authorizer(htpasswd: str | None, realm: str, token: TokenConfig | None) -> Any:
    if token is not None:
        return TokenAuth(token, Htpasswd(token.htpasswd))
    if htpasswd is not None:
        return BasicAuth(Htpasswd(htpasswd), realm)
    return NoAuth()


def token_response(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
