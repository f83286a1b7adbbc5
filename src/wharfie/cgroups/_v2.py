"""The cgroup v2 driver, and the v2 pieces the hybrid driver reuses."""

from __future__ import annotations

from wharfie.errors import FailedPrecondition, NotImplementedFeature, Unavailable

from . import _stats
from ._driver import Driver, effective_resources
from ._fs import cause, read_optional, wait_until, write_error, write_file
from ._plan_v2 import plan_v2
from ._spec import RES, integer, section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._base import Hierarchy, Write

FREEZE_TIMEOUT = 10.0


def _controllers_of(path: str) -> list[str]:
    return (read_optional(path + "/cgroup.controllers") or "").split()


def _enable_in(d: str, wanted: list[str]) -> dict[str, str]:
    """Enable `wanted` in d/cgroup.subtree_control; returns {controller: why not}."""
    have = set((read_optional(d + "/cgroup.subtree_control") or "").split())
    todo = [c for c in wanted if c not in have]
    if not todo:
        return {}
    path = d + "/cgroup.subtree_control"
    try:
        write_file(path, " ".join("+" + c for c in todo))
        return {}
    except OSError:
        pass  # some controller refused: find out which, one by one
    failed = {}
    for c in todo:
        try:
            write_file(path, "+" + c)
        except OSError as err:
            failed[c] = f"cannot enable it in {path}: {cause(err)}"
    return failed


def enable_controllers(h: Hierarchy, only: frozenset[str] | None = None) -> dict[str, str]:
    """Enable the hierarchy's controllers (or those of `only` it has) in every ancestor of
    the container (like runc).

    Returns the controllers that could not be enabled, with the reason; a write that
    needs one of them later fails with that reason instead of "no such file".
    """
    mountpoint = h.mountpoint
    wanted = [c for c in _controllers_of(mountpoint) if only is None or c in only]
    if not wanted:
        return {}
    failed: dict[str, str] = {}
    d = mountpoint
    for part in h.relpath.strip("/").split("/")[:-1]:
        failed.update(_enable_in(d, [c for c in wanted if c not in failed]))
        d = f"{d}/{part}"
    failed.update(_enable_in(d, [c for c in wanted if c not in failed]))
    return failed


def _frozen_state(path: str) -> int | None:
    return _stats.flat_keyed(read_optional(path + "/cgroup.events")).get("frozen")


def set_freeze(path: str, on: bool, timeout: float = FREEZE_TIMEOUT) -> None:
    """Write cgroup.freeze and wait until cgroup.events says "frozen 1" (or 0)."""
    value = "1" if on else "0"
    try:
        write_file(path + "/cgroup.freeze", value)
    except FileNotFoundError as err:
        raise NotImplementedFeature(f"no cgroup.freeze in {path} (kernel older than 5.2?)") from err
    except OSError as err:
        raise write_error("freezer", value, path + "/cgroup.freeze", err) from err
    if not wait_until(lambda: _frozen_state(path) == int(on), timeout):
        state = "frozen" if on else "thawed"
        raise Unavailable(f"cgroup {path} was not {state} after {timeout:g} s")


def is_frozen(path: str) -> bool:
    return _frozen_state(path) == 1


def oom_killed_v2(path: str) -> bool:
    return _stats.flat_keyed(read_optional(path + "/memory.events")).get("oom_kill", 0) > 0


def apply_devices_v2(path: str, devices: object) -> None:
    """Compile linux.resources.devices to eBPF and attach it to the cgroup `path`."""
    from ._bpf import attach_device_program, device_program
    from ._devices import emulate, parse_rules

    attach_device_program(path, device_program(emulate(parse_rules(devices))))


def stats_v2(path: str) -> dict[str, Any]:
    def read(name: str) -> str | None:
        return read_optional(f"{path}/{name}")

    out: dict[str, Any] = {}
    cpu = _stats.flat_keyed(read("cpu.stat"))
    if cpu:
        out["cpu"] = {
            "usage_ns": cpu.get("usage_usec", 0) * 1000,
            "user_ns": cpu.get("user_usec", 0) * 1000,
            "system_ns": cpu.get("system_usec", 0) * 1000,
            "periods": cpu.get("nr_periods", 0),
            "throttled_periods": cpu.get("nr_throttled", 0),
            "throttled_ns": cpu.get("throttled_usec", 0) * 1000,
        }
    usage = _stats.number(read("memory.current"))
    if usage is not None:
        out["memory"] = {
            "usage": usage,
            "limit": _stats.limit(read("memory.max")),
            "max_usage": _stats.number(read("memory.peak")),
            "failcnt": _stats.flat_keyed(read("memory.events")).get("max", 0),
            "stat": _stats.flat_keyed(read("memory.stat")),
        }
    current = _stats.number(read("pids.current"))
    if current is not None:
        out["pids"] = {"current": current, "limit": _stats.limit(read("pids.max"))}
    io = read("io.stat")
    if io is not None:
        out["blkio"] = {**_stats.io_v2_bytes(io), "entries": _stats.io_v2_entries(io)}
    return out


class V2Cgroup(Driver):
    """Pure cgroup v2: one directory, controllers enabled on the way down."""

    kind = "v2"

    def __init__(self, hierarchies: list[Hierarchy]) -> None:
        super().__init__(hierarchies)
        self._h = hierarchies[0]
        self.path = self._h.path
        self._not_enabled: dict[str, str] = {}

    def create(self) -> None:
        self._mkdir(self.path)
        self._not_enabled = enable_controllers(self._h)

    def set(self, resources: dict[str, Any], *, default_devices: bool = True) -> list[str]:
        """Apply linux.resources; returns the warnings (also logged). See the package doc."""
        res = effective_resources(resources, default_devices)
        plan = plan_v2(res)
        self._check_before_update(res)
        if "devices" in res:
            apply_devices_v2(self.path, res["devices"])
        return self._apply(plan, lambda controller: self.path)

    def _missing(self, w: Write, why: str, warnings: list[str]) -> None:
        reason = self._not_enabled.get(w.controller)
        super()._missing(w, f"{why} ({w.controller} {reason})" if reason else why, warnings)

    def _check_before_update(self, res: dict[str, Any]) -> None:
        mem = section(res, "memory", RES) or {}
        limit = integer(mem, "limit", f"{RES}.memory")
        if not mem.get("checkBeforeUpdate") or not limit or limit < 0:
            return
        usage = _stats.number(self._read(self.path + "/memory.current"))
        if usage is not None and usage > limit:
            raise FailedPrecondition(
                f"{RES}.memory.limit: {limit} is below the current memory usage "
                f"({usage} bytes) of {self.path}"
            )

    def freeze(self) -> None:
        set_freeze(self.path, True)

    def thaw(self) -> None:
        set_freeze(self.path, False)

    def frozen(self) -> bool:
        return is_frozen(self.path)

    def oom_killed(self) -> bool:
        return oom_killed_v2(self.path)

    def stats(self) -> dict[str, Any]:
        return stats_v2(self.path)
