"""Versioned, named cluster objects on the KV layer.

Layout under the cluster's root prefix (`/wharfie/swarm/` by default):
- `objects/<kind>/<id>`: the object, serialized by its owner (JSON);
- `names/<kind>/<name>`: the id that holds a name; written in the same transaction as the
  object, so a name is unique and never outlives or predates its object.

An object's version (the API's `Version.Index`) is the etcd `mod_revision` of its key. An update
names the version it was based on; a stale one is refused with swarmkit's "update out of
sequence" (500), which clients such as docker-py answer by reading and trying again.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass

from wharfie.cluster.kv import KV, Compare, Delete, Entry, Op, Put
from wharfie.errors import Conflict, NotFound, WharfieError

DEFAULT_ROOT = "/wharfie/swarm/"


class OutOfSequence(WharfieError):
    """An update based on a version that is no longer current (HTTP 500, as dockerd)."""

    def __init__(self) -> None:
        super().__init__("rpc error: code = Unknown desc = update out of sequence")


class NameConflict(Conflict):
    """A name another object of the kind holds (409), in swarmkit's words for the kind."""

    def __init__(self, kind: str, name: str) -> None:
        if kind in ("secret", "config"):
            detail = f"{kind} {name} already exists"
        else:
            detail = f"name conflicts with an existing object: {kind} {name} already exists"
        super().__init__(f"rpc error: code = AlreadyExists desc = {detail}")
        self.kind, self.name = kind, name


@dataclass(frozen=True)
class Stored:
    kind: str
    id: str
    body: bytes
    version: int  # etcd mod_revision of the object's key
    created: int  # etcd create_revision


class ObjectStore:
    def __init__(self, kv: KV, root: str = DEFAULT_ROOT) -> None:
        if not root.endswith("/"):
            raise ValueError("the root prefix must end in '/'")
        self._kv = kv
        self._root = root

    def key(self, kind: str, oid: str) -> str:
        return f"{self._root}objects/{kind}/{oid}"

    def name_key(self, kind: str, name: str) -> str:
        return f"{self._root}names/{kind}/{name}"

    def create(self, kind: str, oid: str, body: bytes, name: str | None = None) -> int:
        """Store a new object (and claim its name); its version."""
        key = self.key(kind, oid)
        compares = [Compare.absent(key)]
        ops: list[Op] = [Put(key, body)]
        if name is not None:
            compares.append(Compare.absent(self.name_key(kind, name)))
            ops.append(Put(self.name_key(kind, name), oid.encode()))
        result = self._kv.txn(compares, ops)
        if not result.succeeded:
            if self._kv.get(key) is not None:
                raise Conflict(f"{kind} {oid} already exists")
            raise NameConflict(kind, name or "")
        return result.revision

    def get(self, kind: str, oid: str) -> Stored:
        entry = self._kv.get(self.key(kind, oid))
        if entry is None:
            raise NotFound(f"{kind} {oid} not found")
        return Stored(kind, oid, entry.value, entry.mod_revision, entry.create_revision)

    def lookup(self, kind: str, name: str) -> str | None:
        """The id holding `name`, if any."""
        entry = self._kv.get(self.name_key(kind, name))
        return entry.value.decode() if entry else None

    def list(self, kind: str) -> tuple[list[Stored], int]:
        """Every object of a kind, and the store revision they were read at (to watch from)."""
        entries, revision = self._kv.range(self.prefix(kind))
        return self.from_entries(kind, entries), revision

    def prefix(self, kind: str) -> str:
        return f"{self._root}objects/{kind}/"

    def from_entries(self, kind: str, entries: Sequence[Entry]) -> builtins.list[Stored]:
        """The objects of a kind among entries read under `prefix(kind)`."""
        prefix = self.prefix(kind)
        return [
            Stored(kind, e.key[len(prefix) :], e.value, e.mod_revision, e.create_revision)
            for e in entries
        ]

    def update(
        self,
        kind: str,
        oid: str,
        version: int,
        body: bytes,
        rename: tuple[str, str] | None = None,
    ) -> int:
        """Replace an object if it is still at `version`; its new version.
        `rename` = (old name, new name) moves the name claim in the same transaction."""
        key = self.key(kind, oid)
        compares = [Compare.unchanged(key, version)]
        ops: list[Op] = [Put(key, body)]
        if rename is not None and rename[0] != rename[1]:
            old, new = rename
            compares.append(Compare.absent(self.name_key(kind, new)))
            ops += [Delete(self.name_key(kind, old)), Put(self.name_key(kind, new), oid.encode())]
        result = self._kv.txn(compares, ops)
        if not result.succeeded:
            current = self._kv.get(key)
            if current is None:
                raise NotFound(f"{kind} {oid} not found")
            if current.mod_revision != version:
                raise OutOfSequence()
            raise NameConflict(kind, rename[1] if rename else "")
        return result.revision

    def create_all(self, kind: str, items: Sequence[tuple[str, bytes]]) -> bool:
        """Store several new unnamed objects in one transaction: all of them, or (when one of
        the ids is taken) none."""
        compares = [Compare.absent(self.key(kind, oid)) for oid, _ in items]
        ops: list[Op] = [Put(self.key(kind, oid), body) for oid, body in items]
        return self._kv.txn(compares, ops).succeeded

    def update_all(self, kind: str, items: Sequence[tuple[str, int, bytes]]) -> bool:
        """Replace several objects in one transaction if each is still at its version: all of
        them, or none."""
        compares = [Compare.unchanged(self.key(kind, oid), version) for oid, version, _ in items]
        ops: list[Op] = [Put(self.key(kind, oid), body) for oid, _, body in items]
        return self._kv.txn(compares, ops).succeeded

    def delete(self, kind: str, oid: str, name: str | None = None) -> None:
        """Remove an object and release its name, in one transaction."""
        key = self.key(kind, oid)
        ops: list[Op] = [Delete(key)]
        compares = [Compare(key, "create", ">", 0)]
        if name is not None:
            ops.append(Delete(self.name_key(kind, name)))
        if not self._kv.txn(compares, ops).succeeded:
            raise NotFound(f"{kind} {oid} not found")
