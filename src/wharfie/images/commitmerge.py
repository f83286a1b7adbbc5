"""moby's commit `merge` (daemon/commit.go, the same in Engine 20.10 and 25), pure: the
Config of a committed image, where the request's (or the container's) Config leaves a gap,
takes the container's."""

from __future__ import annotations

import copy
from typing import Any


def merge(user: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """`user` completed from `container` (both container Configs, API field names)."""
    out = copy.deepcopy(user)
    if not out.get("User"):
        out["User"] = container.get("User") or ""
    ports = dict(out.get("ExposedPorts") or {})
    if not ports:
        out["ExposedPorts"] = copy.deepcopy(container.get("ExposedPorts"))
    else:
        for port in container.get("ExposedPorts") or {}:
            ports.setdefault(port, {})
        out["ExposedPorts"] = ports
    env = list(out.get("Env") or [])
    if not env:
        out["Env"] = list(container.get("Env") or []) or out.get("Env")
    else:
        keys = {e.partition("=")[0] for e in env}
        out["Env"] = env + [
            e for e in container.get("Env") or [] if e.partition("=")[0] not in keys
        ]
    labels = dict(out.get("Labels") or {})
    for key, value in (container.get("Labels") or {}).items():
        labels.setdefault(key, value)
    out["Labels"] = labels
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = copy.deepcopy(container.get("Cmd"))
            if "ArgsEscaped" in container:
                out["ArgsEscaped"] = container["ArgsEscaped"]
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = copy.deepcopy(container.get("Entrypoint"))
    if container.get("Healthcheck"):
        out["Healthcheck"] = _health(out.get("Healthcheck"), container["Healthcheck"])
    if not out.get("WorkingDir"):
        out["WorkingDir"] = container.get("WorkingDir") or ""
    volumes = dict(out.get("Volumes") or {})
    if not volumes:
        out["Volumes"] = copy.deepcopy(container.get("Volumes"))
    else:
        for path in container.get("Volumes") or {}:
            volumes.setdefault(path, {})
        out["Volumes"] = volumes
    if not out.get("StopSignal") and container.get("StopSignal"):
        out["StopSignal"] = container["StopSignal"]
    for key in OMITEMPTY:  # container.Config's `json:",omitempty"` fields
        if key in out and not out[key]:
            del out[key]
    return out


OMITEMPTY = (
    "ArgsEscaped",
    "Healthcheck",
    "NetworkDisabled",
    "MacAddress",
    "StopSignal",
    "StopTimeout",
    "Shell",
)


def _health(user: dict[str, Any] | None, image: dict[str, Any]) -> dict[str, Any]:
    if not user:
        return copy.deepcopy(image)
    out = dict(user)
    if not out.get("Test"):
        out["Test"] = image.get("Test")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        if not out.get(key):
            out[key] = image.get(key, 0)
    return out
