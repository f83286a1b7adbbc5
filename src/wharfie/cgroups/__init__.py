"""cgroup drivers (used by the runtime, and by the engine for stats): v1, v2 and the hybrid layout.

Contract (what the rest of the runtime relies on):

    cg = for_container(spec_cgroups_path, container_id)   # picks the driver for this host
    cg.create()              # make the directories (idempotent)
    cg.add_proc(pid)         # move a process in (every hierarchy)
    cg.set(resources)        # apply linux.resources (the raw spec dict); errors name the field
    cg.freeze(); cg.thaw(); cg.frozen()
    cg.pids()                # every pid in the container's cgroup
    cg.destroy()             # remove the directories (processes must be gone); idempotent
    cg.paths                 # {key: absolute dir}; JSON-serialisable, stored in state.json
    from_paths(paths)        # rebuild the same object from state.json (for delete after a crash)
    cg.hierarchies()         # what to mount at /sys/fs/cgroup inside the container

The driver never kills processes on its own: the runtime does that and then calls destroy().

Implementation notes (decided here, relied on by the runtime):

* `for_container(cgroups_path, container_id, *, root="/sys/fs/cgroup", mountinfo=None,
  self_cgroup=None)` -- the host layout comes from /proc/self/mountinfo, read once and
  cached per root (pass `mountinfo`/`self_cgroup` text to describe another host, e.g. a
  fake tree in tests). cgroupsPath follows runc's cgroupfs driver (see _paths): absolute
  -> below every hierarchy's mount; relative -> below our own cgroup (/proc/self/cgroup;
  its parent on pure v2); empty -> the container id, relative. A path escaping its
  root, or naming the root, is an InvalidArgument naming linux.cgroupsPath.
* `paths` keys are the hierarchies' mount options: "memory", "cpu,cpuacct",
  "name=systemd", and "" for the cgroup2 hierarchy (pure v2 or the hybrid "unified").
* `set(resources)` returns the list of warnings (also logged on the
  "wharfie.cgroups" logger): requests this host cannot honour that runc treats
  as best effort -- a blkio/io weight when the kernel has neither blkio.weight nor
  blkio.bfq.weight, hugetlb page sizes the kernel lacks, net_cls/net_prio/rdma without
  their hierarchy, swap without swap accounting, deprecated kernel memory limits. Any
  other failure raises: InvalidArgument naming the field for bad values (also EINVAL
  from the kernel), FailedPrecondition for a memory limit below the current usage,
  NotImplementedFeature for a required file or hierarchy the host lacks.
* `set(resources, *, default_devices=True)` applies linux.resources.devices followed by
  runc's built-in allowed devices, as runc 1.1 does (checked on this host): without any
  devices rule that is deny-all plus /dev/null, zero, full, random, urandom, tty, ptmx,
  pts/*, net/tun and mknod of anything; devices in linux.devices get no rule of their
  own. `default_devices=False` applies the spec's rules only (none: devices untouched).
* v2 device rules become an eBPF program (see _bpf) attached to the container's cgroup.
* `destroy()` removes only the container's own directory (and sub-cgroups made inside
  it), not parents created for a nested cgroupsPath -- like runc.
* `oom_killed()`: the memory controller recorded an OOM kill (v1 memory.oom_control or
  v2 memory.events "oom_kill" > 0); False when there is no memory controller.
* `stats()` -> {"cpu": {usage_ns, user_ns, system_ns, periods, throttled_periods,
  throttled_ns, percpu, percpu_kernel, percpu_user (v1)}, "memory": {usage, limit,
  max_usage, failcnt, stat}, "pids": {current, limit}, "blkio": {read_bytes,
  write_bytes, entries: {runc's blkio key: [{major, minor, op, value}]}}}; a section is
  missing when its files are; a limit of None means unlimited.
  `wharfie.runtime.admin.runc_stats` turns it into runc's `events --stats` data, which is
  what the engine reads.
"""

from __future__ import annotations

from ._base import DEFAULT_ROOT, Cgroup, Hierarchy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "DEFAULT_ROOT",
    "Cgroup",
    "Hierarchy",
    "default_device_rules",
    "for_container",
    "from_paths",
    "with_default_devices",
]


def _make(kind: str, hierarchies: list[Hierarchy]) -> Cgroup:
    if kind == "v2":
        from ._v2 import V2Cgroup

        return V2Cgroup(hierarchies)
    if kind == "hybrid":
        from ._hybrid import HybridCgroup

        return HybridCgroup(hierarchies)
    from ._v1 import V1Cgroup

    return V1Cgroup(hierarchies)


def for_container(
    cgroups_path: str | None,
    container_id: str,
    *,
    root: str = DEFAULT_ROOT,
    mountinfo: str | None = None,
    self_cgroup: str | None = None,
) -> Cgroup:
    """The container's cgroup on this host (nothing is created until `create()`)."""
    from ._mounts import host_layout, own_cgroups
    from ._paths import hierarchies_for, inner_path

    inner = inner_path(cgroups_path, container_id)
    layout = host_layout(root, mountinfo)
    own = None if inner.startswith("/") else own_cgroups(self_cgroup)
    return _make(layout.kind, hierarchies_for(layout, inner, own))


def from_paths(
    paths: Mapping[str, str], *, root: str = DEFAULT_ROOT, mountinfo: str | None = None
) -> Cgroup:
    """Rebuild a container's cgroup from its saved `paths` (e.g. to delete after a crash).

    Empty `paths` give a cgroup with no hierarchies: pids() is [], destroy() does nothing.
    """
    from ._mounts import host_layout
    from ._paths import hierarchies_from_paths

    layout = host_layout(root, mountinfo)
    hierarchies = hierarchies_from_paths(layout, paths)
    has_v2 = "" in paths
    kind = ("v2" if len(paths) == 1 else "hybrid") if has_v2 else "v1"
    return _make(kind, hierarchies)


def default_device_rules() -> list[dict[str, Any]]:
    """runc's built-in allowed devices, as linux.resources.devices entries."""
    from ._devices import default_device_rules as rules

    return rules()


def with_default_devices(resources: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of `resources` with runc's built-in device rules appended to its devices."""
    from ._devices import with_default_devices as add

    return add(resources)
