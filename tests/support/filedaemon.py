"""A test wharfied whose every option comes from its daemon.json (`--config-file` only)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from support.daemon import Daemon, runtime_config


class FileDaemon(Daemon):
    """`start(extra)`: the usual test options (private roots, socket, bridge, no masquerade,
    docker.io blocked) plus `extra`, all written to <base>/daemon.json."""

    def start(self, extra: dict[str, Any] | None = None) -> None:  # type: ignore[override]
        self.base.mkdir(parents=True, exist_ok=True)
        self.config: dict[str, Any] = {
            "hosts": [self.host],
            "data-root": str(self.data),
            "exec-root": str(self.exec_root),
            "bridge": self.bridge,
            "bip": self.subnet.replace(".0/24", ".1/24"),
            "ip-masq": False,
            "pidfile": str(self.base / "wharfied.pid"),
            "debug": True,
            "blocked-registries": ["docker.io"],
            **runtime_config(),
            **(extra or {}),
        }
        path = self.base / "daemon.json"
        path.write_text(json.dumps(self.config))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wharfie.daemon", "--config-file", str(path)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self.wait_ready()
