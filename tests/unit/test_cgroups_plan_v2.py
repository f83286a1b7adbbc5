"""linux.resources -> cgroup v2 writes (pure), with runc's v1 -> v2 conversions."""

from __future__ import annotations

from typing import Any

import pytest

from wharfie.cgroups._plan_v2 import (
    blkio_to_io_weight,
    cpu_max,
    plan_v2,
    shares_to_weight,
    swap_v2,
)
from wharfie.errors import InvalidArgument

MIB = 1 << 20


def keys(resources: Any, **kw: Any) -> list[tuple[str, str, str]]:
    return plan_v2(resources, **kw).keys()


@pytest.mark.parametrize(
    ("shares", "weight"), [(2, 1), (1024, 39), (512, 20), (262144, 10000), (100, 4)]
)
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize(
    ("quota", "period", "value"),
    [
        (50000, 100000, "50000 100000"),
        (-1, 100000, "max 100000"),
        (50000, 0, "50000"),
        (0, 250000, "max 250000"),
        (-1, 0, "max"),
    ],
)
def test_cpu_max(quota: int, period: int, value: str) -> None:
    assert cpu_max(quota, period) == value


@pytest.mark.parametrize(("weight", "io"), [(10, 1), (1000, 10000), (500, 4950), (100, 910)])
def test_blkio_to_io_weight(weight: int, io: int) -> None:
    assert blkio_to_io_weight(weight) == io


@pytest.mark.parametrize(
    ("swap", "limit", "out"),
    [(0, -1, -1), (-1, 100, -1), (0, 100, 0), (300, 100, 200), (100, 100, 0), (-1, -1, -1)],
)
def test_swap_conversion(swap: int, limit: int, out: int) -> None:
    assert swap_v2(swap, limit) == out


def test_swap_without_limit_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match=r"memory\.swap: cannot limit swap"):
        swap_v2(100, 0)


def test_swap_below_limit_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match=r"memory\.swap: must be >="):
        swap_v2(50, 100)


def test_memory() -> None:
    res = {"memory": {"limit": 64 * MIB, "swap": 128 * MIB, "reservation": 32 * MIB}}
    assert keys(res) == [
        ("memory", "memory.swap.max", str(64 * MIB)),
        ("memory", "memory.max", str(64 * MIB)),
        ("memory", "memory.low", str(32 * MIB)),
    ]


def test_memory_equal_to_swap_disables_swap() -> None:
    res = {"memory": {"limit": 32 * MIB, "swap": 32 * MIB}}
    assert keys(res) == [
        ("memory", "memory.swap.max", "0"),
        ("memory", "memory.max", str(32 * MIB)),
    ]


def test_unlimited_memory() -> None:
    plan = plan_v2({"memory": {"limit": -1}})
    assert plan.keys() == [("memory", "memory.swap.max", "max"), ("memory", "memory.max", "max")]
    assert plan.writes[0].on_missing == "ignore"


def test_v1_only_memory_knobs_are_warnings() -> None:
    plan = plan_v2(
        {
            "memory": {
                "kernel": 1,
                "kernelTCP": 1,
                "swappiness": 60,
                "disableOOMKiller": True,
                "useHierarchy": False,
            }
        }
    )
    assert plan.keys() == []
    assert len(plan.warnings) == 5
    assert all(w.startswith("linux.resources.memory.") for w in plan.warnings)


def test_cpu() -> None:
    res = {
        "cpu": {
            "shares": 1024,
            "quota": 50000,
            "period": 100000,
            "burst": 500,
            "idle": 1,
            "cpus": "1",
            "mems": "0",
        }
    }
    assert keys(res) == [
        ("cpuset", "cpuset.cpus", "1"),
        ("cpuset", "cpuset.mems", "0"),
        ("cpu", "cpu.idle", "1"),
        ("cpu", "cpu.weight", "39"),
        ("cpu", "cpu.max.burst", "500"),
        ("cpu", "cpu.max", "50000 100000"),
    ]


def test_period_alone_names_the_period_field() -> None:
    (w,) = plan_v2({"cpu": {"period": 250000}}).writes
    assert (w.value, w.field) == ("max 250000", "linux.resources.cpu.period")


def test_realtime_is_refused_on_v2() -> None:
    with pytest.raises(InvalidArgument, match=r"cpu\.realtimeRuntime: realtime scheduling"):
        plan_v2({"cpu": {"realtimeRuntime": 100}})


def test_pids() -> None:
    assert keys({"pids": {"limit": -1}}) == [("pids", "pids.max", "max")]


def test_io_weight_prefers_bfq_then_io_weight() -> None:
    (w,) = plan_v2({"blockIO": {"weight": 500}}).writes
    assert w.files == (("io.bfq.weight", "500"), ("io.weight", "4950"))
    assert w.on_missing == "warn"


def test_io_devices_and_throttles() -> None:
    res = {
        "blockIO": {
            "leafWeight": 10,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 7}],
        }
    }
    plan = plan_v2(res)
    assert plan.writes[0].files == (("io.bfq.weight", "8:0 100"), ("io.weight", "8:0 910"))
    assert plan.keys()[1:] == [
        ("io", "io.max", "8:0 rbps=1000"),
        ("io", "io.max", "8:0 wiops=7"),
    ]
    assert plan.warnings == [
        "linux.resources.blockIO.leafWeight: ignored, there are no leaf weights on v2"
    ]


def test_hugetlb_uses_max_files() -> None:
    assert keys({"hugepageLimits": [{"pageSize": "1GB", "limit": 0}]}) == [
        ("hugetlb", "hugetlb.1GB.max", "0")
    ]


def test_network_is_a_warning_on_v2() -> None:
    plan = plan_v2({"network": {"classID": 1}})
    assert plan.keys() == []
    assert plan.warnings[0].startswith("linux.resources.network: ignored")


def test_unified_keys_are_written_last_with_their_controller() -> None:
    res = {"unified": {"memory.high": "50M", "cgroup.max.depth": "3"}, "pids": {"limit": 3}}
    assert keys(res) == [
        ("pids", "pids.max", "3"),
        ("memory", "memory.high", "50M"),
        ("cgroup", "cgroup.max.depth", "3"),
    ]


@pytest.mark.parametrize("key", ["../memory.max", "memory", ".hidden", "a/b.c"])
def test_unified_key_names_are_checked(key: str) -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.resources\.unified\."):
        plan_v2({"unified": {key: "1"}})


def test_unified_values_must_be_strings() -> None:
    with pytest.raises(InvalidArgument, match=r"unified\.memory\.high: must be a string"):
        plan_v2({"unified": {"memory.high": 5}})


def test_sections_filter() -> None:
    res = {"pids": {"limit": 3}, "hugepageLimits": [{"pageSize": "2MB", "limit": 5}]}
    assert keys(res, sections=("hugepageLimits",)) == [("hugetlb", "hugetlb.2MB.max", "5")]


def test_devices_are_not_file_writes_on_v2() -> None:
    assert keys({"devices": [{"allow": False}]}) == []
