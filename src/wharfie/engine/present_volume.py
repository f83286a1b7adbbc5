"""A volume as the API shows it (`GET /volumes`, `GET /volumes/{name}`, `system df`),
rendered from its record (`wharfie.volumes.Volume`)."""

from __future__ import annotations

from typing import Any

from wharfie.volumes import Volume


def volume(v: Volume, driver: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """moby's volume.Volume; `usage` ({Size, RefCount}) only where `system df` asks."""
    out: dict[str, Any] = {
        "CreatedAt": v.created_at,
        "Driver": driver,
        "Labels": v.labels or None,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": v.options or None,
        "Scope": "local",
    }
    if usage is not None:
        out["UsageData"] = usage
    return out
