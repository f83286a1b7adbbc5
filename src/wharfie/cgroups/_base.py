"""Value types shared by the drivers: Hierarchy, the Cgroup interface, planned writes.

Kept free of heavy imports (no typing, dataclasses, re or logging at import time):
the runtime imports this on every container start.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/sys/fs/cgroup"


class Hierarchy:
    """One cgroup hierarchy the container is in (immutable).

    name     directory name under /sys/fs/cgroup: "memory", "cpu,cpuacct", "systemd",
             "unified", or "" for a pure cgroup v2 host
    fstype   "cgroup" or "cgroup2"
    options  mount data: "memory", "cpu,cpuacct", "name=systemd"; "" for cgroup2
    path     absolute host directory of the container's cgroup in this hierarchy
    relpath  the container's cgroup relative to the hierarchy's mount ("/wharfie/abc")
    """

    __slots__ = ("fstype", "name", "options", "path", "relpath")

    name: str
    fstype: str
    options: str
    path: str
    relpath: str

    def __init__(self, name: str, fstype: str, options: str, path: str, relpath: str) -> None:
        for key, value in zip(self.__slots__, (fstype, name, options, path, relpath), strict=True):
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"Hierarchy is immutable (tried to set {key})")

    def _key(self) -> tuple[str, ...]:
        return (self.name, self.fstype, self.options, self.path, self.relpath)

    @property
    def mountpoint(self) -> str:
        """The host mount point of the hierarchy (path without relpath)."""
        if self.relpath == "/":
            return self.path
        return self.path[: len(self.path) - len(self.relpath)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hierarchy) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Hierarchy(name={self.name!r}, fstype={self.fstype!r}, options={self.options!r}, "
            f"path={self.path!r}, relpath={self.relpath!r})"
        )


class Write:
    """One planned write: `value` into the first of `files` that exists in a controller's dir.

    `files` is a tuple of (filename, value) candidates: the first existing file wins
    (e.g. blkio.weight, then blkio.bfq.weight). `field` names the spec field for errors.
    `on_missing` says what happens when no candidate exists: "error", "warn" or "ignore";
    "hugetlb": a warning without the hierarchy, an error when the hierarchy lacks the file
    (a page size this kernel does not have: runc refuses it too).
    """

    __slots__ = ("controller", "field", "files", "on_missing")

    def __init__(
        self,
        controller: str,
        filename: str,
        value: str,
        field: str,
        on_missing: str = "error",
        alt: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.controller = controller
        self.files: tuple[tuple[str, str], ...] = ((filename, value), *alt)
        self.field = field
        self.on_missing = on_missing

    @property
    def filename(self) -> str:
        return self.files[0][0]

    @property
    def value(self) -> str:
        return self.files[0][1]

    def key(self) -> tuple[str, str, str]:
        """(controller, filename, value) of the first candidate: handy in tests."""
        return (self.controller, self.filename, self.value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Write):
            return NotImplemented
        mine = (self.controller, self.files, self.field, self.on_missing)
        return mine == (other.controller, other.files, other.field, other.on_missing)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Write({self.controller!r}, {self.files!r}, field={self.field!r}, "
            f"on_missing={self.on_missing!r})"
        )


class Plan:
    """The outcome of translating linux.resources: writes in order, plus warnings."""

    __slots__ = ("warnings", "writes")

    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.warnings: list[str] = []

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.writes.append(Write(*args, **kwargs))

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def keys(self) -> list[tuple[str, str, str]]:
        return [w.key() for w in self.writes]


class Cgroup:
    """A container's cgroup in every hierarchy of this host (see the package docstring)."""

    kind = "?"

    def __init__(self, hierarchies: list[Hierarchy]) -> None:
        self._hierarchies = list(hierarchies)

    @property
    def paths(self) -> dict[str, str]:
        """{key: absolute dir}; the key is the mount options ("" for cgroup2)."""
        return {h.options: h.path for h in self._hierarchies}

    def hierarchies(self) -> list[Hierarchy]:
        return list(self._hierarchies)

    def create(self) -> None:
        raise NotImplementedError

    def add_proc(self, pid: int) -> None:
        raise NotImplementedError

    def set(self, resources: dict[str, Any], *, default_devices: bool = True) -> list[str]:
        raise NotImplementedError

    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def frozen(self) -> bool:
        raise NotImplementedError

    def pids(self) -> list[int]:
        raise NotImplementedError

    def destroy(self) -> None:
        raise NotImplementedError

    def oom_killed(self) -> bool:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.paths!r}>"
