"""A runtime's stats (runc's `events --stats` data) -> Docker's stats JSON (API 1.44), and
the host counters it needs.

`docker_stats` is pure. Its input is runc 1.1's `types.Stats` JSON, which wharfie-runtime
gives in-process (`wharfie.runtime.admin.stats`) and runc through `runc events --stats`;
the translation is moby's from the same counters (daemon/daemon_unix.go, statsV1 on
cgroup v1 and hybrid hosts, statsV2 on pure v2):

- v1: `percpu_usage` is listed, the eight blkio lists are always lists ([] when the kernel
  filled none), ops as the kernel writes them ("Read"); memory.stat is cut to the keys
  moby copies; `max_usage` is the cgroup's peak.
- v2: no per-CPU list and no `max_usage`; blkio has only io_service_bytes_recursive (null
  when empty), ops "read"/"write"; the other blkio lists are null.

The docker CLI computes CPU % as Δcpu_usage.total_usage / Δsystem_cpu_usage * online_cpus *
100 and memory as usage - total_inactive_file (v1) or usage - inactive_file (v2): those
fields are always present (0 when the kernel does not report them).
"""

from __future__ import annotations

import os
from typing import Any

from .present import ZERO_TIME, rfc3339nano

__all__ = ["docker_stats", "host_is_v2", "host_memory", "net_dev", "system_cpu_ns"]

NET_FIELDS = (
    "rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets",
    "tx_errors", "tx_dropped",
)  # fmt: skip
# /proc/net/dev columns (after the interface name) that Docker reports, by index.
_NET_COLUMNS = {"rx_bytes": 0, "rx_packets": 1, "rx_errors": 2, "rx_dropped": 3,
                "tx_bytes": 8, "tx_packets": 9, "tx_errors": 10, "tx_dropped": 11}  # fmt: skip
# runc's blkio keys -> Docker's, in Docker's order.
BLKIO_KEYS = {
    "ioServiceBytesRecursive": "io_service_bytes_recursive",
    "ioServicedRecursive": "io_serviced_recursive",
    "ioQueueRecursive": "io_queue_recursive",
    "ioServiceTimeRecursive": "io_service_time_recursive",
    "ioWaitTimeRecursive": "io_wait_time_recursive",
    "ioMergedRecursive": "io_merged_recursive",
    "ioTimeRecursive": "io_time_recursive",
    "sectorsRecursive": "sectors_recursive",
}
# The memory.stat keys moby's statsV1 copies (from containerd's v1 MemoryStat).
V1_MEMORY_KEYS = (
    "active_anon", "active_file", "cache", "dirty", "hierarchical_memory_limit",
    "hierarchical_memsw_limit", "inactive_anon", "inactive_file", "mapped_file", "pgfault",
    "pgmajfault", "pgpgin", "pgpgout", "rss", "rss_huge", "total_active_anon",
    "total_active_file", "total_cache", "total_dirty", "total_inactive_anon",
    "total_inactive_file", "total_mapped_file", "total_pgfault", "total_pgmajfault",
    "total_pgpgin", "total_pgpgout", "total_rss", "total_rss_huge", "total_unevictable",
    "total_writeback", "unevictable", "writeback",
)  # fmt: skip


def cpu_block(data: dict[str, Any] | None, v2: bool = False) -> dict[str, Any]:
    cpu = (data or {}).get("cpu") or {}
    usage = cpu.get("usage") or {}
    throttling = cpu.get("throttling") or {}
    cpu_usage: dict[str, Any] = {"total_usage": int(usage.get("total", 0))}
    if usage.get("percpu") and not v2:
        cpu_usage["percpu_usage"] = [int(x) for x in usage["percpu"]]
    cpu_usage["usage_in_kernelmode"] = int(usage.get("kernel", 0))
    cpu_usage["usage_in_usermode"] = int(usage.get("user", 0))
    return {
        "cpu_usage": cpu_usage,
        "throttling_data": {
            "periods": int(throttling.get("periods", 0)),
            "throttled_periods": int(throttling.get("throttled_periods", 0)),
            "throttled_time": int(throttling.get("throttled_time", 0)),
        },
    }


