"""The cluster store's key-value layer: etcd's KV, transactions, leases and watches.

A narrow, typed interface (`KV`) over etcd's v3 API, reached through its JSON gateway with
etcd3gw (docs/dependencies.md says why not gRPC). Everything above it speaks in `Entry`,
`Compare` and `Op` records, never in the gateway's base64 JSON. Calls block: the daemon runs
them in a thread (`asyncio.to_thread`).

Revisions are etcd's: an entry's `mod_revision` is the store revision of its last write, which
the object layer hands out as an object's `Version.Index`.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from wharfie.errors import Unavailable


class StoreUnavailable(Unavailable):
    """etcd could not be reached or refused the request (TLS, no quorum, timeout)."""


@dataclass(frozen=True)
class Entry:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int
    lease: int = 0


@dataclass(frozen=True)
class Compare:
    """One condition of a transaction: `target` of `key` compared with `value`.

    target: "mod" (mod_revision), "create" (create_revision; 0 means absent) or "value"."""

    key: str
    target: Literal["mod", "create", "value"]
    result: Literal["==", "!=", "<", ">"]
    value: int | bytes

    @staticmethod
    def absent(key: str) -> Compare:
        return Compare(key, "create", "==", 0)

    @staticmethod
    def unchanged(key: str, mod_revision: int) -> Compare:
        return Compare(key, "mod", "==", mod_revision)


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes
    lease: int = 0


@dataclass(frozen=True)
class Delete:
    key: str
    prefix: bool = False


Op = Put | Delete

# operations per transaction when many objects are written together: etcd refuses a
# transaction of more than --max-txn-ops (128 by default) operations or compares
TXN_BATCH = 100


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int  # the store's revision after the transaction


@dataclass(frozen=True)
class WatchEvent:
    kind: Literal["put", "delete"]
    entry: Entry  # for a delete: the key and the deleting revision, value empty


@dataclass
class Watch:
    events: Iterator[WatchEvent]
    cancel: Callable[[], None] = field(repr=False)


class KV(Protocol):
    def get(self, key: str) -> Entry | None: ...
    def range(self, prefix: str) -> tuple[list[Entry], int]: ...
    def ranges(self, prefixes: list[str]) -> tuple[list[list[Entry]], int]: ...
    def txn(
        self, compares: list[Compare], success: list[Op], failure: list[Op] | None = None
    ) -> TxnResult: ...
    def grant(self, ttl: int) -> int: ...
    def keepalive(self, lease: int) -> int: ...
    def revoke(self, lease: int) -> None: ...
    def watch(self, prefix: str, start_revision: int) -> Watch: ...


@dataclass(frozen=True)
class TLSFiles:
    ca: str
    cert: str
    key: str


class EtcdKV:
    """`KV` on an etcd 3.4+ cluster through its JSON gateway."""

    def __init__(self, endpoints: list[str], tls: TLSFiles | None, timeout: float = 5.0) -> None:
        import logging

        import etcd3gw  # ~0.15 s to import: only daemons in a cluster pay it

        # one line per etcd request at debug level would drown the daemon's log
        logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

        self._etcd3gw = etcd3gw
        if not endpoints:
            raise ValueError("no etcd endpoints")
        self._endpoints = endpoints
        self._tls = tls
        self._timeout = timeout
        self._lock = threading.Lock()
        self._current = 0
        self._client = self._connect(0)

    def _connect(self, i: int) -> Any:
        import requests

        host, port, scheme = _split_endpoint(self._endpoints[i])
        session = requests.Session()
        # only our CA and our certificate: no proxy or CA bundle from the environment
        session.trust_env = False
        if self._tls is not None:
            session.verify = self._tls.ca
            session.cert = (self._tls.cert, self._tls.key)
        return self._etcd3gw.client(
            host=host,
            port=port,
            protocol=scheme,
            # a member that is gone (its link down) must not hold a call for the whole read
            # timeout before the next endpoint is tried
            timeout=(min(1.0, self._timeout), self._timeout),  # type: ignore[arg-type]  # requests takes (connect, read)
            api_path="/v3/",
            session=session,
        )

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One call, failing over to the next endpoint when one cannot be reached."""
        errors: list[str] = []
        for _ in range(len(self._endpoints)):
            client = self._client
            try:
                out: dict[str, Any] = client.post(client.get_url(path), json=body)
                return out
            except self._etcd3gw.exceptions.ConnectionFailedError as exc:
                errors.append(f"{self._endpoints[self._current]}: {exc}")
            except self._etcd3gw.exceptions.ConnectionTimeoutError as exc:
                errors.append(f"{self._endpoints[self._current]}: timeout: {exc}")
            except self._etcd3gw.exceptions.Etcd3Exception as exc:
                raise StoreUnavailable(f"cluster store: {path}: {_detail(exc)}") from None
            with self._lock:
                self._current = (self._current + 1) % len(self._endpoints)
                self._client = self._connect(self._current)
        raise StoreUnavailable("cluster store unreachable: " + "; ".join(errors))

    def get(self, key: str) -> Entry | None:
        out = self._post("/kv/range", {"key": _b64(key.encode())})
        kvs = out.get("kvs") or []
        return _entry(kvs[0]) if kvs else None

    def range(self, prefix: str) -> tuple[list[Entry], int]:
        """Every entry under `prefix`, sorted by key, and the revision they were read at."""
        raw = prefix.encode()
        out = self._post(
            "/kv/range",
            {"key": _b64(raw), "range_end": _b64(_prefix_end(raw)), "sort_order": "ASCEND"},
        )
        rev = int(out.get("header", {}).get("revision", 0))
        return [_entry(kv) for kv in out.get("kvs") or []], rev

    def ranges(self, prefixes: list[str]) -> tuple[list[list[Entry]], int]:
        """Every entry under each prefix, read in one request (one read-only transaction: one
        round trip, one consistent revision), and that revision."""
        ops = []
        for prefix in prefixes:
            raw = prefix.encode()
            ops.append(
                {
                    "request_range": {
                        "key": _b64(raw),
                        "range_end": _b64(_prefix_end(raw)),
                        "sort_order": "ASCEND",
                    }
                }
            )
        out = self._post("/kv/txn", {"compare": [], "success": ops, "failure": []})
        responses = out.get("responses") or []
        if len(responses) != len(prefixes):
            raise StoreUnavailable(f"cluster store: {len(responses)} answers to {len(ops)} reads")
        rev = int(out.get("header", {}).get("revision", 0))
        return [
            [_entry(kv) for kv in (r.get("response_range") or {}).get("kvs") or []]
            for r in responses
        ], rev

    def txn(
        self, compares: list[Compare], success: list[Op], failure: list[Op] | None = None
    ) -> TxnResult:
        body = {
            "compare": [_compare(c) for c in compares],
            "success": [_op(o) for o in success],
            "failure": [_op(o) for o in failure or []],
        }
        out = self._post("/kv/txn", body)
        return TxnResult(
            succeeded=bool(out.get("succeeded")),
            revision=int(out.get("header", {}).get("revision", 0)),
        )

    def grant(self, ttl: int) -> int:
        out = self._post("/lease/grant", {"TTL": ttl, "ID": 0})
        return int(out["ID"])

    def keepalive(self, lease: int) -> int:
        """Renew a lease; its remaining TTL, 0 if it had already expired."""
        out = self._post("/lease/keepalive", {"ID": lease})
        return int(out.get("result", {}).get("TTL", 0))

    def revoke(self, lease: int) -> None:
        self._post("/kv/lease/revoke", {"ID": lease})

    # -- membership (managers' etcd members) --
    def members(self) -> dict[str, Any]:
        return self._post("/cluster/member/list", {})

    def member_add(self, peer_urls: list[str]) -> list[dict[str, Any]]:
        """Announce a new member; it must then start with initial-cluster-state existing.
        The members after the change (the new one unnamed until it starts). Until it starts,
        a cluster that needs it for its quorum answers nothing: ask nothing more of it."""
        out = self._post("/cluster/member/add", {"peerURLs": peer_urls})
        return list(out.get("members") or [])

    def member_remove(self, member_id: int) -> None:
        self._post("/cluster/member/remove", {"ID": member_id})

    def close(self) -> None:
        self._client.session.close()

    def watch(self, prefix: str, start_revision: int) -> Watch:
        """Changes under `prefix` from `start_revision` on, as an iterator that blocks."""
        raw = prefix.encode()
        events, cancel = self._client.watch(
            raw, range_end=_prefix_end(raw).decode("latin-1"), start_revision=start_revision
        )

        def typed() -> Iterator[WatchEvent]:
            for ev in events:
                kv = ev.get("kv") or {}
                kind: Literal["put", "delete"] = "delete" if ev.get("type") == "DELETE" else "put"
                value = kv.get("value", b"")
                yield WatchEvent(
                    kind,
                    Entry(
                        key=_text(kv.get("key", b"")),
                        value=value if isinstance(value, bytes) else str(value).encode(),
                        mod_revision=int(kv.get("mod_revision", 0)),
                        create_revision=int(kv.get("create_revision", 0)),
                        lease=int(kv.get("lease", 0)),
                    ),
                )

        return Watch(typed(), cancel)


