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