def _memory(data: dict[str, Any], host_mem: int, v2: bool) -> dict[str, Any]:
    memory = data.get("memory")
    if not memory:
        return {}
    usage = memory.get("usage") or {}
    raw = memory.get("raw") or {}
    out: dict[str, Any] = {"usage": int(usage.get("usage", 0))}
    if v2:
        stat = dict(raw)
        stat.setdefault("inactive_file", 0)
    else:
        out["max_usage"] = int(usage.get("max", 0))
        stat = {k: int(raw.get(k, 0)) for k in V1_MEMORY_KEYS}
    out["stats"] = stat
    limit = int(usage.get("limit", 0))
    out["limit"] = limit if 0 < limit < host_mem else host_mem
    return out


def _entries(entries: list[dict[str, Any]], lower: bool) -> list[dict[str, Any]]:
    return [
        {
            "major": int(e.get("major", 0)),
            "minor": int(e.get("minor", 0)),
            "op": str(e.get("op", "")).lower() if lower else str(e.get("op", "")),
            "value": int(e.get("value", 0)),
        }
        for e in entries
    ]


def blkio_block(data: dict[str, Any] | None, v2: bool = False) -> dict[str, Any]:
    """Docker's blkio_stats: every key; null where moby has no list (a stopped container,
    the lists v2 lacks, an empty v2 list)."""
    blkio = (data or {}).get("blkio")
    out: dict[str, Any] = dict.fromkeys(BLKIO_KEYS.values())
    if blkio is None:
        return out
    if v2:
        entries = blkio.get("ioServiceBytesRecursive") or []
        out["io_service_bytes_recursive"] = _entries(entries, lower=True) or None
        return out
    for key, docker_key in BLKIO_KEYS.items():
        out[docker_key] = _entries(blkio.get(key) or [], lower=False)
    return out


def docker_stats(
    *,
    container_id: str,
    name: str,
    data: dict[str, Any],
    pre: dict[str, Any] | None,
    system_ns: int,
    pre_system_ns: int,
    online_cpus: int,
    read_time: float,
    pre_time: float | None,
    networks: dict[str, dict[str, int]] | None,
    host_mem: int | None = None,
    v2: bool | None = None,
) -> dict[str, Any]:
    """One stats object as moby writes it from runc stats `data` (and `pre`, the previous
    sample's); `host_mem` defaults to this host's MemTotal, `v2` to this host's layout."""
    v2 = host_is_v2() if v2 is None else v2
    cpu = cpu_block(data, v2)
    cpu["system_cpu_usage"] = int(system_ns)
    cpu["online_cpus"] = int(online_cpus)
    precpu = cpu_block(pre, v2)
    if pre is not None:
        precpu["system_cpu_usage"] = int(pre_system_ns)
        precpu["online_cpus"] = int(online_cpus)
    pids = data.get("pids") or {}
    pids_stats: dict[str, int] = {}
    if pids.get("current"):
        pids_stats["current"] = int(pids["current"])
    if pids.get("limit"):
        pids_stats["limit"] = int(pids["limit"])
    out: dict[str, Any] = {
        "read": rfc3339nano(read_time),
        "preread": rfc3339nano(pre_time) if pre_time else ZERO_TIME,
        "pids_stats": pids_stats,
        "blkio_stats": blkio_block(data, v2),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": precpu,
        "memory_stats": _memory(data, host_memory() if host_mem is None else host_mem, v2),
        "name": "/" + name.lstrip("/"),
        "id": container_id,
    }
    if networks is not None:
        out["networks"] = {
            k: {f: int(v.get(f, 0)) for f in NET_FIELDS} for k, v in networks.items()
        }
    return out


_V2: list[bool] = []


def host_is_v2() -> bool:
    """moby's stats take the v2 form only on a pure cgroup v2 host (hybrid is v1)."""
    if not _V2:
        _V2.append(os.path.exists("/sys/fs/cgroup/cgroup.controllers"))
    return _V2[0]


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
