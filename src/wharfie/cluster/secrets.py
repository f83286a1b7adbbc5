"""Secrets and configs: named objects whose data reaches only the nodes that run a task using
them.

A secret's data is stored in etcd encrypted (AES-256-GCM) with the cluster's secrets key, which
lives on the managers' disks (`certificates/secrets.key`, 0600) and travels only to a manager
that joins; etcd, its snapshots and its peers see ciphertext. A config's data is stored as is
(dockerd shows it in `config inspect`). Neither is ever written to a node's disk: the agent puts
them on a tmpfs per task (daemon/swarmtasks.py) and bind-mounts each file read-only.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from wharfie.cluster import admin
from wharfie.cluster.kv import KV
from wharfie.cluster.records import new_id
from wharfie.cluster.services import Service
from wharfie.errors import InvalidArgument, NotFound
from wharfie.times import format_nano

KINDS = ("secret", "config")
MAX_SIZE = 500 * 1024  # swarmkit's limit for both


@dataclass
class Blob:
    """A secret or a config as stored (a secret's `data` is ciphertext: nonce + GCM output)."""

    id: str
    kind: str
    name: str
    labels: dict[str, str]
    data: str  # base64
    created_ns: int
    updated_ns: int
    driver: dict[str, Any] | None = None
    templating: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def new_key() -> bytes:
    return os.urandom(32)


def seal(key: bytes, plain: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plain, aad)


def unseal(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], aad)
    except (InvalidTag, ValueError):
        raise InvalidArgument("a secret could not be decrypted with this cluster's key") from None


def _to_store(b: Blob) -> bytes:
    return json.dumps(asdict(b), separators=(",", ":")).encode()


def _from_store(raw: bytes) -> Blob:
    return Blob(**json.loads(raw))


def create(kv: KV, kind: str, doc: dict[str, Any], key: bytes) -> str:
    name = str(doc.get("Name") or "")
    if not name:
        raise InvalidArgument(
            f"rpc error: code = InvalidArgument desc = {kind} name must be provided"
        )
    try:
        plain = base64.b64decode(str(doc.get("Data") or ""), validate=True)
    except ValueError:
        raise InvalidArgument(f"invalid {kind} data: not base64") from None
    if not plain and kind == "secret" and not doc.get("Driver"):
        raise InvalidArgument(
            "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and "
            f"less than {MAX_SIZE} bytes"
        )
    if len(plain) > MAX_SIZE:
        raise InvalidArgument(
            f"rpc error: code = InvalidArgument desc = {kind} data must be larger than 0 and "
            f"less than {MAX_SIZE} bytes"
        )
    now = time.time_ns()
    oid = new_id()
    stored = seal(key, plain, oid.encode()) if kind == "secret" else plain
    b = Blob(
        id=oid,
        kind=kind,
        name=name,
        labels=dict(doc.get("Labels") or {}),
        data=base64.b64encode(stored).decode(),
        created_ns=now,
        updated_ns=now,
        driver=doc.get("Driver"),
        templating=doc.get("Templating"),
    )
    admin.objects(kv).create(kind, oid, _to_store(b), name=name)
    return oid


def all_of(kv: KV, kind: str) -> list[tuple[Blob, int]]:
    stored, _ = admin.objects(kv).list(kind)
    return [(_from_store(s.body), s.version) for s in stored]


