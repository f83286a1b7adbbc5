"""How a container is shown and stored: the inspect document, the `ps` row, and the
stored record, all rendered from the typed `Container` (one place for each shape)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from wharfie.engine import present

if TYPE_CHECKING:
    from wharfie.engine.model import Container

# inspect's keys before Name, in moby's order (the rest follows as the document has it)
_HEAD = ("Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath")


def _document(c: Container, state: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": state,
    }
    rest = c.doc
    for key in _HEAD:
        if key in rest:
            out[key] = rest[key]
    out["Name"] = "/" + c.name
    out["RestartCount"] = c.restart_count
    for key, value in rest.items():
        if key not in out:
            out[key] = value
    return out


def state_doc(c: Container) -> dict[str, Any]:
    """State as inspect shows it (with Health when the container has a health check)."""
    state = c.state.to_doc()
    if c.health is not None:
        state["Health"] = c.health.to_doc()
    return state


def inspect(c: Container) -> dict[str, Any]:
    """`GET /containers/{id}/json` (the route adds sizes and runtime warnings)."""
    return _document(c, state_doc(c))


def stored(c: Container) -> dict[str, Any]:
    """The record the store keeps: the document, with the engine's bookkeeping under
    "_w" (the shape every data root has had; `Container.from_stored` reads it back)."""
    priv: dict[str, Any] = {"runtime": c.runtime}
    if c.manual_stop is not None:
        priv["manual_stop"] = c.manual_stop
    if c.started_once:
        priv["started_once"] = True
    if c.restart_delay is not None:
        priv["restart_delay"] = c.restart_delay
    if c.health is not None:
        priv["health"] = c.health.to_doc()
    priv.update(c.private)
    doc = _document(c, c.state.to_doc())
    doc["_w"] = priv
    return doc


def status(c: Container, now: float | None = None) -> str:
    """The `docker ps` Status column."""
    return present.status_text(state_doc(c), time.time() if now is None else now)


def row(c: Container, ports: list[dict[str, Any]]) -> dict[str, Any]:
    """A container as `GET /containers/json` lists it (`ports`: net.modes.ps_ports)."""
    return {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.config.get("Image", ""),
        "ImageID": c.image_id,
        "Command": present.command_string(c.path, list(c.args)),
        "Created": int(present.parse_time(c.created)),
        "Ports": ports,
        "Labels": c.config.get("Labels") or {},
        "State": c.state.status,
        "Status": status(c),
        "HostConfig": {"NetworkMode": c.network_mode},
        "NetworkSettings": {"Networks": c.doc["NetworkSettings"]["Networks"]},
        "Mounts": c.doc.get("Mounts") or [],
    }


def inspect_reply(
    c: Container, sizes: tuple[int, int] | None, runtime_warnings: list[str]
) -> dict[str, Any]:
    """What `GET /containers/{id}/json` answers: the inspect document with moby's
    omitempty sizes (given with `size=1`), and the runtime's warnings if any."""
    doc = inspect(c)
    for key in ("SizeRw", "SizeRootFs"):  # omitempty in moby's types
        doc.pop(key, None)
    if doc.get("HostConfig", {}).get("Init", False) is None:
        doc["HostConfig"] = {k: v for k, v in doc["HostConfig"].items() if k != "Init"}
    if sizes is not None:
        doc["SizeRw"], doc["SizeRootFs"] = sizes
    if runtime_warnings:  # e.g. wharfie-vm without KVM: the container runs emulated
        doc["RuntimeWarnings"] = runtime_warnings
    return doc
