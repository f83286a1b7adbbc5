"""engine.statsfmt: Docker's stats JSON from a runtime's stats (runc's `events --stats`
data), on cgroup v1 and v2 as moby writes them, and what the CLI derives."""

from __future__ import annotations

import os
from typing import Any

import pytest

from wharfie.cli.stats import cpu_percent, mem_usage
from wharfie.engine import statsfmt as st

GIB = 1 << 30
UNLIMITED = 9223372036854771712
V2 = {
    "cpu": {"usage": {"total": 3_000_000_000, "kernel": 1_000_000_000, "user": 2_000_000_000},
            "throttling": {"periods": 10, "throttled_periods": 2, "throttled_time": 5000}},
    "memory": {"usage": {"limit": UNLIMITED, "usage": 100 << 20, "failcnt": 0},
               "raw": {"anon": 50 << 20, "file": 40 << 20, "inactive_file": 30 << 20}},
    "pids": {"current": 3},
    "blkio": {"ioServiceBytesRecursive": [
                  {"major": 8, "op": "Read", "value": 4096},
                  {"major": 8, "op": "Write", "value": 8192}],
              "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 1}]},
}  # fmt: skip
V1 = {
    "cpu": {"usage": {"total": 2_000_000_000, "percpu": [1_500_000_000, 500_000_000],
                      "kernel": 500_000_000, "user": 1_500_000_000},
            "throttling": {}},
    "memory": {"usage": {"limit": 64 << 20, "usage": 80 << 20, "max": 90 << 20, "failcnt": 0},
               "raw": {"cache": 20 << 20, "rss": 40 << 20, "total_inactive_file": 10 << 20,
                       "inactive_file": 9 << 20, "shmem": 1, "workingset_refault_anon": 2}},
    "pids": {"current": 2, "limit": 100},
    "blkio": {"ioServiceBytesRecursive": [{"major": 8, "minor": 16, "op": "Read", "value": 7}]},
}  # fmt: skip
NETS = {"eth0": {"rx_bytes": 1000, "rx_packets": 10, "tx_bytes": 500, "tx_packets": 5}}


def stats(data: dict[str, Any], pre: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "container_id": "c" * 64,
        "name": "web",
        "data": data,
        "pre": pre,
        "system_ns": 200_000_000_000,
        "pre_system_ns": 190_000_000_000,
        "online_cpus": 2,
        "read_time": 1_700_000_001.0,
        "pre_time": 1_700_000_000.0 if pre is not None else None,
        "networks": NETS,
        "host_mem": 4 * GIB,
        "v2": data is V2 or kw.pop("v2", False),
    }
    args.update(kw)
    return st.docker_stats(**args)


def test_v2_shape() -> None:
    out = stats(V2)
    assert out["name"] == "/web" and out["id"] == "c" * 64
    assert out["read"] == "2023-11-14T22:13:21Z"
    assert out["preread"] == "0001-01-01T00:00:00Z"
    assert out["cpu_stats"] == {
        "cpu_usage": {
            "total_usage": 3_000_000_000,
            "usage_in_kernelmode": 1_000_000_000,
            "usage_in_usermode": 2_000_000_000,
        },
        "throttling_data": {"periods": 10, "throttled_periods": 2, "throttled_time": 5000},
        "system_cpu_usage": 200_000_000_000,
        "online_cpus": 2,
    }
    assert out["precpu_stats"] == {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    mem = out["memory_stats"]
    assert mem["usage"] == 100 << 20
    assert mem["limit"] == 4 * GIB  # unlimited -> host memory
    assert "max_usage" not in mem
    assert mem["stats"]["inactive_file"] == 30 << 20
    assert "total_inactive_file" not in mem["stats"]
    assert out["pids_stats"] == {"current": 3}
    assert out["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 4096},
        {"major": 8, "minor": 0, "op": "write", "value": 8192},
    ]  # moby's v2 form: lower-case ops, and no other list
    assert out["blkio_stats"]["io_serviced_recursive"] is None
    assert out["networks"]["eth0"] == {
        "rx_bytes": 1000, "rx_packets": 10, "rx_errors": 0, "rx_dropped": 0,
        "tx_bytes": 500, "tx_packets": 5, "tx_errors": 0, "tx_dropped": 0,
    }  # fmt: skip
    assert out["num_procs"] == 0 and out["storage_stats"] == {}


def test_v2_without_io_has_null_lists() -> None:
    out = stats({**V2, "blkio": {}}, v2=True)
    assert set(out["blkio_stats"].values()) == {None}


def test_v1_shape() -> None:
    """As dockerd 20.10 answers for a running container on this (hybrid) host."""
    out = stats(V1)
    assert out["cpu_stats"]["cpu_usage"]["percpu_usage"] == [1_500_000_000, 500_000_000]
    assert "percpu_usage" not in out["precpu_stats"]["cpu_usage"]  # no pre: no list
    mem = out["memory_stats"]
    assert mem["limit"] == 64 << 20
    assert mem["max_usage"] == 90 << 20
    assert mem["stats"]["total_inactive_file"] == 10 << 20
    assert list(mem["stats"]) == list(st.V1_MEMORY_KEYS)  # moby's keys, no shmem & co
    assert out["pids_stats"] == {"current": 2, "limit": 100}
    blkio = out["blkio_stats"]
    assert blkio["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 16, "op": "Read", "value": 7}
    ]
    assert blkio["io_serviced_recursive"] == [] and blkio["sectors_recursive"] == []
    assert list(blkio) == list(st.BLKIO_KEYS.values())
    assert out["cpu_stats"]["throttling_data"] == {
        "periods": 0,
        "throttled_periods": 0,
        "throttled_time": 0,
    }


def test_v1_without_blkio_counters_lists_are_empty_not_null() -> None:
    out = stats({**V1, "blkio": {}})
    assert set(map(str, out["blkio_stats"].values())) == {"[]"}


def test_stopped_container_blkio_is_null() -> None:
    assert set(st.blkio_block(None).values()) == {None}


def test_limit_above_host_memory_is_host_memory() -> None:
    usage = {**V1["memory"]["usage"], "limit": 64 * GIB}  # type: ignore[index]
    data = {**V1, "memory": {**V1["memory"], "usage": usage}}
    assert stats(data)["memory_stats"]["limit"] == 4 * GIB


def test_missing_sections() -> None:
    out = stats({}, networks=None)
    assert out["memory_stats"] == {}
    assert out["pids_stats"] == {}
    assert "networks" not in out
    assert out["cpu_stats"]["cpu_usage"]["total_usage"] == 0


def test_cli_cpu_percent() -> None:
    usage = {**V2["cpu"]["usage"], "total": 2_000_000_000}  # type: ignore[index]
    pre = {**V2, "cpu": {**V2["cpu"], "usage": usage}}
    out = stats(V2, pre)
    # 1 s of CPU over 10 s of all-CPU time on 2 CPUs = 20 %
    assert cpu_percent(out) == pytest.approx(20.0)
    assert out["precpu_stats"]["system_cpu_usage"] == 190_000_000_000
    assert out["precpu_stats"]["online_cpus"] == 2
    assert out["preread"] == "2023-11-14T22:13:20Z"
    assert cpu_percent(stats(V2)) > 0  # no pre: delta from zero, as docker
    assert cpu_percent(stats(V2, pre, system_ns=190_000_000_000)) == 0.0


def test_cli_memory() -> None:
    assert mem_usage(stats(V2)) == 70 << 20  # usage - inactive_file (v2)
    assert mem_usage(stats(V1)) == 70 << 20  # usage - total_inactive_file (v1)


def test_system_cpu_ns() -> None:
    first = st.system_cpu_ns()
    assert first > 0
    assert st.system_cpu_ns() >= first


def test_system_cpu_ns_from_a_file(tmp_path: Any) -> None:
    path = tmp_path / "stat"
    path.write_text("cpu  100 0 100 800 0 0 0 5 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n")
    assert st.system_cpu_ns(str(path)) == 1000 * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop
    lo: 12345 100 0 0 0 0 0 0 12345 100 0 0 0 0 0 0
  eth0: 1000 10 1 2 0 0 0 0 500 5 3 4 0 0 0 0
"""


def test_parse_net_dev() -> None:
    assert st._parse_net_dev(NET_DEV) == {
        "eth0": {
            "rx_bytes": 1000, "rx_packets": 10, "rx_errors": 1, "rx_dropped": 2,
            "tx_bytes": 500, "tx_packets": 5, "tx_errors": 3, "tx_dropped": 4,
        }
    }  # fmt: skip


def test_net_dev_of_a_real_process() -> None:
    devices = st.net_dev(os.getpid())
    assert "lo" not in devices
    for counters in devices.values():
        assert set(counters) == set(st.NET_FIELDS)


def test_host_memory() -> None:
    assert st.host_memory() > 64 << 20
