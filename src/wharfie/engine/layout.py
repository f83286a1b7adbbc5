"""Where a container's files are: its directory under the data root (writable layer,
logs, etc files), its bundle under the exec root (config.json, rootfs mount point), and
its network namespace file. The one place that knows the on-disk layout."""

from __future__ import annotations

import os


class Layout:
    def __init__(self, data_root: str, exec_root: str) -> None:
        self.data_root = data_root
        self.exec_root = exec_root

    def make_roots(self) -> None:
        for sub in ("containers",):
            os.makedirs(os.path.join(self.data_root, sub), mode=0o710, exist_ok=True)
        for sub in ("containers", "netns", "runtime"):
            os.makedirs(os.path.join(self.exec_root, sub), mode=0o711, exist_ok=True)

    def containers_root(self) -> str:
        return os.path.join(self.data_root, "containers")

    def bundles_root(self) -> str:
        return os.path.join(self.exec_root, "containers")

    def netns_root(self) -> str:
        return os.path.join(self.exec_root, "netns")

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.data_root, "containers", cid)

    def bundle_dir(self, cid: str) -> str:
        return os.path.join(self.exec_root, "containers", cid)

    def rootfs(self, cid: str) -> str:
        return os.path.join(self.exec_root, "containers", cid, "rootfs")

    def rootfs_mounted(self, cid: str) -> bool:
        return os.path.ismount(self.rootfs(cid))

    def upper_dir(self, cid: str) -> str:
        """The container's writable layer (what SizeRw counts)."""
        return os.path.join(self.data_root, "containers", cid, "rw", "upper")

    def netns_path(self, cid: str) -> str:
        return os.path.join(self.exec_root, "netns", cid)

    def monitor_socket(self) -> str:
        return os.path.join(self.exec_root, "monitor.sock")
