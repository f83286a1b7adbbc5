"""Where a container's files live: one small typed record instead of the engine's config.

`data_root` holds what survives a reboot (the container's directory: its writable layer,
logs, /etc files); `exec_root` what does not (the runtime bundle, the network namespace).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Paths:
    data_root: str
    exec_root: str

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.data_root, "containers", cid)

    def bundle_dir(self, cid: str) -> str:
        return os.path.join(self.exec_root, "containers", cid)

    def netns_path(self, cid: str) -> str:
        return os.path.join(self.exec_root, "netns", cid)

    def rw_upper(self, cid: str) -> str:
        """The container's writable layer (overlay upper dir)."""
        return os.path.join(self.container_dir(cid), "rw", "upper")

    # -- the container lifecycle's (start-up, rootfs, recovery) --
    def make_roots(self) -> None:
        os.makedirs(self.containers_root(), mode=0o710, exist_ok=True)
        for sub in ("containers", "netns", "runtime"):
            os.makedirs(os.path.join(self.exec_root, sub), mode=0o711, exist_ok=True)

    def containers_root(self) -> str:
        return os.path.join(self.data_root, "containers")

    def bundles_root(self) -> str:
        return os.path.join(self.exec_root, "containers")

    def netns_root(self) -> str:
        return os.path.join(self.exec_root, "netns")

    def rootfs(self, cid: str) -> str:
        return os.path.join(self.bundle_dir(cid), "rootfs")

    def rootfs_mounted(self, cid: str) -> bool:
        return os.path.ismount(self.rootfs(cid))

    def monitor_socket(self) -> str:
        return os.path.join(self.exec_root, "monitor.sock")
