"""`GET /containers/json` and container sizes: the list with its filters, and what a
container's writable layer (and image) take on disk."""

from __future__ import annotations

import os
from typing import Any, Protocol

from wharfie.engine import filters, present, present_container
from wharfie.engine.index import ContainerIndex
from wharfie.engine.model import Container
from wharfie.engine.net.modes import ps_ports
from wharfie.engine.paths import Paths
from wharfie.errors import NotFound
from wharfie.images import ImageRecord


class ImageSizes(Protocol):
    def resolve(self, ref: str) -> ImageRecord: ...


class VolumeFilter(Protocol):
    def container_matches(self, c: Container, values: list[str]) -> bool: ...


class ContainerListing:
    def __init__(
        self, *, index: ContainerIndex, images: ImageSizes, volumes: VolumeFilter, paths: Paths
    ) -> None:
        self.index = index
        self.images = images
        self.volumes = volumes
        self.paths = paths

    def row(self, c: Container) -> dict[str, Any]:
        """A container as `GET /containers/json` lists it."""
        return present_container.row(c, ps_ports(c))

    def list(self, all_: bool, limit: int, raw_filters: str, size: bool) -> list[dict[str, Any]]:
        f = filters.parse(raw_filters)
        cs = sorted(self.index.all(), key=lambda c: c.created, reverse=True)
        if not all_ and limit <= 0 and "status" not in f:
            cs = [c for c in cs if c.running]
        rows = []
        for c in cs:
            if f and not filters.match_container(f, view(c)):
                continue
            if "volume" in f and not self.volumes.container_matches(c, f["volume"]):
                continue
            row = self.row(c)
            if size:
                rw, root = self.sizes(c)
                # moby's list type has `SizeRw int64 json:",omitempty"`: 0 is left out
                row.update({"SizeRw": rw} if rw else {})
                row["SizeRootFs"] = root
            rows.append(row)
            if limit > 0 and len(rows) >= limit:
                break
        return rows

    def rw_size(self, c: Container) -> int:
        """Bytes in the container's writable layer (SizeRw)."""
        return dir_size(self.paths.rw_upper(c.id))

    def sizes(self, c: Container) -> tuple[int, int]:
        """(SizeRw, SizeRootFs): the writable layer, and it plus the image's layers."""
        rw = self.rw_size(c)
        try:
            return rw, rw + int(self.images.resolve(c.image_id).size)
        except NotFound:
            return rw, rw


def view(c: Container) -> filters.ContainerView:
    """What the list filters look at."""
    return filters.ContainerView(
        id=c.id,
        names=[c.name],
        image=str(c.config.get("Image", "")),
        image_id=c.image_id,
        labels=c.config.get("Labels") or {},
        state=c.state.status,
        exit_code=c.state.exit_code,
        created=present.parse_time(c.created),
        ancestor_ids={c.image_id},
        networks={
            name: str((ep or {}).get("NetworkID") or "")
            for name, ep in (c.doc.get("NetworkSettings", {}).get("Networks") or {}).items()
        },
    )


def dir_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total
