"""engine/rtsched.py on a fake cgroup tree (a temp directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharfie.engine import rtsched
from wharfie.errors import InvalidArgument


def test_refused_without_rt_groups(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"^Your kernel does not support CPU real-time"):
        rtsched.check({"CpuRealtimeRuntime": 1000}, root=str(tmp_path))
    rtsched.check({}, root=str(tmp_path))  # nothing asked, nothing checked


def test_runtime_above_period(tmp_path: Path) -> None:
    (tmp_path / "cpu.rt_runtime_us").write_text("950000")
    with pytest.raises(InvalidArgument, match="cannot be higher than cpu real-time period"):
        rtsched.check({"CpuRealtimeRuntime": 2000, "CpuRealtimePeriod": 1000}, root=str(tmp_path))
    rtsched.check({"CpuRealtimeRuntime": 2000}, root=str(tmp_path))


def test_budget_written_top_down_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "cpu.rt_runtime_us").write_text("950000")
    rtsched.prepare_parents("/a/b/cid", {}, 1000000, 100000, root=str(tmp_path))
    assert not (tmp_path / "a").exists()
    rtsched.prepare_parents("/a/b/cid", {"CpuRealtimeRuntime": 5}, 0, 0, root=str(tmp_path))
    assert not (tmp_path / "a").exists()
    rtsched.prepare_parents(
        "/a/b/cid", {"CpuRealtimeRuntime": 5}, 1000000, 100000, root=str(tmp_path)
    )
    for d in (tmp_path / "a", tmp_path / "a" / "b"):
        assert (d / "cpu.rt_period_us").read_text() == "1000000"
        assert (d / "cpu.rt_runtime_us").read_text() == "100000"
    assert not (tmp_path / "a" / "b" / "cid").exists()  # the runtime makes the container's
