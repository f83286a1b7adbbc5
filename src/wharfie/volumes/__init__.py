"""Volumes: volume drivers (the local driver) and copy-up.

Drivers register by name (`DRIVERS`); the engine asks `driver(name, root)` for one.
A driver's contract (`Driver`):

* `create(name, opts, labels) -> Volume` - idempotent: an existing volume is returned;
* `get(name)` / `volumes()` - records; `get` raises NotFound ("get <name>: no such volume");
* `mount(name, ref) -> host path` / `unmount(name, ref)` - counted by reference (a
  container id): the first mount may mount a device, the last unmount removes it;
* `restore(name, ref)` after a daemon restart, `sweep()` to unmount what no one uses;
* `remove(name)` - Conflict while mounted; the data goes with it.

Which containers refer to a volume (the 409 of a remove) is the engine's business: the
driver only knows who has it mounted now.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from wharfie.errors import NotFound
from wharfie.volumes.copyup import copy_up, discard_interrupted, finish_discard, is_empty
from wharfie.volumes.local import LocalDriver, Volume, check_name, check_opts, size_of

__all__ = [
    "DRIVERS",
    "Driver",
    "LocalDriver",
    "Volume",
    "check_name",
    "check_opts",
    "copy_up",
    "discard_interrupted",
    "driver",
    "finish_discard",
    "is_empty",
    "size_of",
]


class Driver(Protocol):
    name: str

    def create(self, name: str, opts: dict[str, str], labels: dict[str, str]) -> Volume: ...
    def get(self, name: str) -> Volume: ...
    def volumes(self) -> list[Volume]: ...
    def remove(self, name: str) -> None: ...
    def mount(self, name: str, ref: str) -> str: ...
    def unmount(self, name: str, ref: str) -> bool: ...
    def restore(self, name: str, ref: str) -> None: ...
    def sweep(self) -> list[str]: ...


# driver name -> factory(data_root)
DRIVERS: dict[str, Callable[[str], Driver]] = {
    "local": lambda data_root: LocalDriver(os.path.join(data_root, "volumes")),
}


def driver(name: str, data_root: str) -> Driver:
    factory = DRIVERS.get(name)
    if factory is None:
        raise NotFound(f'error looking up volume plugin {name}: plugin "{name}" not found')
    return factory(data_root)
