"""linux.resources -> cgroup v2 file writes (pure; mirrors runc's fs2 driver).

The v1-shaped OCI values are converted the way runc converts them:
  cpu.shares -> cpu.weight = 1 + ((shares - 2) * 9999) / 262142
  quota/period -> cpu.max "<quota|max>[ <period>]"
  memory.swap (memory+swap) -> memory.swap.max = swap - limit
  blockIO.weight -> io.bfq.weight, else io.weight = 1 + (weight - 10) * 9999 / 990
Device rules are not file writes on v2 (see _bpf); `unified` keys are written last.
"""

from __future__ import annotations

from ._base import Plan
from ._plan_common import plan_hugetlb, plan_pids, plan_rdma
from ._plan_v1 import (
    BLKIO,
    CPU,
    MEM,
    NET,
    THROTTLES,
    cpu_shares,
    plan_cpuset,
    throttles,
    weight_devices,
)
from ._spec import RES, boolean, integer, invalid, resources_obj, section, show, unsigned

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def plan_v2(resources: object, sections: tuple[str, ...] | None = None) -> Plan:
    """Translate linux.resources for cgroup v2 (devices excluded: see _bpf).

    `sections` limits the translation to those top-level keys (the hybrid driver uses it
    for controllers that only the unified hierarchy has).
    """
    res = resources_obj(resources)
    if sections is not None:
        res = {k: v for k, v in res.items() if k in sections}
    plan = Plan()
    plan_cpuset(res, plan)
    plan_memory_v2(res, plan)
    plan_cpu_v2(res, plan)
    plan_pids(res, plan)
    plan_io_v2(res, plan)
    plan_hugetlb(res, plan, "max")
    plan_rdma(res, plan)
    if section(res, "network", RES):
        plan.warn(f"{NET}: ignored, net_cls/net_prio do not exist on cgroup v2")
    plan_unified(res, plan)
    return plan


def _num(value: int) -> str:
    """runc's numToStr: 0 -> "" (leave alone), -1 -> "max"."""
    if value == 0:
        return ""
    return "max" if value == -1 else str(value)


def swap_v2(swap: int, limit: int) -> int:
    """OCI memory+swap -> memory.swap.max value (-1 max, 0 unset), as runc converts it."""
    if limit == -1 and swap == 0:
        return -1  # unlimited memory: unlimited swap too
    if swap in (-1, 0):
        return swap
    if limit in (0, -1):
        raise invalid(f"{MEM}.swap", f"cannot limit swap ({swap}) without a memory limit")
    if swap < limit:
        raise invalid(f"{MEM}.swap", f"must be >= {MEM}.limit ({limit}), got {swap}")
    return swap - limit


def plan_memory_v2(res: dict[str, Any], plan: Plan) -> None:
    mem = section(res, "memory", RES)
    if mem is None:
        return
    limit = integer(mem, "limit", MEM, minimum=-1) or 0
    swap = integer(mem, "swap", MEM, minimum=-1) or 0
    converted = swap_v2(swap, limit)
    swap_str = _num(converted)
    if swap_str == "" and converted == 0 and swap > 0:
        swap_str = "0"  # memory == memory+swap: no swap at all
    if swap_str:
        missing = "ignore" if swap_str == "max" else "warn"
        plan.add("memory", "memory.swap.max", swap_str, f"{MEM}.swap", missing)
    if _num(limit):
        plan.add("memory", "memory.max", _num(limit), f"{MEM}.limit")
    reservation = integer(mem, "reservation", MEM, minimum=-1) or 0
    if _num(reservation):
        plan.add("memory", "memory.low", _num(reservation), f"{MEM}.reservation")
    _memory_v2_ignored(mem, plan)


