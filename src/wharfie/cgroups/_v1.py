"""The cgroup v1 driver: one directory per hierarchy (memory, cpu, cpu,cpuacct, name=systemd...)."""

from __future__ import annotations

import errno
import os
import time

from wharfie.errors import FailedPrecondition, NotImplementedFeature, Unavailable

from ._driver import Driver, effective_resources
from ._fs import cause, read_file, write_error, write_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.errors import WharfieError

    from ._base import Hierarchy, Write

FREEZE_TIMEOUT = 10.0
_MEMORY_LIMIT_FILES = ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")


class V1Cgroup(Driver):
    """Pure cgroup v1; the hybrid driver extends it with the unified hierarchy."""

    kind = "v1"

    def __init__(self, hierarchies: list[Hierarchy]) -> None:
        super().__init__(hierarchies)
        self._v1 = [h for h in hierarchies if h.fstype == "cgroup"]
        self._by_controller = {c: h.path for h in self._v1 for c in h.options.split(",")}

    def create(self) -> None:
        for h in self._v1:
            if "cpuset" in h.options.split(","):
                self._create_cpuset(h)
            else:
                self._mkdir(h.path)

    def _create_cpuset(self, h: Hierarchy) -> None:
        """Make each level, copying cpus/mems from the parent when empty (else no task fits)."""
        parent = h.mountpoint
        for part in h.relpath.strip("/").split("/"):
            d = f"{parent}/{part}"
            self._mkdir(d)
            for name in ("cpuset.cpus", "cpuset.mems"):
                self._inherit(parent, d, name)
            parent = d

    def _inherit(self, parent: str, d: str, name: str) -> None:
        mine = self._read(f"{d}/{name}")
        if mine is None or mine.strip():
            return  # set already (or no such file: nothing to inherit)
        value = (self._read(f"{parent}/{name}") or "").strip()
        if not value:
            return
        try:
            write_file(f"{d}/{name}", value)
        except OSError as err:
            raise write_error(f"cpuset of {d}", value, f"{d}/{name}", err) from err

    def set(self, resources: dict[str, Any], *, default_devices: bool = True) -> list[str]:
        """Apply linux.resources; returns the warnings (also logged). See the package doc."""
        from ._plan_v1 import plan_v1

        res = effective_resources(resources, default_devices)
        plan = plan_v1(res, current_memory_limit=self._current_memory_limit(res))
        return self._apply(plan, self._by_controller.get)

    def _current_memory_limit(self, res: dict[str, Any]) -> int | None:
        from . import _stats
        from ._spec import RES, section

        mem = section(res, "memory", RES) or {}
        memory = self._by_controller.get("memory")
        if not memory or not mem.get("limit") or not mem.get("swap"):
            return None
        return _stats.number(self._read(memory + "/memory.limit_in_bytes"))

    def _write_failed(
        self, w: Write, d: str, filename: str, value: str, err: OSError
    ) -> WharfieError:
        """A limit below what the cgroup uses fails with EBUSY: say so plainly."""
        if err.errno != errno.EBUSY or filename not in _MEMORY_LIMIT_FILES:
            return super()._write_failed(w, d, filename, value, err)
        usage_file = filename.replace("limit_in_bytes", "usage_in_bytes")
        usage = self._read(f"{d}/{usage_file}")
        return FailedPrecondition(
            f"{w.field}: {value} is below the current usage ({(usage or '?').strip()} bytes "
            f"in {usage_file}) of {d}; failed to write {value} to {d}/{filename}: {cause(err)}"
        )

    # freezer -------------------------------------------------------------------------------

    def _freezer(self) -> str:
        path = self._by_controller.get("freezer")
        if path is None:
            raise NotImplementedFeature("no freezer cgroup hierarchy is mounted on this host")
        return path

    def _freezer_state(self, path: str) -> str:
        try:
            return read_file(path + "/freezer.state").strip()
        except OSError as err:
            raise Unavailable(f"failed to read {path}/freezer.state: {cause(err)}") from err

    def _write_state(self, path: str, state: str) -> None:
        try:
            write_file(path + "/freezer.state", state)
        except OSError as err:
            raise write_error("freezer", state, path + "/freezer.state", err) from err

    def freeze(self) -> None:
        """FROZEN, re-asserted until the kernel reports it (runc's loop, with a deadline)."""
        path = self._freezer()
        deadline = time.monotonic() + FREEZE_TIMEOUT
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            if attempt % 50 == 0:  # thawing now and then unsticks a racing fork
                self._write_state(path, "THAWED")
                time.sleep(0.01)
            self._write_state(path, "FROZEN")
            state = self._freezer_state(path)
            if state == "FROZEN":
                return
            if state != "FREEZING":
                raise Unavailable(f"{path}/freezer.state is {state} after writing FROZEN")
            time.sleep(0.0001 if attempt < 10 else 0.001)
        raise Unavailable(f"cgroup {path} is still FREEZING after {FREEZE_TIMEOUT:g} s")

    def thaw(self) -> None:
        path = self._freezer()
        self._write_state(path, "THAWED")
        state = self._freezer_state(path)
        if state != "THAWED":
            raise Unavailable(f"{path}/freezer.state is {state} after writing THAWED")

    def frozen(self) -> bool:
        """True when the freezer reports FROZEN; False without a freezer or cgroup."""
        path = self._by_controller.get("freezer")
        if path is None:
            return False
        text = self._read(path + "/freezer.state")
        return text is not None and text.strip() == "FROZEN"

    # memory events and statistics ------------------------------------------------------------

    def oom_killed(self) -> bool:
        from . import _stats

        memory = self._by_controller.get("memory")
        if memory is None:
            return False
        control = _stats.flat_keyed(self._read(memory + "/memory.oom_control"))
        return control.get("oom_kill", 0) > 0

    def stats(self) -> dict[str, Any]:
        from . import _stats

        out: dict[str, Any] = {}
        cpu = self._cpu_stats()
        if cpu:
            out["cpu"] = cpu
        memory = self._memory_stats()
        if memory:
            out["memory"] = memory
        pids = self._by_controller.get("pids")
        current = _stats.number(self._read(pids + "/pids.current")) if pids else None
        if pids and current is not None:
            out["pids"] = {
                "current": current,
                "limit": _stats.limit(self._read(pids + "/pids.max")),
            }
        blkio = self._by_controller.get("blkio")
        if blkio:
            text = self._read(blkio + "/blkio.throttle.io_service_bytes_recursive")
            if text is not None:
                out["blkio"] = {**_stats.blkio_v1_bytes(text), "entries": self._blkio(blkio)}
        return out

    def _blkio(self, d: str) -> dict[str, list[dict[str, int | str]]]:
        """runc's blkio lists: the CFQ files when the kernel fills them, else throttle."""
        from . import _stats

        cfq = {
            key: _stats.blkio_v1_entries(self._read(f"{d}/blkio.{name}"))
            for key, name in _stats.BLKIO_V1_FILES.items()
        }
        if any(cfq.values()):
            return {k: v for k, v in cfq.items() if v}
        throttled = {
            key: _stats.blkio_v1_entries(
                self._read(f"{d}/blkio.throttle.{_stats.BLKIO_V1_FILES[key]}")
            )
            for key in _stats.BLKIO_V1_THROTTLE
        }
        return {k: v for k, v in throttled.items() if v}

    def _cpu_stats(self) -> dict[str, Any]:
        from . import _stats

        out: dict[str, Any] = {}
        acct = self._by_controller.get("cpuacct")
        usage = _stats.number(self._read(acct + "/cpuacct.usage")) if acct else None
        if acct and usage is not None:
            tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
            ticks = _stats.flat_keyed(self._read(acct + "/cpuacct.stat"))
            out["usage_ns"] = usage
            out["user_ns"] = ticks.get("user", 0) * tick_ns
            out["system_ns"] = ticks.get("system", 0) * tick_ns
            percpu = _stats.percpu(self._read(acct + "/cpuacct.usage_percpu"))
            if percpu:
                out["percpu"] = percpu
                for key, name in (("percpu_kernel", "sys"), ("percpu_user", "user")):
                    split = _stats.percpu(self._read(f"{acct}/cpuacct.usage_percpu_{name}"))
                    if split:
                        out[key] = split
        cpu = self._by_controller.get("cpu")
        stat = _stats.flat_keyed(self._read(cpu + "/cpu.stat")) if cpu else {}
        if stat:
            out["periods"] = stat.get("nr_periods", 0)
            out["throttled_periods"] = stat.get("nr_throttled", 0)
            out["throttled_ns"] = stat.get("throttled_time", 0)
        return out

    def _memory_stats(self) -> dict[str, Any] | None:
        from . import _stats

        memory = self._by_controller.get("memory")
        usage = _stats.number(self._read(memory + "/memory.usage_in_bytes")) if memory else None
        if memory is None or usage is None:
            return None
        return {
            "usage": usage,
            "limit": _stats.limit(self._read(memory + "/memory.limit_in_bytes")),
            "max_usage": _stats.number(self._read(memory + "/memory.max_usage_in_bytes")),
            "failcnt": _stats.number(self._read(memory + "/memory.failcnt")) or 0,
            "stat": _stats.flat_keyed(self._read(memory + "/memory.stat")),
        }
