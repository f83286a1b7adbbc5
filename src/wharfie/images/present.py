"""Docker API shapes of images (pure): summary, inspect, history; time formats."""

from __future__ import annotations

from typing import Any

from wharfie.times import format_nano as rfc3339_ns
from wharfie.times import parse as parse_rfc3339

__all__ = [
    "CONFIG_DEFAULTS",
    "container_config",
    "history_rows",
    "inspect",
    "parse_rfc3339",
    "rfc3339",
    "rfc3339_ns",
    "short_id",
    "summary",
]

CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


def rfc3339(ts: float) -> str:
    """Go's RFC3339Nano in UTC for seconds since the epoch."""
    return rfc3339_ns(round(ts * 1e9))


def short_id(image_id: str) -> str:
    return image_id.partition(":")[2][:12] if ":" in image_id else image_id[:12]


def container_config(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(CONFIG_DEFAULTS)
    out.update(config.get("config") or {})
    return out


def summary(rec: Any, containers: int = -1) -> dict[str, Any]:
    labels = (rec.config.get("config") or {}).get("Labels") or {}
    return {
        "Id": rec.id,
        "ParentId": rec.parent,
        "RepoTags": list(rec.repo_tags),
        "RepoDigests": list(rec.repo_digests),
        "Created": int(rec.created),
        "Size": rec.size,
        "SharedSize": -1,
        "Labels": dict(labels),
        "Containers": containers,
    }


def inspect(rec: Any, graph: dict[str, str], last_tag_time: str) -> dict[str, Any]:
    cfg = rec.config
    history = cfg.get("history") or []
    return {
        "Id": rec.id,
        "RepoTags": list(rec.repo_tags),
        "RepoDigests": list(rec.repo_digests),
        "Parent": rec.parent,
        "Comment": history[-1].get("comment", "") if history else "",
        "Created": cfg.get("created") or rfc3339(rec.created),
        "Container": cfg.get("container", ""),
        "ContainerConfig": container_config({}),
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": container_config(cfg),
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Size": rec.size,
        "GraphDriver": {"Name": "overlay2", "Data": graph},
        "RootFS": {"Type": "layers", "Layers": list(rec.diff_ids)},
        "Metadata": {"LastTagTime": last_tag_time or "0001-01-01T00:00:00Z"},
    }


def history_rows(config: dict[str, Any], layer_sizes: list[int]) -> list[dict[str, Any]]:
    """Docker's history rows, newest first, Id "<missing>" (the caller fills known ids)."""
    rows: list[dict[str, Any]] = []
    sizes = iter(layer_sizes)
    for h in config.get("history") or []:
        size = 0 if h.get("empty_layer") else next(sizes, 0)
        created = h.get("created")
        rows.append(
            {
                "Id": "<missing>",
                "Created": int(parse_rfc3339(created)) if created else 0,
                "CreatedBy": h.get("created_by", ""),
                "Tags": None,
                "Size": size,
                "Comment": h.get("comment", ""),
            }
        )
    rows.reverse()
    return rows
