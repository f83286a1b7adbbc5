"""Registry configuration: command-line flags over an optional YAML file.

addr: 127.0.0.1:5000
root: /var/lib/wharfie-registry
tls: {cert: server.crt, key: server.key}
storage: {delete: true, fsync: true, readonly: false, upload_purge_age: 604800}
log: {accesslog: "-"}            # "-" stderr (default), a file path, or "off"
auth:
  htpasswd: {realm: wharfie-registry, path: /etc/wharfie/htpasswd}
  # or the built-in token server (Docker Hub style):
  token:
    htpasswd: /etc/wharfie/htpasswd   # who may log in at the token endpoint
    realm: https://reg.example/token  # default: <scheme>://<Host header>/token
    service: wharfie-registry
    issuer: wharfie-registry
    secret_file: <root>/token.key    # HS256 key, made on first start if missing
    expiration: 300
    anonymous: [pull]                # actions granted without credentials
    access:                          # default: every user gets everything
      - {account: alice, name: "alice/*", actions: [pull, push, delete]}
      - {account: "*", name: "*", actions: [pull]}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from wharfie.errors import InvalidArgument


@dataclass
class AccessRule:
    account: str
    name: str
    actions: list[str]


@dataclass
class TokenConfig:
    htpasswd: str
    realm: str | None = None
    service: str = "wharfie-registry"
    issuer: str = "wharfie-registry"
    secret_file: str | None = None
    expiration: int = 300
    anonymous: list[str] = field(default_factory=list)
    access: list[AccessRule] | None = None


@dataclass
class Config:
    root: str
    host: str = "127.0.0.1"
    port: int = 5000
    tls_cert: str | None = None
    tls_key: str | None = None
    delete: bool = True
    fsync: bool = True
    readonly: bool = False
    upload_purge_age: float = 7 * 24 * 3600
    accesslog: str = "-"
    htpasswd: str | None = None
    realm: str = "wharfie-registry"
    token: TokenConfig | None = None


def parse_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise InvalidArgument(f"bad address {addr!r}: want HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"config: {key} must be a mapping")
    return value


def from_dict(doc: dict[str, Any], root: str | None = None) -> Config:
    root = root or doc.get("root")
    if not root:
        raise InvalidArgument("no storage root: give --root or root: in the config")
    cfg = Config(root=str(root))
    if doc.get("addr"):
        cfg.host, cfg.port = parse_addr(str(doc["addr"]))
    tls, storage, log = _section(doc, "tls"), _section(doc, "storage"), _section(doc, "log")
    cfg.tls_cert, cfg.tls_key = tls.get("cert"), tls.get("key")
    cfg.delete = bool(storage.get("delete", True))
    cfg.fsync = bool(storage.get("fsync", True))
    cfg.readonly = bool(storage.get("readonly", False))
    cfg.upload_purge_age = float(storage.get("upload_purge_age", cfg.upload_purge_age))
    cfg.accesslog = str(log.get("accesslog", "-"))
    auth = _section(doc, "auth")
    if "htpasswd" in auth:
        ht = _section(auth, "htpasswd")
        cfg.htpasswd = str(ht["path"])
        cfg.realm = str(ht.get("realm", cfg.realm))
    if "token" in auth:
        cfg.token = _token(_section(auth, "token"), cfg.root)
    if cfg.htpasswd and cfg.token:
        raise InvalidArgument("config: auth takes htpasswd or token, not both")
    return cfg


def _token(doc: dict[str, Any], root: str) -> TokenConfig:
    if not doc.get("htpasswd"):
        raise InvalidArgument("config: auth.token needs htpasswd: (the accounts)")
    tc = TokenConfig(htpasswd=str(doc["htpasswd"]))
    tc.realm = doc.get("realm")
    tc.service = str(doc.get("service", tc.service))
    tc.issuer = str(doc.get("issuer", tc.issuer))
    tc.secret_file = str(doc.get("secret_file") or os.path.join(root, "token.key"))
    tc.expiration = int(doc.get("expiration", tc.expiration))
    tc.anonymous = [str(a) for a in doc.get("anonymous") or []]
    if doc.get("access") is not None:
        tc.access = [
            AccessRule(str(r["account"]), str(r["name"]), [str(a) for a in r["actions"]])
            for r in doc["access"]
        ]
    return tc


def load(path: str | None, root: str | None) -> Config:
    doc: dict[str, Any] = {}
    if path:
        import yaml

        try:
            with open(path) as f:
                doc = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidArgument(f"config {path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise InvalidArgument(f"config {path}: not a mapping")
    try:
        return from_dict(doc, root)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument(f"config {path}: {exc}") from exc
