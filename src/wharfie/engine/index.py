"""The in-memory index of containers: by id, by name, and by unique id prefix.

The one place that knows which containers exist while the daemon runs. Services that look
containers up, or persist one after a change, take a `ContainerIndex` in their constructor
instead of the whole engine.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from wharfie.engine import present_container
from wharfie.engine.model import Container
from wharfie.errors import InvalidArgument, NotFound

_HEX = re.compile(r"[0-9a-f]+")


class ContainerSaver(Protocol):
    def save_container(self, cid: str, name: str, doc: dict[str, Any]) -> None: ...


class ContainerIndex:
    def __init__(self, store: ContainerSaver) -> None:
        self._store = store
        self.containers: dict[str, Container] = {}  # id -> container
        self.names: dict[str, str] = {}  # name (without "/") -> id

    def all(self) -> list[Container]:
        return list(self.containers.values())

    def get(self, cid: str) -> Container | None:
        return self.containers.get(cid)

    def add(self, c: Container) -> None:
        self.containers[c.id] = c
        self.names[c.name] = c.id

    def drop(self, c: Container) -> None:
        self.containers.pop(c.id, None)
        if self.names.get(c.name) == c.id:
            del self.names[c.name]

    def find(self, ref: str) -> Container:
        """By full id, name (with or without "/"), or unique id prefix -- as Docker."""
        c = self.containers.get(ref)
        if c is not None:
            return c
        cid = self.names.get(ref.lstrip("/"))
        if cid is not None:
            return self.containers[cid]
        if ref and _HEX.fullmatch(ref):
            hits = [c for cid, c in self.containers.items() if cid.startswith(ref)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def rename(self, c: Container, new: str) -> None:
        """Give `c` the name `new` (without "/"; the caller checked it is free)."""
        if self.names.get(c.name) == c.id:
            del self.names[c.name]
        c.name = new
        self.names[new] = c.id

    def save(self, c: Container) -> None:
        """Persist a container's record after a change."""
        self._store.save_container(c.id, c.name, present_container.stored(c))
