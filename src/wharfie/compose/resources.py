"""Project-level objects through the Docker API: containers list, images, networks, volumes.

Every call goes through `wharfie.client` (the Docker Engine API is the contract):
GET /containers/json with a project label filter, GET/POST /images, /build,
/networks and /volumes. A daemon without /networks (404) is noted once and the
project falls back to the default bridge, with a warning.
"""

from __future__ import annotations

import os

from wharfie.client.api import APIError
from wharfie.compose import convert, plan
from wharfie.errors import FailedPrecondition, NotFound, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wharfie.client.api import Client


def project_containers(
    client: Client, project: str, oneoff: bool | None = False, all: bool = True
) -> list[dict[str, Any]]:
    labels = [f"{plan.PROJECT}={project}"]
    if oneoff is not None:
        labels.append(f"{plan.ONEOFF}={'True' if oneoff else 'False'}")
    rows = client.get_json("/containers/json", {"all": all, "filters": {"label": labels}})
    return list(rows or [])


def all_projects(client: Client) -> list[dict[str, Any]]:
    rows = client.get_json("/containers/json", {"all": True, "filters": {"label": [plan.PROJECT]}})
    return list(rows or [])


def split_ref(ref: str) -> tuple[str, str]:
    """("repo", "tag"); a digest stays in the repo part with an empty tag."""
    if "@" in ref:
        return ref, ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def image_id(client: Client, ref: str) -> str | None:
    try:
        doc = client.get_json(f"/images/{ref}/json")
    except APIError as exc:
        if exc.status == 404:
            return None
        raise
    return str(doc["Id"])


def pull(client: Client, ref: str, progress: Callable[[str], None]) -> None:
    repo, tag = split_ref(ref)
    query = {"fromImage": repo, "tag": tag or None}
    for msg in client.stream_lines("POST", "/images/create", query=query):
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("error") or (msg.get("errorDetail") or {}).get("message")
            raise Unavailable(f"pulling {ref}: {detail}")
        if msg.get("status") and not msg.get("progressDetail"):
            progress(f"{ref}: {msg['status']}")


def build(
    client: Client,
    service: str,
    svc: dict[str, Any],
    progress: Callable[[str], None],
    no_cache: bool = False,
    pull_base: bool = False,
) -> str:
    """POST /build with the context as a tar; returns the image id."""
    b = svc["build"]
    context = b["context"]
    if not os.path.isdir(context):
        raise NotFound(f"services.{service}.build.context: {context} is not a directory")
    query: dict[str, Any] = {
        "t": svc["image"],
        "dockerfile": b.get("dockerfile", "Dockerfile"),
        "target": b.get("target"),
        "nocache": no_cache or b.get("no_cache") or None,
        "pull": pull_base or b.get("pull") or None,
        "rm": True,
        "buildargs": {k: v for k, v in b.get("args", {}).items() if v is not None} or None,
        "labels": b.get("labels") or None,
    }
    from wharfie.client.buildcontext import context_tar

    body, query["dockerfile"] = context_tar(context, os.path.join(context, query["dockerfile"]))
    image: str | None = None
    lines = client.stream_lines(
        "POST", "/build", query=query, body=body, headers={"Content-Type": "application/x-tar"}
    )
    for msg in lines:
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("error") or (msg.get("errorDetail") or {}).get("message")
            raise FailedPrecondition(f"failed to build service {service}: {detail}")
        if msg.get("stream"):
            progress(msg["stream"].rstrip("\n"))
        aux = msg.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image = str(aux["ID"])
    return image or image_id(client, svc["image"]) or ""


def networks_supported(client: Client) -> bool:
    try:
        client.get_json("/networks", {"filters": {"name": ["wharfie-compose-probe"]}})
    except APIError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def ensure_network(
    client: Client, ctx: convert.Context, key: str, net: dict[str, Any]
) -> str | None:
    """Create the network if missing; returns "Created" or None (already there)."""
    name = net["name"]
    try:
        existing = client.get_json(f"/networks/{name}")
    except APIError as exc:
        if exc.status != 404:
            raise
        existing = None
    if existing is not None:
        return None
    if net.get("external"):
        raise NotFound(f"network {name} declared as external, but could not be found")
    client.post_json("/networks/create", convert.network_body(ctx, key, net))
    return "Created"


def ensure_volume(client: Client, ctx: convert.Context, key: str, vol: dict[str, Any]) -> bool:
    name = vol["name"]
    try:
        client.get_json(f"/volumes/{name}")
        return False
    except APIError as exc:
        if exc.status != 404:
            raise
    if vol.get("external"):
        raise NotFound(f'external volume "{name}" not found')
    client.post_json("/volumes/create", convert.volume_body(ctx, key, vol))
    return True


def remove_network(client: Client, name: str) -> bool:
    try:
        client.delete(f"/networks/{name}")
    except APIError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def remove_volume(client: Client, name: str) -> bool:
    try:
        client.delete(f"/volumes/{name}")
    except APIError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def connect(client: Client, network: str, cid: str, endpoint: dict[str, Any]) -> None:
    client.post_json(f"/networks/{network}/connect", {"Container": cid, "EndpointConfig": endpoint})
