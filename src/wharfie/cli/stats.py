"""docker stats' numbers, computed from one /containers/{id}/stats document."""

from __future__ import annotations

from wharfie.cli.units import bytes_size, human_size
from wharfie.statsmath import block_io, cpu_percent, mem_percent, mem_usage, net_io

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class StatsRow:
    """One line of `docker stats`; attributes are the --format fields."""

    def __init__(self, container: str, s: dict[str, Any], name: str = "") -> None:
        self.Container = container
        self.Name = (name or s.get("name") or "").lstrip("/")
        self.ID = (s.get("id") or container)[:12]
        usage = mem_usage(s)
        limit = float((s.get("memory_stats") or {}).get("limit") or 0)
        self.CPUPerc = f"{cpu_percent(s):.2f}%"
        self.MemUsage = f"{bytes_size(usage)} / {bytes_size(limit)}"
        self.MemPerc = f"{mem_percent(usage, limit):.2f}%"
        rx, tx = net_io(s)
        self.NetIO = f"{human_size(rx, 3)} / {human_size(tx, 3)}"
        r, w = block_io(s)
        self.BlockIO = f"{human_size(r, 3)} / {human_size(w, 3)}"
        self.PIDs = str((s.get("pids_stats") or {}).get("current") or 0)

    def as_dict(self) -> dict[str, str]:
        keys = ("BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO")
        return {k: getattr(self, k) for k in keys} | {"PIDs": self.PIDs}