def find(kv: KV, kind: str, ref: str) -> tuple[Blob, int]:
    store = admin.objects(kv)
    for oid in (ref, store.lookup(kind, ref)):
        if not oid:
            continue
        try:
            s = store.get(kind, oid)
        except NotFound:
            continue
        return _from_store(s.body), s.version
    hits = [(b, v) for b, v in all_of(kv, kind) if ref and b.id.startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    raise NotFound(f"{kind} {ref} not found")


def plain_data(b: Blob, key: bytes) -> bytes:
    raw = base64.b64decode(b.data)
    return unseal(key, raw, b.id.encode()) if b.kind == "secret" else raw


def update(kv: KV, kind: str, ref: str, version: int, doc: dict[str, Any]) -> None:
    b, _ = find(kv, kind, ref)
    if str(doc.get("Name") or b.name) != b.name or (
        "Data" in doc and doc["Data"] and kind == "secret"
    ):
        raise InvalidArgument(
            "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"
        )
    b.labels = dict(doc.get("Labels") or {})
    b.updated_ns = time.time_ns()
    admin.objects(kv).update(kind, b.id, version, _to_store(b))


def remove(kv: KV, kind: str, ref: str, services: list[Service]) -> None:
    b, _ = find(kv, kind, ref)
    users = sorted(s.spec.name for s in services if b.id in references(s, kind))
    if users:
        plural = "s" if len(users) > 1 else ""
        raise InvalidArgument(
            f"rpc error: code = InvalidArgument desc = {kind} '{b.name}' is in use by the "
            f"following service{plural}: {', '.join(users)}"
        )
    admin.objects(kv).delete(kind, b.id, name=b.name)


def references(s: Service, kind: str) -> list[str]:
    """The ids of the secrets (or configs) a service's tasks use."""
    container = (s.spec.doc.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    field_name, id_key = ("Secrets", "SecretID") if kind == "secret" else ("Configs", "ConfigID")
    return [str(r.get(id_key) or "") for r in container.get(field_name) or []]


def render(b: Blob, version: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"Name": b.name, "Labels": dict(b.labels)}
    if b.kind == "config":
        spec["Data"] = b.data
    if b.driver:
        spec["Driver"] = b.driver
    if b.templating:
        spec["Templating"] = b.templating
    return {
        "ID": b.id,
        "Version": {"Index": version},
        "CreatedAt": format_nano(b.created_ns),
        "UpdatedAt": format_nano(b.updated_ns),
        "Spec": spec,
    }


@dataclass(frozen=True)
class TaskFile:
    """A secret or config file for a task's container."""

    target: str  # the path in the container
    data: bytes
    uid: int
    gid: int
    mode: int


def files_for(kv: KV, s: Service, key: bytes) -> list[TaskFile]:
    """The secret and config files a service's tasks get, decrypted (for the agent)."""
    container = (s.spec.doc.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    out = []
    for kind, field_name, id_key, name_key in (
        ("secret", "Secrets", "SecretID", "SecretName"),
        ("config", "Configs", "ConfigID", "ConfigName"),
    ):
        for ref in container.get(field_name) or []:
            b, _ = find(kv, kind, str(ref.get(id_key) or ref.get(name_key) or ""))
            f = ref.get("File") or {}
            name = str(f.get("Name") or b.name)
            if kind == "secret":
                target = name if name.startswith("/") else f"/run/secrets/{name}"
            else:
                target = name if name.startswith("/") else f"/{name}"
            out.append(
                TaskFile(
                    target=target,
                    data=plain_data(b, key),
                    uid=int(f.get("UID") or 0),
                    gid=int(f.get("GID") or 0),
                    mode=0o444 if f.get("Mode") is None else int(f["Mode"]),
                )
            )
    return out


def check_references(kv: KV, doc: dict[str, Any]) -> None:
    """A service may only name secrets and configs that exist (swarmkit's wording)."""
    container = (doc.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    for kind, field_name, id_key, name_key in (
        ("secret", "Secrets", "SecretID", "SecretName"),
        ("config", "Configs", "ConfigID", "ConfigName"),
    ):
        for ref in container.get(field_name) or []:
            oid = str(ref.get(id_key) or "")
            try:
                admin.objects(kv).get(kind, oid)
            except NotFound:
                raise InvalidArgument(
                    f"rpc error: code = InvalidArgument desc = {kind} reference is invalid: "
                    f"{kind} {ref.get(name_key) or oid} not found"
                ) from None
