"""Translations of linux.resources sections that look the same on cgroup v1 and v2."""

from __future__ import annotations

from ._base import Plan
from ._spec import RES, integer, invalid, items, obj, section, show, string, unsigned

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def plan_pids(res: dict[str, Any], plan: Plan) -> None:
    """pids.limit -> pids.max; 0 leaves it alone, negative means "max" (as runc)."""
    pids = section(res, "pids", RES)
    if pids is None:
        return
    limit = integer(pids, "limit", f"{RES}.pids")
    if not limit:
        return
    plan.add("pids", "pids.max", "max" if limit < 0 else str(limit), f"{RES}.pids.limit")


def plan_hugetlb(res: dict[str, Any], plan: Plan, suffix: str) -> None:
    """hugepageLimits -> hugetlb.<size>.<suffix>; a size the kernel lacks is refused at write
    time, a host without the hugetlb controller gets a warning."""
    for i, entry in enumerate(items(res, "hugepageLimits", RES)):
        field = f"{RES}.hugepageLimits[{i}]"
        entry = obj(entry, field)
        size = string(entry, "pageSize", field)
        num = (size or "").rstrip("KMGTPB")
        if not num.isdigit() or (size or "")[len(num) :] not in ("KB", "MB", "GB", "TB", "PB"):
            raise invalid(f"{field}.pageSize", f'must look like "2MB", got {show(size)}')
        limit = unsigned(entry, "limit", field)
        if limit is None:
            raise invalid(f"{field}.limit", "is required")
        plan.add("hugetlb", f"hugetlb.{size}.{suffix}", str(limit), field, "hugetlb")


def plan_rdma(res: dict[str, Any], plan: Plan) -> None:
    """rdma -> rdma.max "<dev> hca_handle=N hca_object=M" (best effort)."""
    rdma = section(res, "rdma", RES)
    for name in sorted(rdma or {}):
        field = f"{RES}.rdma.{name}"
        if not name or " " in name or "\n" in name:
            raise invalid(field, "invalid device name")
        entry = obj(rdma[name], field)  # type: ignore[index]
        parts = [name]
        handles = unsigned(entry, "hcaHandles", field, 0xFFFFFFFF)
        objects = unsigned(entry, "hcaObjects", field, 0xFFFFFFFF)
        if handles is not None:
            parts.append(f"hca_handle={handles}")
        if objects is not None:
            parts.append(f"hca_object={objects}")
        if len(parts) > 1:
            plan.add("rdma", "rdma.max", " ".join(parts), field, "warn")
