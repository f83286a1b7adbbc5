"""Real-time CPU time for containers (cgroup v1 `cpu.rt_period_us` / `cpu.rt_runtime_us`).

The kernel gives a cgroup's tasks real-time time only within its parent's budget, and a
new cgroup starts with none. As dockerd (`initCPURtController`), before a container that
asks for `--cpu-rt-runtime`/`--cpu-rt-period` starts, the daemon's own `--cpu-rt-period`
and `--cpu-rt-runtime` are written into every ancestor of its cgroup, from the top; the
container's values are then written by the runtime (a runtime above the parent's budget is
the kernel's EINVAL, as with dockerd). Without cgroup v1's cpu controller with
CONFIG_RT_GROUP_SCHED (pure cgroup v2, most kernels) creating such a container is refused.
"""

from __future__ import annotations

import os
from typing import Any

from wharfie.errors import InvalidArgument, Unavailable

V1_CPU = "/sys/fs/cgroup/cpu"


def supported(root: str = V1_CPU) -> bool:
    """Whether this host can give real-time time to a cgroup (v1 cpu with RT groups)."""
    return os.path.exists(os.path.join(root, "cpu.rt_runtime_us"))


def check(host_config: dict[str, Any], root: str = V1_CPU) -> None:
    """Engine 25's checks at create (400)."""
    period = int(host_config.get("CpuRealtimePeriod") or 0)
    runtime = int(host_config.get("CpuRealtimeRuntime") or 0)
    if (period or runtime) and not supported(root):
        raise InvalidArgument("Your kernel does not support CPU real-time scheduler")
    if period and runtime and runtime > period:
        raise InvalidArgument("cpu real-time runtime cannot be higher than cpu real-time period")


def prepare_parents(
    cgroups_path: str,
    host_config: dict[str, Any],
    period: int,
    runtime: int,
    root: str = V1_CPU,
) -> None:
    """Write the daemon's budget into the ancestors of `cgroups_path` (top first), if the
    container asks for real-time time and the daemon has a budget to give."""
    if not (host_config.get("CpuRealtimePeriod") or host_config.get("CpuRealtimeRuntime")):
        return
    if not (period or runtime) or not supported(root):
        return
    parts = [p for p in cgroups_path.strip("/").split("/")[:-1] if p]
    path = root
    for part in parts:
        path = os.path.join(path, part)
        os.makedirs(path, mode=0o755, exist_ok=True)
        for name, value in (("cpu.rt_period_us", period), ("cpu.rt_runtime_us", runtime)):
            if value:
                _write(os.path.join(path, name), value)


def _write(path: str, value: int) -> None:
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as e:
        raise Unavailable(
            f"cannot set the daemon's real-time budget: write {value} to {path}: {e.strerror}"
        ) from e
