"""The v1, v2 and hybrid drivers against a fake cgroup tree in tmp_path (no root needed).

A plain directory tree cannot create control files by itself, so the tests create the
files a kernel would show before exercising set(), add_proc() and friends.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_cgroups_devices import RUNC_DEVICES_LIST

from wharfie.cgroups import Cgroup, for_container, from_paths
from wharfie.cgroups import _driver as driver_module
from wharfie.cgroups._v2 import set_freeze
from wharfie.errors import FailedPrecondition, InvalidArgument, NotImplementedFeature, Unavailable

V1_CONTROLLERS = ("cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio")


def mountinfo(root: Path, v1: tuple[str, ...] = V1_CONTROLLERS, unified: str | None = None) -> str:
    lines = [f"31 23 0:28 / {root} rw,relatime - tmpfs tmpfs rw,mode=755"]
    for i, opts in enumerate((*v1, "name=systemd")):
        name = opts.replace("name=", "")
        lines.append(f"{40 + i} 31 0:{50 + i} / {root}/{name} rw,nosuid - cgroup cgroup rw,{opts}")
    if unified is not None:
        mp = root if unified == "" else root / unified
        lines.append(f"60 31 0:70 / {mp} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate")
    return "\n".join(lines) + "\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "cgroup"


def make_v1_tree(root: Path, v1: tuple[str, ...] = V1_CONTROLLERS) -> None:
    for opts in (*v1, "name=systemd"):
        (root / opts.replace("name=", "")).mkdir(parents=True)
    if "cpuset" in v1:
        (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
        (root / "cpuset" / "cpuset.mems").write_text("0\n")


def touch(d: str, *names: str, text: str = "") -> None:
    for name in names:
        Path(d, name).write_text(text)


def v1(root: Path, path: str = "/wharfie/c1", **kw: Any) -> Cgroup:
    make_v1_tree(root, **kw)
    return for_container(path, "c1", root=str(root), mountinfo=mountinfo(root, **kw))


def remaining(cg: Cgroup) -> list[str]:
    return [p for p in cg.paths.values() if os.path.exists(p)]


# -- v1 ----------------------------------------------------------------------------------


def test_v1_create_makes_every_directory_and_inherits_cpuset(root: Path) -> None:
    cg = v1(root)
    (root / "cpuset" / "wharfie").mkdir()
    touch(str(root / "cpuset" / "wharfie"), "cpuset.cpus", "cpuset.mems")  # empty, like a kernel
    cg.create()
    cg.create()  # idempotent
    assert remaining(cg) == list(cg.paths.values())
    assert (root / "cpuset" / "wharfie" / "cpuset.cpus").read_text() == "0-3"
    assert (root / "cpuset" / "wharfie" / "cpuset.mems").read_text() == "0"
    assert cg.paths["cpu,cpuacct"] == f"{root}/cpu,cpuacct/wharfie/c1"


def test_v1_destroy_removes_sub_cgroups_depth_first_and_is_idempotent(root: Path) -> None:
    cg = v1(root)
    cg.create()
    os.makedirs(cg.paths["memory"] + "/sub/deeper")
    os.makedirs(cg.paths["name=systemd"] + "/init.scope")
    cg.destroy()
    assert remaining(cg) == []
    assert (root / "memory" / "wharfie").is_dir()  # parents stay, like runc
    cg.destroy()


def test_v1_destroy_failure_names_the_directory(root: Path) -> None:
    cg = v1(root)
    cg.create()
    touch(cg.paths["pids"], "cgroup.procs", text="123\n")
    with pytest.raises(FailedPrecondition, match=r"failed to remove cgroup .*/pids/wharfie/c1: "):
        cg.destroy()


def test_v1_add_proc_joins_every_hierarchy(root: Path) -> None:
    cg = v1(root)
    cg.create()
    for d in cg.paths.values():
        touch(d, "cgroup.procs")
    cg.add_proc(4242)
    assert {Path(d, "cgroup.procs").read_text() for d in cg.paths.values()} == {"4242"}


def test_v1_add_proc_error_has_context(root: Path) -> None:
    cg = v1(root)
    with pytest.raises(NotImplementedFeature, match=r"failed to write 7 to .*/cgroup\.procs: "):
        cg.add_proc(7)


def test_v1_pids_is_the_union_over_hierarchies_and_sub_cgroups(root: Path) -> None:
    cg = v1(root)
    cg.create()
    touch(cg.paths["memory"], "cgroup.procs", text="10\n11\n")
    os.makedirs(cg.paths["pids"] + "/sub")
    touch(cg.paths["pids"] + "/sub", "cgroup.procs", text="12\n10\n")
    assert cg.pids() == [10, 11, 12]


def test_v1_set_writes_the_files(root: Path) -> None:
    cg = v1(root)
    cg.create()
    p = cg.paths
    touch(p["memory"], "memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    touch(p["memory"], "memory.usage_in_bytes", text="0\n")
    touch(p["cpu,cpuacct"], "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us")
    touch(p["pids"], "pids.max")
    touch(p["cpuset"], "cpuset.cpus", "cpuset.mems")
    touch(p["devices"], "devices.allow", "devices.deny")
    touch(p["blkio"], "blkio.bfq.weight")
    warnings = cg.set(
        {
            "memory": {"limit": 1 << 26, "swap": 1 << 27},
            "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "1"},
            "pids": {"limit": 5},
            "devices": [{"allow": False}, {"allow": True, "type": "c", "major": 1, "minor": 3}],
            "blockIO": {"weight": 300},
        },
        default_devices=False,
    )
    assert warnings == []

    def read(key: str, name: str) -> str:
        return Path(p[key], name).read_text()

    assert read("memory", "memory.limit_in_bytes") == str(1 << 26)
    assert read("memory", "memory.memsw.limit_in_bytes") == str(1 << 27)
    assert read("cpu,cpuacct", "cpu.shares") == "512"
    assert read("cpu,cpuacct", "cpu.cfs_quota_us") == "20000"
    assert read("cpuset", "cpuset.cpus") == "1"
    assert read("pids", "pids.max") == "5"
    assert read("devices", "devices.deny") == "a *:* rwm"
    assert read("devices", "devices.allow") == "c 1:3 rwm"
    assert read("blkio", "blkio.bfq.weight") == "300"  # blkio.weight missing: bfq fallback


def test_v1_default_devices_are_runcs(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cg = v1(root)
    cg.create()
    touch(cg.paths["devices"], "devices.allow", "devices.deny")
    written: list[tuple[str, str]] = []
    real = driver_module.write_file

    def record(path: str, value: str) -> None:
        written.append((os.path.basename(path), value))
        real(path, value)

    monkeypatch.setattr(driver_module, "write_file", record)
    assert cg.set({}) == []
    assert written[0] == ("devices.deny", "a *:* rwm")
    assert [v for _, v in written[1:]] == RUNC_DEVICES_LIST
    written.clear()
    cg.set({}, default_devices=False)
    assert written == []


def test_v1_best_effort_requests_warn_and_log(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    cg = v1(root)
    cg.create()
    with caplog.at_level(logging.WARNING, logger="wharfie.cgroups"):
        warnings = cg.set(
            {
                "blockIO": {"weight": 300},
                "network": {"classID": 7},
                "memory": {"kernel": 1},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
            },
            default_devices=False,
        )
    assert warnings == [
        "linux.resources.memory.kernel: ignored, kernel memory limits are deprecated (as in runc)",
        "linux.resources.blockIO.weight: ignored, this kernel has no blkio.weight or "
        f"blkio.bfq.weight in {cg.paths['blkio']}",
        "linux.resources.hugepageLimits[0]: ignored, no hugetlb cgroup hierarchy is mounted",
        "linux.resources.network.classID: ignored, no net_cls cgroup hierarchy is mounted",
    ]
    assert [r.getMessage() for r in caplog.records] == warnings


def test_v1_missing_required_file_is_an_error_naming_the_field(root: Path) -> None:
    cg = v1(root)
    cg.create()
    with pytest.raises(
        NotImplementedFeature,
        match=r"^linux\.resources\.cpu\.realtimeRuntime: not supported here, this kernel has no "
        r"cpu\.rt_runtime_us",
    ):
        cg.set({"cpu": {"realtimeRuntime": 100}}, default_devices=False)


def test_v1_set_before_create_says_so(root: Path) -> None:
    cg = v1(root)
    with pytest.raises(FailedPrecondition, match=r"pids\.limit: cgroup .* does not exist"):
        cg.set({"pids": {"limit": 3}}, default_devices=False)


def fail_writes(monkeypatch: pytest.MonkeyPatch, filename: str, code: int) -> None:
    real = driver_module.write_file

    def write(path: str, value: str) -> None:
        if path.endswith("/" + filename):
            raise OSError(code, os.strerror(code))
        real(path, value)

    monkeypatch.setattr(driver_module, "write_file", write)


def test_v1_memory_limit_below_usage_is_a_clear_error(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cg = v1(root)
    cg.create()
    touch(cg.paths["memory"], "memory.limit_in_bytes")
    touch(cg.paths["memory"], "memory.usage_in_bytes", text="52428800\n")
    fail_writes(monkeypatch, "memory.limit_in_bytes", errno.EBUSY)
    with pytest.raises(
        FailedPrecondition,
        match=r"^linux\.resources\.memory\.limit: 1048576 is below the current usage \(52428800 "
        r"bytes in memory\.usage_in_bytes\) of .*; failed to write 1048576 to "
        r".*/memory\.limit_in_bytes: Device or resource busy \(EBUSY\)$",
    ):
        cg.set({"memory": {"limit": 1 << 20}}, default_devices=False)


def test_v1_kernel_einval_is_an_invalid_argument_naming_the_field(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cg = v1(root)
    cg.create()
    touch(cg.paths["cpuset"], "cpuset.cpus")
    fail_writes(monkeypatch, "cpuset.cpus", errno.EINVAL)
    with pytest.raises(InvalidArgument) as info:
        cg.set({"cpu": {"cpus": "7-9"}}, default_devices=False)
    assert str(info.value) == (
        f"linux.resources.cpu.cpus: failed to write 7-9 to {cg.paths['cpuset']}/cpuset.cpus: "
        "Invalid argument (EINVAL)"
    )
    assert isinstance(info.value.__cause__, OSError)


def test_v1_freeze_thaw(root: Path) -> None:
    cg = v1(root)
    cg.create()
    touch(cg.paths["freezer"], "freezer.state", text="THAWED\n")
    assert not cg.frozen()
    cg.freeze()
    assert cg.frozen()
    cg.thaw()
    assert not cg.frozen()


def test_v1_without_freezer(root: Path) -> None:
    cg = v1(root, v1=("memory",))
    with pytest.raises(NotImplementedFeature, match="no freezer cgroup hierarchy"):
        cg.freeze()


def test_v1_oom_and_stats(root: Path) -> None:
    cg = v1(root)
    cg.create()
    p = cg.paths
    assert not cg.oom_killed()
    touch(p["memory"], "memory.oom_control", text="oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert cg.oom_killed()
    touch(p["memory"], "memory.usage_in_bytes", text="4096\n")
    touch(p["memory"], "memory.limit_in_bytes", text="9223372036854771712\n")
    touch(p["memory"], "memory.max_usage_in_bytes", text="8192\n")
    touch(p["memory"], "memory.stat", text="cache 1\nrss 2\n")
    touch(p["cpu,cpuacct"], "cpuacct.usage", text="123456789\n")
    touch(p["cpu,cpuacct"], "cpuacct.usage_percpu", text="123000000 456789 \n")
    touch(p["cpu,cpuacct"], "cpuacct.stat", text="user 3\nsystem 1\n")
    touch(p["cpu,cpuacct"], "cpu.stat", text="nr_periods 5\nnr_throttled 1\nthrottled_time 99\n")
    touch(p["pids"], "pids.current", text="3\n")
    touch(p["pids"], "pids.max", text="max\n")
    io = "8:0 Read 100\n8:0 Write 50\n8:0 Total 150\n8:16 Read 1\nTotal 151\n"
    touch(p["blkio"], "blkio.throttle.io_service_bytes_recursive", text=io)
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    assert cg.stats() == {
        "cpu": {
            "usage_ns": 123456789,
            "user_ns": 3 * tick,
            "system_ns": tick,
            "percpu": [123000000, 456789],
            "periods": 5,
            "throttled_periods": 1,
            "throttled_ns": 99,
        },
        "memory": {
            "usage": 4096,
            "limit": None,
            "max_usage": 8192,
            "failcnt": 0,
            "stat": {"cache": 1, "rss": 2},
        },
        "pids": {"current": 3, "limit": None},
        "blkio": {
            "read_bytes": 101,
            "write_bytes": 50,
            "entries": {  # the throttle files (no CFQ ones here), as runc lists them
                "ioServiceBytesRecursive": [
                    {"major": 8, "minor": 0, "op": "Read", "value": 100},
                    {"major": 8, "minor": 0, "op": "Write", "value": 50},
                    {"major": 8, "minor": 0, "op": "Total", "value": 150},
                    {"major": 8, "minor": 16, "op": "Read", "value": 1},
                ]
            },
        },
    }


def test_v1_stats_of_an_empty_cgroup_are_empty(root: Path) -> None:
    cg = v1(root)
    cg.create()
    assert cg.stats() == {}


# -- v2 ----------------------------------------------------------------------------------


def v2(root: Path, path: str = "/c1", controllers: str = "cpu memory pids io") -> Cgroup:
    root.mkdir(parents=True)
    touch(str(root), "cgroup.controllers", text=controllers + "\n")
    touch(str(root), "cgroup.subtree_control")
    return for_container(path, "c1", root=str(root), mountinfo=mountinfo(root, (), ""))


def test_v2_create_enables_the_controllers_on_the_way_down(root: Path) -> None:
    cg = v2(root)
    assert type(cg).__name__ == "V2Cgroup"
    cg.create()
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +memory +pids +io"
    assert remaining(cg) == [f"{root}/c1"]
    assert [h.name for h in cg.hierarchies()] == [""]


def test_v2_controllers_that_cannot_be_enabled_explain_later_failures(root: Path) -> None:
    cg = v2(root, "/a/c1")
    cg.create()  # root/a has no cgroup.subtree_control in the fake tree: enabling fails there
    with pytest.raises(NotImplementedFeature, match=r"memory cannot enable it in .*/a/cgroup"):
        cg.set({"memory": {"limit": 1 << 20}}, default_devices=False)


def test_v2_set(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cg = v2(root)
    cg.create()
    d = cg.paths[""]
    touch(d, "memory.max", "memory.swap.max", "cpu.weight", "cpu.max", "pids.max", "io.weight")
    attached: list[tuple[str, int]] = []
    monkeypatch.setattr(
        "wharfie.cgroups._bpf.attach_device_program",
        lambda path, insns: attached.append((path, len(insns))),
    )
    warnings = cg.set(
        {
            "memory": {"limit": 1 << 26, "swap": 1 << 27, "swappiness": 5},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000},
            "pids": {"limit": -1},
            "blockIO": {"weight": 500},
            "devices": [{"allow": False}, {"allow": True, "type": "c", "major": 1, "minor": 3}],
            "unified": {"memory.max": "max"},
        },
        default_devices=False,
    )
    assert warnings == [
        "linux.resources.memory.swappiness: ignored, there is no per-cgroup swappiness on v2"
    ]
    assert Path(d, "memory.swap.max").read_text() == str(1 << 26)
    assert Path(d, "memory.max").read_text() == "max"  # unified wins: written last
    assert Path(d, "cpu.weight").read_text() == "39"
    assert Path(d, "cpu.max").read_text() == "50000 100000"
    assert Path(d, "pids.max").read_text() == "max"
    assert Path(d, "io.weight").read_text() == "4950"
    assert attached == [(d, 13)]


def test_v2_always_gets_a_device_filter_by_default(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cg = v2(root)
    cg.create()
    attached: list[int] = []
    monkeypatch.setattr(
        "wharfie.cgroups._bpf.attach_device_program",
        lambda path, insns: attached.append(len(insns)),
    )
    cg.set({})
    assert attached == [64]  # runc's built-in allow list (see test_cgroups_bpf)
    cg.set({}, default_devices=False)
    assert attached == [64]


def test_v2_check_before_update(root: Path) -> None:
    cg = v2(root)
    cg.create()
    touch(cg.paths[""], "memory.max")
    touch(cg.paths[""], "memory.current", text="104857600\n")
    with pytest.raises(FailedPrecondition, match=r"memory\.limit: 52428800 is below the current"):
        cg.set({"memory": {"limit": 50 << 20, "checkBeforeUpdate": True}}, default_devices=False)
    cg.set(
        {"memory": {"limit": 50 << 20}}, default_devices=False
    )  # without the check the kernel decides


def test_v2_freeze_waits_for_the_events_file(root: Path) -> None:
    cg = v2(root)
    cg.create()
    d = cg.paths[""]
    touch(d, "cgroup.freeze")
    touch(d, "cgroup.events", text="populated 1\nfrozen 1\n")
    cg.freeze()
    assert Path(d, "cgroup.freeze").read_text() == "1"
    assert cg.frozen()
    with pytest.raises(Unavailable, match=r"was not thawed after 0\.05 s"):
        set_freeze(d, False, timeout=0.05)
    touch(d, "cgroup.events", text="populated 1\nfrozen 0\n")
    cg.thaw()
    assert not cg.frozen()


def test_v2_freeze_without_cgroup_freeze(root: Path) -> None:
    cg = v2(root)
    cg.create()
    with pytest.raises(NotImplementedFeature, match=r"no cgroup\.freeze"):
        cg.freeze()


def test_v2_oom_pids_stats(root: Path) -> None:
    cg = v2(root)
    cg.create()
    d = cg.paths[""]
    assert not cg.oom_killed()
    touch(d, "memory.events", text="low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cg.oom_killed()
    touch(d, "cgroup.procs", text="5\n6\n")
    assert cg.pids() == [5, 6]
    touch(d, "cpu.stat", text="usage_usec 10\nuser_usec 7\nsystem_usec 3\n")
    touch(d, "memory.current", text="4096\n")
    touch(d, "memory.max", text="8192\n")
    touch(d, "pids.current", text="2\n")
    touch(d, "pids.max", text="10\n")
    touch(d, "io.stat", text="8:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:16 rbytes=1 wbytes=0\n")
    stats = cg.stats()
    assert stats["cpu"]["usage_ns"] == 10_000
    assert stats["memory"] == {
        "usage": 4096,
        "limit": 8192,
        "max_usage": None,
        "failcnt": 3,  # memory.events "max": times the limit was hit
        "stat": {},
    }
    assert stats["pids"] == {"current": 2, "limit": 10}
    assert stats["blkio"] == {
        "read_bytes": 11,
        "write_bytes": 20,
        "entries": {
            "ioServiceBytesRecursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 10},
                {"major": 8, "minor": 0, "op": "Write", "value": 20},
                {"major": 8, "minor": 16, "op": "Read", "value": 1},
                {"major": 8, "minor": 16, "op": "Write", "value": 0},
            ],
            "ioServicedRecursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 1},
                {"major": 8, "minor": 0, "op": "Write", "value": 2},
            ],
        },
    }


# -- hybrid ------------------------------------------------------------------------------


def hybrid(root: Path, v1: tuple[str, ...] = V1_CONTROLLERS, held: str = "") -> Cgroup:
    make_v1_tree(root, v1)
    (root / "unified").mkdir()
    touch(str(root / "unified"), "cgroup.controllers", text=held + "\n")
    touch(str(root / "unified"), "cgroup.subtree_control")
    text = mountinfo(root, v1, "unified")
    return for_container("/c1", "c1", root=str(root), mountinfo=text)


def test_hybrid_has_a_unified_directory(root: Path) -> None:
    cg = hybrid(root)
    assert type(cg).__name__ == "HybridCgroup"
    cg.create()
    assert cg.paths[""] == f"{root}/unified/c1"
    assert os.path.isdir(cg.paths[""])
    assert (root / "unified" / "cgroup.subtree_control").read_text() == ""  # nothing to enable
    unified = cg.hierarchies()[-1]
    assert (unified.name, unified.fstype, unified.options) == ("unified", "cgroup2", "")
    cg.destroy()
    assert remaining(cg) == []


def test_hybrid_drives_unified_only_controllers_through_v2(root: Path) -> None:
    cg = hybrid(root, held="hugetlb")  # no v1 hugetlb mount: the kernel gives it to cgroup2
    cg.create()
    # enabled only once a limit needs it: crun refuses a hybrid host with controllers enabled
    assert (root / "unified" / "cgroup.subtree_control").read_text() == ""
    touch(cg.paths["pids"], "pids.max")
    assert cg.set({"pids": {"limit": 8}}, default_devices=False) == []
    assert (root / "unified" / "cgroup.subtree_control").read_text() == ""
    touch(cg.paths[""], "hugetlb.2MB.max")
    limits = [{"pageSize": "2MB", "limit": 1 << 21}]
    assert cg.set({"hugepageLimits": limits, "pids": {"limit": 9}}, default_devices=False) == []
    assert (root / "unified" / "cgroup.subtree_control").read_text() == "+hugetlb"
    assert Path(cg.paths[""], "hugetlb.2MB.max").read_text() == str(1 << 21)
    assert Path(cg.paths["pids"], "pids.max").read_text() == "9"
    cg.set({"unified": {"hugetlb.2MB.max": "max"}}, default_devices=False)
    assert Path(cg.paths[""], "hugetlb.2MB.max").read_text() == "max"


def test_hybrid_unified_keys_need_a_controller_held_there(root: Path) -> None:
    cg = hybrid(root, held="hugetlb")
    cg.create()
    message = (
        r"unified\.memory\.high: the memory controller is not in this host's unified cgroup "
        r"hierarchy \(it holds: hugetlb\)"
    )
    with pytest.raises(InvalidArgument, match=message):
        cg.set({"unified": {"memory.high": "1G"}}, default_devices=False)


def test_hybrid_without_v1_devices_uses_ebpf_on_unified(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cg = hybrid(root, v1=("memory",))
    cg.create()
    attached: list[str] = []
    monkeypatch.setattr(
        "wharfie.cgroups._bpf.attach_device_program",
        lambda path, insns: attached.append(path),
    )
    cg.set({"devices": [{"allow": False}]}, default_devices=False)
    assert attached == [cg.paths[""]]


def test_hybrid_without_v1_freezer_uses_cgroup_freeze(root: Path) -> None:
    cg = hybrid(root, v1=("memory",))
    cg.create()
    touch(cg.paths[""], "cgroup.freeze")
    touch(cg.paths[""], "cgroup.events", text="frozen 1\n")
    cg.freeze()
    assert cg.frozen()


def test_hybrid_from_paths(root: Path) -> None:
    cg = hybrid(root)
    again = from_paths(
        cg.paths, root=str(root), mountinfo=mountinfo(root, V1_CONTROLLERS, "unified")
    )
    assert type(again).__name__ == "HybridCgroup"
    assert again.hierarchies() == cg.hierarchies()


# -- import cost ---------------------------------------------------------------------------

HEAVY = ("re", "typing", "dataclasses", "logging", "subprocess", "ctypes", "json", "enum")
V2_ONLY = ("wharfie.cgroups._v2", "wharfie.cgroups._plan_v2")


def test_the_hybrid_start_path_imports_nothing_heavy_nor_v2(root: Path) -> None:
    cg = hybrid(root)
    cg.create()
    touch(cg.paths["pids"], "pids.max")
    touch(cg.paths["devices"], "devices.allow", "devices.deny")
    code = (
        "import sys\n"
        "from wharfie.cgroups import for_container\n"
        f"cg = for_container('/c1', 'c1', root={str(root)!r}, mountinfo={mountinfo(root, V1_CONTROLLERS, 'unified')!r})\n"  # noqa: E501
        "cg.set({'pids': {'limit': 3}})\n"
        f"print(sorted(m for m in {(*HEAVY, *V2_ONLY)!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
