"""docker stats' numbers, computed from one /containers/{id}/stats document (pure).

The one implementation of what users see as CPU %, memory use and I/O totals: `wharfie
stats` (the CLI, as the docker CLI computes them) and the dashboard both call these.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["block_io", "cpu_percent", "mem_percent", "mem_usage", "net_io"]


def cpu_percent(s: dict[str, Any]) -> float:
    """(container delta / system delta) x online CPUs x 100, as calculateCPUPercentUnix."""
    cpu = s.get("cpu_stats") or {}
    pre = s.get("precpu_stats") or {}
    usage = (cpu.get("cpu_usage") or {}).get("total_usage") or 0
    pre_usage = (pre.get("cpu_usage") or {}).get("total_usage") or 0
    cpu_delta = float(usage) - float(pre_usage)
    sys_delta = float(cpu.get("system_cpu_usage") or 0) - float(pre.get("system_cpu_usage") or 0)
    online = float(cpu.get("online_cpus") or 0)
    if online == 0.0:
        online = float(len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []))
    if sys_delta > 0.0 and cpu_delta > 0.0:
        return cpu_delta / sys_delta * online * 100.0
    return 0.0


def mem_usage(s: dict[str, Any]) -> float:
    """usage minus the page cache (total_inactive_file on v1, inactive_file on v2)."""
    mem = s.get("memory_stats") or {}
    usage = float(mem.get("usage") or 0)
    st = mem.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in st:
            v = float(st[key])
            return usage - v if v < usage else usage
    return usage


def mem_percent(usage: float, limit: float) -> float:
    return usage / limit * 100.0 if limit else 0.0


def net_io(s: dict[str, Any]) -> tuple[float, float]:
    rx = tx = 0.0
    for net in (s.get("networks") or {}).values():
        rx += float(net.get("rx_bytes") or 0)
        tx += float(net.get("tx_bytes") or 0)
    return rx, tx


def block_io(s: dict[str, Any]) -> tuple[float, float]:
    read = write = 0.0
    for entry in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += float(entry.get("value") or 0)
        elif op == "write":
            write += float(entry.get("value") or 0)
    return read, write
