"""A container's root filesystem: the overlay of its image's layers (under dockerd's
"-init" layer) and its writable layer, mounted at the bundle's rootfs while it runs or
while something reads it (archive, export)."""

from __future__ import annotations

import os
from typing import Protocol

from wharfie import snapshots
from wharfie.engine.containerfs import init_layer
from wharfie.engine.paths import Paths
from wharfie.images import ImageRecord


class LayerDirs(Protocol):
    def layer_dirs(self, image: ImageRecord) -> list[str]: ...


class RootfsMounts:
    def __init__(self, *, paths: Paths, images: LayerDirs) -> None:
        self.paths = paths
        self.images = images

    def mount(self, cid: str, image: ImageRecord) -> str:
        """Mount (if not yet) and return the rootfs path."""
        rootfs = self.paths.rootfs(cid)
        os.makedirs(rootfs, mode=0o755, exist_ok=True)
        if not os.path.ismount(rootfs):
            upper, work = snapshots.prepare_rw(self.paths.container_dir(cid))
            lowers = [init_layer(self.paths.data_root)]  # dockerd's "-init" layer
            lowers += self.images.layer_dirs(image)
            snapshots.mount(snapshots.overlay(lowers, upper, work), rootfs)
        return rootfs

    def unmount(self, cid: str) -> None:
        rootfs = self.paths.rootfs(cid)
        if os.path.ismount(rootfs):
            snapshots.unmount(rootfs)