def _memory_v2_ignored(mem: dict[str, Any], plan: Plan) -> None:
    for key in ("kernel", "kernelTCP"):
        if integer(mem, key, MEM) is not None:
            plan.warn(f"{MEM}.{key}: ignored, kernel memory is not limited separately on v2")
    swappiness = integer(mem, "swappiness", MEM, minimum=-1, maximum=(1 << 64) - 1)
    if swappiness is not None and swappiness != -1 and swappiness < 1 << 63:
        plan.warn(f"{MEM}.swappiness: ignored, there is no per-cgroup swappiness on v2")
    if boolean(mem, "disableOOMKiller", MEM):
        plan.warn(f"{MEM}.disableOOMKiller: ignored, the OOM killer cannot be disabled on v2")
    if boolean(mem, "useHierarchy", MEM) is False:
        plan.warn(f"{MEM}.useHierarchy: ignored, hierarchical accounting is always on")


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000] (runc's linear mapping)."""
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_max(quota: int, period: int) -> str:
    """runc fs2: "max" unless quota > 0, then the period when one is given."""
    value = str(quota) if quota > 0 else "max"
    return f"{value} {period}" if period else value


def plan_cpu_v2(res: dict[str, Any], plan: Plan) -> None:
    cpu = section(res, "cpu", RES)
    if cpu is None:
        return
    idle = integer(cpu, "idle", CPU)
    if idle is not None:
        plan.add("cpu", "cpu.idle", str(idle), f"{CPU}.idle")
    shares = cpu_shares(cpu)
    if shares:
        plan.add("cpu", "cpu.weight", str(shares_to_weight(shares)), f"{CPU}.shares")
    burst = unsigned(cpu, "burst", CPU)
    if burst is not None:
        plan.add("cpu", "cpu.max.burst", str(burst), f"{CPU}.burst")
    quota = integer(cpu, "quota", CPU, minimum=-1) or 0
    period = unsigned(cpu, "period", CPU) or 0
    if quota or period:
        field = f"{CPU}.quota" if quota else f"{CPU}.period"
        plan.add("cpu", "cpu.max", cpu_max(quota, period), field)
    for key in ("realtimePeriod", "realtimeRuntime"):
        if integer(cpu, key, CPU):
            raise invalid(f"{CPU}.{key}", "realtime scheduling is not supported on cgroup v2")


def blkio_to_io_weight(weight: int) -> int:
    """blkio weight [10, 1000] -> io.weight [1, 10000] (runc's mapping)."""
    return 1 + (weight - 10) * 9999 // 990


def plan_io_v2(res: dict[str, Any], plan: Plan) -> None:
    blkio = section(res, "blockIO", RES)
    if blkio is None:
        return
    weight = unsigned(blkio, "weight", BLKIO, 0xFFFF)
    if weight:
        alt = (("io.weight", str(blkio_to_io_weight(weight))),)
        plan.add("io", "io.bfq.weight", str(weight), f"{BLKIO}.weight", "warn", alt)
    if unsigned(blkio, "leafWeight", BLKIO, 0xFFFF):
        plan.warn(f"{BLKIO}.leafWeight: ignored, there are no leaf weights on v2")
    for dev, dev_weight, dev_leaf, field in weight_devices(blkio):
        if dev_weight:
            alt = (("io.weight", f"{dev} {blkio_to_io_weight(dev_weight)}"),)
            plan.add("io", "io.bfq.weight", f"{dev} {dev_weight}", field, "warn", alt)
        if dev_leaf:
            plan.warn(f"{field}.leafWeight: ignored, there are no leaf weights on v2")
    keys = {key: name for key, _, name in THROTTLES}
    for key, dev, rate, field in throttles(blkio):
        plan.add("io", "io.max", f"{dev} {keys[key]}={rate}", field)


def unified_controller(key: str) -> str:
    """The controller owning a cgroup v2 file name ("memory.high" -> "memory")."""
    return key.split(".", 1)[0]


def plan_unified(res: dict[str, Any], plan: Plan) -> None:
    """unified: raw v2 files, written as given, after everything else."""
    unified = section(res, "unified", RES)
    for key in unified or {}:
        field = f"{RES}.unified.{key}"
        value = unified[key]  # type: ignore[index]
        if "/" in key or "\0" in key or "." not in key.strip("."):
            raise invalid(field, "must be a cgroup v2 file name like memory.high")
        if not isinstance(value, str):
            raise invalid(field, f"must be a string, got {show(value)}")
        plan.add(unified_controller(key), key, value, field)
