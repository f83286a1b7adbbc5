"""linux.resources -> cgroup v1 writes (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from wharfie.cgroups._plan_v1 import plan_v1
from wharfie.errors import InvalidArgument

MIB = 1 << 20


def keys(resources: Any, **kw: Any) -> list[tuple[str, str, str]]:
    return plan_v1(resources, **kw).keys()


def test_empty_and_null_resources_write_nothing() -> None:
    assert keys({}) == []
    assert keys(None) == []
    assert keys({"memory": None, "cpu": {}, "pids": None}) == []


def test_resources_must_be_an_object() -> None:
    with pytest.raises(InvalidArgument, match=r"^linux\.resources: must be an object"):
        plan_v1([])


# -- memory ------------------------------------------------------------------------------


def test_memory_limit_reservation_swappiness() -> None:
    res = {"memory": {"limit": 64 * MIB, "reservation": 32 * MIB, "swappiness": 10}}
    assert keys(res) == [
        ("memory", "memory.limit_in_bytes", str(64 * MIB)),
        ("memory", "memory.soft_limit_in_bytes", str(32 * MIB)),
        ("memory", "memory.swappiness", "10"),
    ]


def test_memory_limit_must_be_an_integer_naming_the_field() -> None:
    with pytest.raises(
        InvalidArgument, match=r'^linux\.resources\.memory\.limit: must be an integer, got "64m"$'
    ):
        plan_v1({"memory": {"limit": "64m"}})


@pytest.mark.parametrize("bad", [True, 1.5, [1], {"a": 1}])
def test_memory_limit_rejects_non_integers(bad: object) -> None:
    with pytest.raises(InvalidArgument, match=r"memory\.limit: must be an integer"):
        plan_v1({"memory": {"limit": bad}})


def test_memory_limit_below_minus_one_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match=r"memory\.limit: must be between -1 and"):
        plan_v1({"memory": {"limit": -2}})


def test_limit_then_swap_on_a_fresh_cgroup() -> None:
    plan = plan_v1({"memory": {"limit": 32 * MIB, "swap": 64 * MIB}})
    assert plan.keys() == [
        ("memory", "memory.limit_in_bytes", str(32 * MIB)),
        ("memory", "memory.memsw.limit_in_bytes", str(64 * MIB)),
    ]
    assert plan.writes[1].on_missing == "warn"  # no swap accounting: a warning, like Docker


def test_swap_first_when_raising_above_the_current_limit() -> None:
    res = {"memory": {"limit": 256 * MIB, "swap": 512 * MIB}}
    assert [k[1] for k in keys(res, current_memory_limit=128 * MIB)] == [
        "memory.memsw.limit_in_bytes",
        "memory.limit_in_bytes",
    ]
    assert [k[1] for k in keys(res, current_memory_limit=1024 * MIB)] == [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
    ]


def test_unlimited_memory_makes_swap_unlimited_too_best_effort() -> None:
    plan = plan_v1({"memory": {"limit": -1}})
    assert plan.keys() == [
        ("memory", "memory.memsw.limit_in_bytes", "-1"),
        ("memory", "memory.limit_in_bytes", "-1"),
    ]
    assert plan.writes[0].on_missing == "ignore"


def test_swap_below_limit_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match=r"memory\.swap: must be >= .*memory\.limit"):
        plan_v1({"memory": {"limit": 64 * MIB, "swap": 32 * MIB}})


def test_zero_means_leave_alone() -> None:
    assert keys({"memory": {"limit": 0, "swap": 0, "reservation": 0, "kernelTCP": 0}}) == []


@pytest.mark.parametrize("unset", [-1, (1 << 64) - 1])
def test_swappiness_unset_values(unset: int) -> None:
    assert keys({"memory": {"swappiness": unset}}) == []


def test_swappiness_above_100_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="swappiness: must be between 0 and 100, got 101"):
        plan_v1({"memory": {"swappiness": 101}})


def test_kernel_memory_is_ignored_with_a_warning_and_tcp_is_best_effort() -> None:
    plan = plan_v1({"memory": {"kernel": 10 * MIB, "kernelTCP": 5 * MIB}})
    assert plan.keys() == [("memory", "memory.kmem.tcp.limit_in_bytes", str(5 * MIB))]
    assert plan.writes[0].on_missing == "warn"
    assert plan.warnings == [
        "linux.resources.memory.kernel: ignored, kernel memory limits are deprecated (as in runc)"
    ]


def test_oom_killer_and_hierarchy_flags() -> None:
    plan = plan_v1({"memory": {"disableOOMKiller": True, "useHierarchy": False}})
    assert plan.keys() == [("memory", "memory.oom_control", "1")]
    assert "useHierarchy: ignored" in plan.warnings[0]
    assert keys({"memory": {"disableOOMKiller": False, "useHierarchy": True}}) == []


def test_flags_must_be_booleans() -> None:
    with pytest.raises(InvalidArgument, match="disableOOMKiller: must be true or false, got 1"):
        plan_v1({"memory": {"disableOOMKiller": 1}})


# -- cpu and cpuset ----------------------------------------------------------------------


def test_cpu_settings_in_runc_order_with_cpuset_first() -> None:
    res = {
        "cpu": {
            "shares": 512,
            "quota": 50000,
            "period": 100000,
            "burst": 1000,
            "realtimeRuntime": 950,
            "realtimePeriod": 1000,
            "idle": 0,
            "cpus": "0-1",
            "mems": "0",
        }
    }
    assert keys(res) == [
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpu", "cpu.cfs_burst_us", "1000"),
        ("cpu", "cpu.rt_period_us", "1000"),
        ("cpu", "cpu.rt_runtime_us", "950"),
        ("cpu", "cpu.idle", "0"),
    ]


def test_quota_minus_one_is_unlimited() -> None:
    assert keys({"cpu": {"quota": -1}}) == [("cpu", "cpu.cfs_quota_us", "-1")]


@pytest.mark.parametrize("shares", [1, 262145])
def test_shares_out_of_the_kernel_range_are_invalid(shares: int) -> None:
    with pytest.raises(InvalidArgument, match=r"cpu\.shares: must be between 2 and 262144"):
        plan_v1({"cpu": {"shares": shares}})


def test_negative_period_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.resources\.cpu\.period: must be between 0"):
        plan_v1({"cpu": {"period": -5}})


def test_cpus_must_be_a_string() -> None:
    with pytest.raises(InvalidArgument, match=r"cpu\.cpus: must be a string, got 3"):
        plan_v1({"cpu": {"cpus": 3}})


# -- pids, blkio, hugetlb, network, rdma -------------------------------------------------


@pytest.mark.parametrize(("limit", "value"), [(10, "10"), (-1, "max"), (-5, "max")])
def test_pids_limit(limit: int, value: str) -> None:
    assert keys({"pids": {"limit": limit}}) == [("pids", "pids.max", value)]


def test_pids_zero_leaves_it_alone() -> None:
    assert keys({"pids": {"limit": 0}}) == []


def test_blkio_weight_falls_back_to_bfq_and_only_warns_when_missing() -> None:
    plan = plan_v1({"blockIO": {"weight": 500, "leafWeight": 300}})
    weight, leaf = plan.writes
    assert weight.files == (("blkio.weight", "500"), ("blkio.bfq.weight", "500"))
    assert weight.on_missing == "warn"
    assert (leaf.filename, leaf.on_missing) == ("blkio.leaf_weight", "warn")


def test_blkio_devices_and_throttles() -> None:
    res = {
        "blockIO": {
            "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 100}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 2097152}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 50}],
        }
    }
    plan = plan_v1(res)
    assert plan.writes[0].files == (
        ("blkio.weight_device", "8:0 600"),
        ("blkio.bfq.weight_device", "8:0 600"),
    )
    assert plan.keys()[1:] == [
        ("blkio", "blkio.leaf_weight_device", "8:0 100"),
        ("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio", "blkio.throttle.write_bps_device", "8:16 2097152"),
        ("blkio", "blkio.throttle.read_iops_device", "8:0 100"),
        ("blkio", "blkio.throttle.write_iops_device", "8:0 50"),
    ]
    assert [w.on_missing for w in plan.writes[2:]] == ["error"] * 4


def test_blkio_device_needs_major_and_minor() -> None:
    with pytest.raises(
        InvalidArgument, match=r"blockIO\.throttleReadBpsDevice\[0\]\.minor: is required"
    ):
        plan_v1({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}})


def test_hugepages_warn_without_hierarchy_refuse_unknown_size() -> None:
    plan = plan_v1({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MIB}]})
    assert plan.keys() == [("hugetlb", "hugetlb.2MB.limit_in_bytes", str(4 * MIB))]
    assert plan.writes[0].on_missing == "hugetlb"


@pytest.mark.parametrize("size", ["../x", "2 MB", "", None, "2mb", "MB", "2XB"])
def test_hugepage_size_is_checked(size: object) -> None:
    with pytest.raises(InvalidArgument, match=r"hugepageLimits\[0\]\.pageSize"):
        plan_v1({"hugepageLimits": [{"pageSize": size, "limit": 1}]})


def test_network_best_effort() -> None:
    res = {"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]}}
    plan = plan_v1(res)
    assert plan.keys() == [
        ("net_cls", "net_cls.classid", "1048577"),
        ("net_prio", "net_prio.ifpriomap", "eth0 500"),
    ]
    assert {w.on_missing for w in plan.writes} == {"warn"}


def test_rdma() -> None:
    res = {"rdma": {"mlx5_1": {"hcaHandles": 3}, "mlx4_0": {"hcaHandles": 2, "hcaObjects": 9}}}
    assert keys(res) == [
        ("rdma", "rdma.max", "mlx4_0 hca_handle=2 hca_object=9"),
        ("rdma", "rdma.max", "mlx5_1 hca_handle=3"),
    ]


def test_unified_is_refused_on_v1() -> None:
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.unified: is only supported"):
        plan_v1({"unified": {"memory.high": "1G"}})
    assert keys({"unified": {}}) == []


def test_devices_deny_all_first_then_allows() -> None:
    res = {
        "devices": [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": True, "type": "c", "major": 136, "access": "rw"},
        ]
    }
    assert keys(res) == [
        ("devices", "devices.deny", "a *:* rwm"),
        ("devices", "devices.allow", "c 1:3 rwm"),
        ("devices", "devices.allow", "c 136:* rw"),
    ]


def test_writes_follow_runc_subsystem_order() -> None:
    res = {
        "pids": {"limit": 5},
        "memory": {"limit": MIB},
        "cpu": {"shares": 100, "cpus": "0"},
        "devices": [],
        "blockIO": {"weight": 100},
    }
    assert [k[0] for k in keys(res)] == ["cpuset", "devices", "memory", "cpu", "pids", "blkio"]