def _split_endpoint(url: str) -> tuple[str, int, str]:
    scheme, _, rest = url.partition("://")
    if not rest:
        scheme, rest = "http", url
    host, _, port = rest.rstrip("/").rpartition(":")
    return host.strip("[]"), int(port), scheme


def _detail(exc: Exception) -> str:
    args = [str(a) for a in getattr(exc, "args", ()) if a]
    return " ".join(args) or type(exc).__name__


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _prefix_end(raw: bytes) -> bytes:
    """The first key after every key that starts with `raw` (etcd's range_end)."""
    b = bytearray(raw)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\0"


def _entry(kv: dict[str, Any]) -> Entry:
    return Entry(
        key=base64.b64decode(kv["key"]).decode(),
        value=base64.b64decode(kv.get("value", "")),
        mod_revision=int(kv.get("mod_revision", 0)),
        create_revision=int(kv.get("create_revision", 0)),
        lease=int(kv.get("lease", 0)),
    )


_RESULT = {"==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
_TARGET = {"mod": ("MOD", "mod_revision"), "create": ("CREATE", "create_revision")}


def _compare(c: Compare) -> dict[str, Any]:
    out: dict[str, Any] = {"key": _b64(c.key.encode()), "result": _RESULT[c.result]}
    if c.target == "value":
        if not isinstance(c.value, bytes):
            raise TypeError("a value comparison needs bytes")
        out.update(target="VALUE", value=_b64(c.value))
    else:
        target, field_name = _TARGET[c.target]
        out.update(target=target, **{field_name: str(int(c.value))})
    return out


def _op(o: Op) -> dict[str, Any]:
    if isinstance(o, Put):
        put: dict[str, Any] = {"key": _b64(o.key.encode()), "value": _b64(o.value)}
        if o.lease:
            put["lease"] = str(o.lease)
        return {"request_put": put}
    delete: dict[str, Any] = {"key": _b64(o.key.encode())}
    if o.prefix:
        delete["range_end"] = _b64(_prefix_end(o.key.encode()))
    return {"request_delete_range": delete}
