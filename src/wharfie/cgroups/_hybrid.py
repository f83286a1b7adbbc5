"""The hybrid driver: v1 controllers plus a directory in the cgroup2 (unified) hierarchy.

Controllers are used through v1. The container also joins the unified hierarchy (as runc
does), and a controller that no v1 hierarchy claims but the unified one holds (hugetlb
when nobody mounted it as v1, say) is driven there with v2 semantics instead of being
refused. Devices fall back to the eBPF filter on the unified directory when no v1
devices hierarchy is mounted; freezing falls back to cgroup.freeze without a v1 freezer.
`linux.resources.unified` keys are accepted for controllers the unified hierarchy holds.
"""

from __future__ import annotations

from wharfie.errors import InvalidArgument

from ._driver import effective_resources
from ._fs import read_optional
from ._v1 import V1Cgroup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._base import Hierarchy, Plan

# The v1 controllers each linux.resources section needs.
SECTION_CONTROLLERS = {
    "memory": ("memory",),
    "cpu": ("cpu", "cpuset"),
    "pids": ("pids",),
    "blockIO": ("blkio",),
    "hugepageLimits": ("hugetlb",),
    "rdma": ("rdma",),
}
V1_TO_V2 = {"blkio": "io"}  # v1 controllers whose v2 counterpart has another name

# The v2 modules are imported only when the unified hierarchy has work to do, which on
# most hybrid hosts (an empty cgroup2 at unified) is never: they are not on the start path.


class HybridCgroup(V1Cgroup):
    kind = "hybrid"

    def __init__(self, hierarchies: list[Hierarchy]) -> None:
        super().__init__(hierarchies)
        self._unified = next(h for h in hierarchies if h.fstype == "cgroup2")
        self._held: frozenset[str] | None = None

    def unified_controllers(self) -> frozenset[str]:
        """Controllers available in the unified hierarchy (read once from its root)."""
        if self._held is None:
            text = read_optional(self._unified.mountpoint + "/cgroup.controllers") or ""
            self._held = frozenset(text.split())
        return self._held

    def create(self) -> None:
        super().create()
        # Controllers are enabled in the unified hierarchy only when a limit needs one
        # (`set`): a hybrid host whose cgroup2 has controllers enabled is one crun refuses
        # to run on ("cgroups in hybrid mode not supported"), and runc enables none.
        self._mkdir(self._unified.path)

    def _v2_sections(self, res: dict[str, Any]) -> tuple[str, ...]:
        """Sections whose v1 controllers are all missing but the unified hierarchy has."""
        held = self.unified_controllers()
        if not held:
            return ()
        out = []
        for key, controllers in SECTION_CONTROLLERS.items():
            if key not in res or any(c in self._by_controller for c in controllers):
                continue
            if any(V1_TO_V2.get(c, c) in held for c in controllers):
                out.append(key)
        return tuple(out)

    def set(self, resources: dict[str, Any], *, default_devices: bool = True) -> list[str]:
        """Apply linux.resources through v1, or v2 for what only the unified hierarchy has."""
        res = effective_resources(resources, default_devices)
        v2_keys = self._v2_sections(res) + (("unified",) if res.get("unified") else ())
        bpf_devices = "devices" in res and "devices" not in self._by_controller
        skip = (*v2_keys, "devices") if bpf_devices else v2_keys
        v1_res = {k: v for k, v in res.items() if k not in skip}
        from ._plan_v1 import plan_v1

        plan = plan_v1(v1_res, current_memory_limit=self._current_memory_limit(v1_res))
        v2_plan = self._v2_plan(res, v2_keys)
        if bpf_devices:
            from ._v2 import apply_devices_v2

            apply_devices_v2(self._unified.path, res["devices"])
        warnings = self._apply(plan, self._by_controller.get)
        if v2_plan is not None:
            from ._v2 import enable_controllers

            needed = frozenset(w.controller for w in v2_plan.writes if w.controller != "cgroup")
            enable_controllers(self._unified, needed)
            warnings += self._apply(v2_plan, lambda controller: self._unified.path)
        return warnings

    def _v2_plan(self, res: dict[str, Any], keys: tuple[str, ...]) -> Plan | None:
        if not keys:
            return None
        from ._plan_v2 import plan_v2

        plan = plan_v2(res, sections=keys)
        self._check_unified(plan)
        return plan

    def _check_unified(self, plan: Plan) -> None:
        held = self.unified_controllers()
        for w in plan.writes:
            if w.controller != "cgroup" and w.controller not in held:
                raise InvalidArgument(
                    f"{w.field}: the {w.controller} controller is not in this host's unified "
                    f"cgroup hierarchy (it holds: {' '.join(sorted(held)) or 'none'})"
                )

    def freeze(self) -> None:
        if "freezer" in self._by_controller:
            super().freeze()
        else:
            from ._v2 import set_freeze

            set_freeze(self._unified.path, True)

    def thaw(self) -> None:
        if "freezer" in self._by_controller:
            super().thaw()
        else:
            from ._v2 import set_freeze

            set_freeze(self._unified.path, False)

    def frozen(self) -> bool:
        if "freezer" in self._by_controller:
            return super().frozen()
        from ._v2 import is_frozen

        return is_frozen(self._unified.path)

    def oom_killed(self) -> bool:
        if "memory" in self._by_controller:
            return super().oom_killed()
        from ._v2 import oom_killed_v2

        return oom_killed_v2(self._unified.path)
