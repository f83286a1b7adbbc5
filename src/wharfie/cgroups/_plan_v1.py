"""linux.resources -> cgroup v1 file writes (pure; mirrors runc's fs driver).

Order of the writes follows runc's subsystem order: cpuset, devices, memory, cpu, pids,
blkio, hugetlb, net_cls, net_prio, rdma. Zero means "leave alone" for the numeric
fields runc treats that way. Warnings (in Plan.warnings) are for requests this driver
ignores on purpose; files the kernel lacks are decided at write time (Write.on_missing).
"""

from __future__ import annotations

from ._base import Plan
from ._devices import emulate, parse_rules, v1_writes
from ._plan_common import plan_hugetlb, plan_pids, plan_rdma
from ._spec import (
    RES,
    boolean,
    device_numbers,
    integer,
    invalid,
    items,
    obj,
    resources_obj,
    section,
    string,
    unsigned,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MEM = f"{RES}.memory"
CPU = f"{RES}.cpu"
BLKIO = f"{RES}.blockIO"
NET = f"{RES}.network"


def plan_v1(resources: object, *, current_memory_limit: int | None = None) -> Plan:
    """Translate linux.resources for cgroup v1.

    `current_memory_limit` (memory.limit_in_bytes now) decides the order of the limit and
    memsw writes when both change, so the kernel's memsw >= limit check never trips.
    """
    res = resources_obj(resources)
    plan = Plan()
    plan_cpuset(res, plan)
    if "devices" in res:
        v1_writes(emulate(parse_rules(res["devices"])), plan)
    plan_memory_v1(res, plan, current_memory_limit)
    plan_cpu_v1(res, plan)
    plan_pids(res, plan)
    plan_blkio_v1(res, plan)
    plan_hugetlb(res, plan, "limit_in_bytes")
    plan_network_v1(res, plan)
    plan_rdma(res, plan)
    if section(res, "unified", RES):
        raise invalid(f"{RES}.unified", "is only supported on cgroup v2 hosts")
    return plan


def plan_cpuset(res: dict[str, Any], plan: Plan) -> None:
    """cpu.cpus / cpu.mems -> cpuset.cpus / cpuset.mems (same file names on v1 and v2)."""
    cpu = section(res, "cpu", RES)
    if cpu is None:
        return
    for key in ("cpus", "mems"):
        value = string(cpu, key, CPU)
        if value:
            plan.add("cpuset", f"cpuset.{key}", value, f"{CPU}.{key}")


def _memory_value(mem: dict[str, Any], key: str) -> int:
    """A memory byte count: -1 (unlimited), 0 (unset) or positive."""
    return integer(mem, key, MEM, minimum=-1) or 0


def plan_memory_v1(res: dict[str, Any], plan: Plan, current_limit: int | None) -> None:
    mem = section(res, "memory", RES)
    if mem is None:
        return
    _limit_and_swap_v1(mem, plan, current_limit)
    reservation = _memory_value(mem, "reservation")
    if reservation:
        plan.add("memory", "memory.soft_limit_in_bytes", str(reservation), f"{MEM}.reservation")
    if integer(mem, "kernel", MEM) is not None:
        plan.warn(f"{MEM}.kernel: ignored, kernel memory limits are deprecated (as in runc)")
    kernel_tcp = _memory_value(mem, "kernelTCP")
    if kernel_tcp:
        plan.add(
            "memory", "memory.kmem.tcp.limit_in_bytes", str(kernel_tcp), f"{MEM}.kernelTCP", "warn"
        )
    _swappiness(mem, plan, "memory.swappiness")
    if boolean(mem, "disableOOMKiller", MEM):
        plan.add("memory", "memory.oom_control", "1", f"{MEM}.disableOOMKiller")
    if boolean(mem, "useHierarchy", MEM) is False:
        plan.warn(f"{MEM}.useHierarchy: ignored, hierarchical accounting is always on")


def _limit_and_swap_v1(mem: dict[str, Any], plan: Plan, current_limit: int | None) -> None:
    limit = _memory_value(mem, "limit")
    swap = _memory_value(mem, "swap")
    implicit_swap = limit == -1 and swap == 0
    if implicit_swap:
        swap = -1  # unlimited memory means unlimited memory+swap too (runc)
    if limit > 0 and swap > 0 and swap < limit:
        raise invalid(f"{MEM}.swap", f"must be >= {MEM}.limit ({limit}), got {swap}")
    limit_write = ("memory", "memory.limit_in_bytes", str(limit), f"{MEM}.limit")
    swap_write = (
        "memory",
        "memory.memsw.limit_in_bytes",
        str(swap),
        f"{MEM}.swap",
        "ignore" if implicit_swap else "warn",
    )
    swap_first = swap == -1 or (current_limit is not None and current_limit < swap)
    ordered = [swap_write, limit_write] if swap_first else [limit_write, swap_write]
    for write in ordered:
        if write[2] != "0":
            plan.add(*write)


def _swappiness(mem: dict[str, Any], plan: Plan, filename: str) -> None:
    value = integer(mem, "swappiness", MEM, minimum=-1, maximum=(1 << 64) - 1)
    if value is None or value == -1 or value >= 1 << 63:
        return  # unset (-1, possibly as an unsigned 64-bit number)
    if value > 100:
        raise invalid(f"{MEM}.swappiness", f"must be between 0 and 100, got {value}")
    plan.add("memory", filename, str(value), f"{MEM}.swappiness")


def cpu_shares(cpu: dict[str, Any]) -> int | None:
    shares = unsigned(cpu, "shares", CPU)
    if not shares:
        return None
    if not 2 <= shares <= 262144:
        raise invalid(f"{CPU}.shares", f"must be between 2 and 262144, got {shares}")
    return shares


def plan_cpu_v1(res: dict[str, Any], plan: Plan) -> None:
    cpu = section(res, "cpu", RES)
    if cpu is None:
        return
    shares = cpu_shares(cpu)
    if shares:
        plan.add("cpu", "cpu.shares", str(shares), f"{CPU}.shares")
    period = unsigned(cpu, "period", CPU)
    if period:
        plan.add("cpu", "cpu.cfs_period_us", str(period), f"{CPU}.period")
    quota = integer(cpu, "quota", CPU, minimum=-1)
    if quota:
        plan.add("cpu", "cpu.cfs_quota_us", str(quota), f"{CPU}.quota")
    burst = unsigned(cpu, "burst", CPU)
    if burst is not None:
        plan.add("cpu", "cpu.cfs_burst_us", str(burst), f"{CPU}.burst")
    rt_period = unsigned(cpu, "realtimePeriod", CPU)
    if rt_period:
        plan.add("cpu", "cpu.rt_period_us", str(rt_period), f"{CPU}.realtimePeriod")
    rt_runtime = integer(cpu, "realtimeRuntime", CPU, minimum=-1)
    if rt_runtime:
        plan.add("cpu", "cpu.rt_runtime_us", str(rt_runtime), f"{CPU}.realtimeRuntime")
    idle = integer(cpu, "idle", CPU)
    if idle is not None:
        plan.add("cpu", "cpu.idle", str(idle), f"{CPU}.idle")


def weight_devices(blkio: dict[str, Any]) -> list[tuple[str, int | None, int | None, str]]:
    out = []
    for i, entry in enumerate(items(blkio, "weightDevice", BLKIO)):
        field = f"{BLKIO}.weightDevice[{i}]"
        entry = obj(entry, field)
        dev = device_numbers(entry, field)
        weight = unsigned(entry, "weight", field, 0xFFFF)
        leaf = unsigned(entry, "leafWeight", field, 0xFFFF)
        out.append((dev, weight, leaf, field))
    return out


THROTTLES = (
    ("throttleReadBpsDevice", "read_bps_device", "rbps"),
    ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
    ("throttleReadIOPSDevice", "read_iops_device", "riops"),
    ("throttleWriteIOPSDevice", "write_iops_device", "wiops"),
)


def throttles(blkio: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """[(spec key, device "maj:min", rate, field)] for every throttle entry."""
    out = []
    for key, _, _ in THROTTLES:
        for i, entry in enumerate(items(blkio, key, BLKIO)):
            field = f"{BLKIO}.{key}[{i}]"
            entry = obj(entry, field)
            rate = unsigned(entry, "rate", field)
            if rate is None:
                raise invalid(f"{field}.rate", "is required")
            out.append((key, device_numbers(entry, field), rate, field))
    return out


def plan_blkio_v1(res: dict[str, Any], plan: Plan) -> None:
    """blockIO -> blkio.*; weights fall back to the bfq files and only warn when absent."""
    blkio = section(res, "blockIO", RES)
    if blkio is None:
        return
    weight = unsigned(blkio, "weight", BLKIO, 0xFFFF)
    if weight:
        w = str(weight)
        plan.add("blkio", "blkio.weight", w, f"{BLKIO}.weight", "warn", (("blkio.bfq.weight", w),))
    leaf = unsigned(blkio, "leafWeight", BLKIO, 0xFFFF)
    if leaf:
        plan.add("blkio", "blkio.leaf_weight", str(leaf), f"{BLKIO}.leafWeight", "warn")
    for dev, dev_weight, dev_leaf, field in weight_devices(blkio):
        if dev_weight:
            line = f"{dev} {dev_weight}"
            alt = (("blkio.bfq.weight_device", line),)
            plan.add("blkio", "blkio.weight_device", line, field, "warn", alt)
        if dev_leaf:
            plan.add("blkio", "blkio.leaf_weight_device", f"{dev} {dev_leaf}", field, "warn")
    files = {key: name for key, name, _ in THROTTLES}
    for key, dev, rate, field in throttles(blkio):
        plan.add("blkio", f"blkio.throttle.{files[key]}", f"{dev} {rate}", field)


def plan_network_v1(res: dict[str, Any], plan: Plan) -> None:
    """network -> net_cls.classid and net_prio.ifpriomap (best effort: warn if unmounted)."""
    net = section(res, "network", RES)
    if net is None:
        return
    class_id = unsigned(net, "classID", NET, 0xFFFFFFFF)
    if class_id is not None:
        plan.add("net_cls", "net_cls.classid", str(class_id), f"{NET}.classID", "warn")
    for i, entry in enumerate(items(net, "priorities", NET)):
        field = f"{NET}.priorities[{i}]"
        entry = obj(entry, field)
        name = string(entry, "name", field)
        if not name or " " in name:
            raise invalid(f"{field}.name", "must be an interface name")
        prio = unsigned(entry, "priority", field, 0xFFFFFFFF) or 0
        plan.add("net_prio", "net_prio.ifpriomap", f"{name} {prio}", field, "warn")
