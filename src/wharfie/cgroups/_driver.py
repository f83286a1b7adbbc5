"""What every driver does the same way: applying a plan, listing pids, removing dirs."""

from __future__ import annotations

import os

from wharfie.errors import FailedPrecondition, InvalidArgument, NotImplementedFeature, Unavailable

from ._base import Cgroup, Plan, Write
from ._fs import cause, procs, read_optional, rmdir, subdirs_depth_first, write_error, write_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wharfie.errors import WharfieError

LOGGER = "wharfie.cgroups"


def effective_resources(resources: object, default_devices: bool) -> dict[str, Any]:
    """linux.resources checked, plus runc's built-in device rules unless told otherwise."""
    # Imported here, not at the top: creating a cgroup (on the runtime's critical path,
    # before the container's init is forked) must not pay for the resource planning.
    from ._devices import with_default_devices
    from ._spec import resources_obj

    res = resources_obj(resources)
    return with_default_devices(res) if default_devices else res


def log_warnings(warnings: list[str]) -> None:
    """Send set()'s warnings to the `wharfie.cgroups` logger (imported lazily)."""
    if not warnings:
        return
    import logging

    logger = logging.getLogger(LOGGER)
    for message in warnings:
        logger.warning("%s", message)


class Driver(Cgroup):
    """Shared implementation; subclasses supply create/set/freeze and friends."""

    def _dirs(self) -> list[str]:
        seen: list[str] = []
        for h in self._hierarchies:
            if h.path not in seen:
                seen.append(h.path)
        return seen

    def _mkdir(self, path: str) -> None:
        try:
            try:
                os.mkdir(path, 0o755)  # the usual case: the parent exists
            except FileExistsError:
                if not os.path.isdir(path):  # a control file of that name, say
                    raise
            except FileNotFoundError:
                os.makedirs(path, mode=0o755, exist_ok=True)
        except OSError as err:
            raise Unavailable(f"failed to create cgroup {path}: {cause(err)}") from err

    def _join(self, path: str, pid: int) -> None:
        try:
            write_file(path + "/cgroup.procs", str(pid))
        except OSError as err:
            raise write_error(f"process {pid}", str(pid), path + "/cgroup.procs", err) from err

    def add_proc(self, pid: int) -> None:
        for path in self._dirs():
            self._join(path, pid)

    def pids(self) -> list[int]:
        """Every pid in the container's cgroups and their sub-cgroups, in all hierarchies."""
        found: set[int] = set()
        for path in self._dirs():
            found.update(procs(path))
        return sorted(found)

    def destroy(self) -> None:
        """Remove the cgroups (and sub-cgroups, deepest first) in every hierarchy."""
        for path in self._dirs():
            try:
                os.rmdir(path)  # the usual case: no sub-cgroups and nothing left inside
                continue
            except FileNotFoundError:
                continue
            except OSError:
                pass  # sub-cgroups, or tasks still dying: the careful way below
            for d in [*subdirs_depth_first(path), path]:
                try:
                    rmdir(d)
                except OSError as err:
                    left = procs(d) if os.path.isdir(d) else []
                    inside = f"; processes still inside: {left}" if left else ""
                    raise FailedPrecondition(
                        f"failed to remove cgroup {d}: {cause(err)}{inside}"
                    ) from err

    def _apply(self, plan: Plan, dir_of: Callable[[str], str | None]) -> list[str]:
        """Carry out a plan; returns (and logs) its warnings plus those of missing files."""
        warnings = list(plan.warnings)
        for w in plan.writes:
            d = dir_of(w.controller)
            if d is None:
                self._missing(w, f"no {w.controller} cgroup hierarchy is mounted", warnings)
            else:
                self._write(d, w, warnings)
        log_warnings(warnings)
        return warnings

    def _write(self, d: str, w: Write, warnings: list[str]) -> None:
        for filename, value in w.files:
            path = f"{d}/{filename}"
            try:
                write_file(path, value)
                return
            except FileNotFoundError:
                continue
            except OSError as err:
                raise self._write_failed(w, d, filename, value, err) from err
        if not os.path.isdir(d):
            raise FailedPrecondition(f"{w.field}: cgroup {d} does not exist (not created?)")
        names = " or ".join(f for f, _ in w.files)
        if w.on_missing == "hugetlb":
            raise InvalidArgument(f"{w.field}.pageSize: this kernel has no {names} in {d}")
        self._missing(w, f"this kernel has no {names} in {d}", warnings)

    def _missing(self, w: Write, why: str, warnings: list[str]) -> None:
        if w.on_missing == "error":
            raise NotImplementedFeature(f"{w.field}: not supported here, {why}")
        if w.on_missing in ("warn", "hugetlb"):
            warnings.append(f"{w.field}: ignored, {why}")

    def _write_failed(
        self, w: Write, d: str, filename: str, value: str, err: OSError
    ) -> WharfieError:
        return write_error(w.field, value, f"{d}/{filename}", err)

    def _read(self, path: str) -> str | None:
        try:
            return read_optional(path)
        except OSError as err:
            raise Unavailable(f"failed to read {path}: {cause(err)}") from err
