"""Images made by a build: a new layer from a directory, or a new config on the same
layers, through the image store's layer and image primitives (store_layer,
parent_layers, add_image): `commit` would apply docker commit's config rules instead.
"""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any

from wharfie.errors import NotFound
from wharfie.images.present import rfc3339
from wharfie.images.store import ImageRecord, ImageStore
from wharfie.images.tarstream import tree

Layers = list[tuple[str, str, int, bool]]


def now() -> str:
    return rfc3339(time.time())


def image_config(
    base: dict[str, Any],
    cfg: dict[str, Any],
    diff_ids: list[str],
    history: list[dict[str, Any]],
    author: str,
) -> dict[str, Any]:
    """An image config of its own (nothing shared with the build state, which goes on
    changing: the store keeps this dict as the image's record)."""
    out: dict[str, Any] = {
        "architecture": base.get("architecture") or _arch(),
        "config": copy.deepcopy(cfg),
        "created": history[-1]["created"] if history else now(),
        "history": copy.deepcopy(history),
        "os": base.get("os") or "linux",
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
    }
    if base.get("variant"):
        out["variant"] = base["variant"]
    if author:
        out["author"] = author
    return out


def _arch() -> str:
    from wharfie.images.layers import host_arch

    return host_arch()


def parent_layers(store: ImageStore, parent: ImageRecord | None) -> Layers:
    return store.parent_layers(parent)


def add_layer(store: ImageStore, parent: ImageRecord | None, upper: str) -> tuple[str, Layers]:
    """Store the tar of the upper dir `upper` on top of `parent`: (diff id, all layers)."""
    parent_chain = parent.chain_ids[-1] if parent and parent.diff_ids else ""
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with store.content.writer() as writer:
            for chunk in tree(fd, ".", "", whiteouts=True):
                writer.write(chunk)
            diff_id, chain, new_layer, size = store.store_layer(writer, parent_chain)
    finally:
        os.close(fd)
    return diff_id, [*parent_layers(store, parent), (chain, diff_id, size, new_layer)]


def make_image(
    store: ImageStore, config: dict[str, Any], parent: str, layers: Layers
) -> ImageRecord:
    """The image of a build step on `parent` (an image id, "" for scratch). As moby's classic
    builder (dispatchState.updateRunConfig, Engine 20.10 and 25 alike), its Config.Image
    names the image the step ran on."""
    config["config"] = {**(config.get("config") or {}), "Image": parent}
    raw = json.dumps(config, separators=(",", ":")).encode()
    from wharfie.content import digest_of

    image_id = digest_of(raw)
    try:
        return store.get(image_id)  # the same step made the same image before
    except NotFound:
        pass
    return store.add_image(config, parent, layers, time.time(), None)
