"""wharfie.cgroups stats -> Docker's stats JSON (API 1.44), and the host counters it needs.

`docker_stats` is pure. The docker CLI computes CPU % as
Δcpu_stats.cpu_usage.total_usage / Δsystem_cpu_usage * online_cpus * 100 and memory as
usage - total_inactive_file (cgroup v1) or usage - inactive_file (v2): those fields are
always present (0 when the kernel does not report them). On v1 memory.stat already holds
total_inactive_file; on v2 inactive_file. blkio totals come without device numbers
(wharfie.cgroups sums them), so they are reported as device 0:0.
"""

from __future__ import annotations

import os
from typing import Any

from .present import ZERO_TIME, rfc3339nano

__all__ = ["docker_stats", "host_memory", "net_dev", "system_cpu_ns"]

NET_FIELDS = (
    "rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets",
    "tx_errors", "tx_dropped",
)  # fmt: skip
# /proc/net/dev columns (after the interface name) that Docker reports, by index.
_NET_COLUMNS = {"rx_bytes": 0, "rx_packets": 1, "rx_errors": 2, "rx_dropped": 3,
                "tx_bytes": 8, "tx_packets": 9, "tx_errors": 10, "tx_dropped": 11}  # fmt: skip


def cpu_block(cg: dict[str, Any] | None) -> dict[str, Any]:
    cpu = (cg or {}).get("cpu") or {}
    return {
        "cpu_usage": {
            "total_usage": int(cpu.get("usage_ns", 0)),
            "usage_in_kernelmode": int(cpu.get("system_ns", 0)),
            "usage_in_usermode": int(cpu.get("user_ns", 0)),
        },
        "throttling_data": {
            "periods": int(cpu.get("periods", 0)),
            "throttled_periods": int(cpu.get("throttled_periods", 0)),
            "throttled_time": int(cpu.get("throttled_ns", 0)),
        },
    }


def _memory(cg: dict[str, Any], host_mem: int) -> dict[str, Any]:
    memory = cg.get("memory")
    if not memory:
        return {}
    stat = dict(memory.get("stat") or {})
    v1 = "total_inactive_file" in stat or "cache" in stat
    if v1:
        stat.setdefault("total_inactive_file", stat.get("inactive_file", 0))
    stat.setdefault("inactive_file", 0)
    out: dict[str, Any] = {"usage": int(memory.get("usage") or 0)}
    if memory.get("max_usage") is not None:
        out["max_usage"] = int(memory["max_usage"])
    out["stats"] = stat
    limit = memory.get("limit")
    out["limit"] = int(limit) if limit is not None and limit < host_mem else host_mem
    return out


def blkio_block(cg: dict[str, Any]) -> dict[str, Any]:
    blkio = cg.get("blkio")
    entries = None
    if blkio is not None:
        entries = [
            {"major": 0, "minor": 0, "op": "read", "value": int(blkio.get("read_bytes", 0))},
            {"major": 0, "minor": 0, "op": "write", "value": int(blkio.get("write_bytes", 0))},
        ]
    keys = ("io_serviced_recursive", "io_queue_recursive", "io_service_time_recursive",
            "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive",
            "sectors_recursive")  # fmt: skip
    return {"io_service_bytes_recursive": entries, **dict.fromkeys(keys)}


def docker_stats(
    *,
    container_id: str,
    name: str,
    cg: dict[str, Any],
    pre: dict[str, Any] | None,
    system_ns: int,
    pre_system_ns: int,
    online_cpus: int,
    read_time: float,
    pre_time: float | None,
    networks: dict[str, dict[str, int]] | None,
    host_mem: int | None = None,
) -> dict[str, Any]:
    """One stats object as moby writes it (`host_mem` defaults to this host's MemTotal)."""
    cpu = cpu_block(cg)
    cpu["system_cpu_usage"] = int(system_ns)
    cpu["online_cpus"] = int(online_cpus)
    precpu = cpu_block(pre)
    if pre is not None:
        precpu["system_cpu_usage"] = int(pre_system_ns)
        precpu["online_cpus"] = int(online_cpus)
    pids = cg.get("pids") or {}
    pids_stats: dict[str, int] = {}
    if pids:
        pids_stats["current"] = int(pids.get("current") or 0)
        if pids.get("limit") is not None:
            pids_stats["limit"] = int(pids["limit"])
    out: dict[str, Any] = {
        "read": rfc3339nano(read_time),
        "preread": rfc3339nano(pre_time) if pre_time else ZERO_TIME,
        "pids_stats": pids_stats,
        "blkio_stats": blkio_block(cg),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": precpu,
        "memory_stats": _memory(cg, host_memory() if host_mem is None else host_mem),
        "name": "/" + name.lstrip("/"),
        "id": container_id,
    }
    if networks is not None:
        out["networks"] = {
            k: {f: int(v.get(f, 0)) for f in NET_FIELDS} for k, v in networks.items()
        }
    return out


def system_cpu_ns(path: str = "/proc/stat") -> int:
    """moby's getSystemCPUUsage: the first 7 fields of /proc/stat's "cpu" line, in ns."""
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"cpu "):
                ticks = sum(int(x) for x in line.split()[1:8])
                return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    raise OSError(f"no cpu line in {path}")


def _parse_net_dev(text: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines()[2:]:
        iface, sep, rest = line.partition(":")
        iface = iface.strip()
        if not sep or iface == "lo":
            continue
        numbers = [int(x) for x in rest.split()]
        out[iface] = {name: numbers[i] for name, i in _NET_COLUMNS.items()}
    return out


def net_dev(pid: int) -> dict[str, dict[str, int]]:
    """Per-interface counters (lo excluded) of the network namespace of `pid`."""
    with open(f"/proc/{pid}/net/dev", encoding="ascii") as f:
        return _parse_net_dev(f.read())


_MEMTOTAL: list[int] = []


def host_memory() -> int:
    """MemTotal in bytes (read once)."""
    if not _MEMTOTAL:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    _MEMTOTAL.append(int(line.split()[1]) * 1024)
                    break
    return _MEMTOTAL[0]
