"""Registry credentials and challenges (pure): X-Registry-Auth, WWW-Authenticate, config.json.

* `decode_registry_auth(header)`: the base64url JSON clients send (docker's AuthConfig);
  empty or "e30=" ("{}") means anonymous.
* `parse_challenge(header)`: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`
  → `Challenge(scheme, params)`.
* `token_url(challenge, scopes)`: where to fetch a bearer token.
* `encode_auth` / `decode_auth`: config.json's `auths.<host>.auth` ("user:pass" base64).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from wharfie.errors import InvalidArgument

INDEX_SERVER = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class AuthConfig:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""
    server_address: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> AuthConfig:
        low = {str(k).lower(): v for k, v in obj.items()}
        user, password = str(low.get("username") or ""), str(low.get("password") or "")
        if not user and low.get("auth"):
            user, password = decode_auth(str(low["auth"]))
        return cls(
            username=user,
            password=password,
            identity_token=str(low.get("identitytoken") or ""),
            registry_token=str(low.get("registrytoken") or ""),
            server_address=str(low.get("serveraddress") or ""),
        )


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(f"invalid X-Registry-Auth header: {exc}") from exc


def decode_registry_auth(header: str) -> AuthConfig:
    """Docker's X-Registry-Auth: base64url(JSON AuthConfig). Missing → anonymous."""
    if not header or not header.strip():
        return AuthConfig()
    raw = _b64decode(header)
    try:
        obj = json.loads(raw or b"{}")
    except ValueError as exc:
        raise InvalidArgument(f"invalid X-Registry-Auth header: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidArgument("invalid X-Registry-Auth header: not a JSON object")
    return AuthConfig.from_json(obj)


def encode_registry_auth(auth: AuthConfig) -> str:
    obj = {
        "username": auth.username,
        "password": auth.password,
        "serveraddress": auth.server_address,
    }
    if auth.identity_token:
        obj["identitytoken"] = auth.identity_token
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


def encode_auth(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def decode_auth(value: str) -> tuple[str, str]:
    try:
        raw = base64.b64decode(value, validate=False).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid auth configuration: {exc}") from exc
    user, sep, password = raw.partition(":")
    if not sep:
        raise InvalidArgument("invalid auth configuration: no ':' in auth")
    return user, password


_PARAM = re.compile(r'([A-Za-z0-9_\-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a WWW-Authenticate header; None if absent or unknown."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM.finditer(rest)
    }
    params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in params.items()}
    kind = scheme.lower()
    if kind not in ("bearer", "basic"):
        return None
    return Challenge(kind, params)


def token_url(ch: Challenge, scopes: list[str]) -> str:
    realm = ch.params.get("realm", "")
    if not realm:
        raise InvalidArgument("bearer challenge without a realm")
    query: list[tuple[str, str]] = []
    if ch.params.get("service"):
        query.append(("service", ch.params["service"]))
    for scope in scopes:
        query.append(("scope", scope))
    sep = "&" if "?" in realm else "?"
    return realm + (sep + urlencode(query) if query else "")


def repo_scope(repository_path: str, actions: str) -> str:
    return f"repository:{repository_path}:{actions}"


def config_key(registry: str) -> str:
    """The key of `auths` in config.json for a registry host (docker.io → the index URL)."""
    if registry in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return INDEX_SERVER
    return registry


def lookup(config: dict[str, Any], registry: str) -> AuthConfig:
    """Credentials for `registry` from a parsed config.json (anonymous if none)."""
    auths = config.get("auths") or {}
    key = config_key(registry)
    for name in (key, f"https://{key}", f"http://{key}", registry):
        entry = auths.get(name)
        if entry:
            found = AuthConfig.from_json(entry)
            return AuthConfig(
                found.username, found.password, found.identity_token, found.registry_token, key
            )
    return AuthConfig(server_address=key)


def normalize_server(address: str) -> str:
    """A login address as a registry host: "https://x:5000/v2/" → "x:5000"."""
    addr = address.strip()
    if not addr:
        return "docker.io"
    for prefix in ("https://", "http://"):
        addr = addr.removeprefix(prefix)
    addr = addr.split("/", 1)[0]
    if addr in ("index.docker.io", "registry-1.docker.io", "docker.io"):
        return "docker.io"
    return addr
