"""Our registry as a real process, for the registry tests and the wharfied ones.

reg = OurRegistry(tmp_path / "reg"); reg.start()   # http://127.0.0.1:<port>
reg.kill(); reg.start()                             # kill -9 and restart, same port/root
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OurRegistry:
    def __init__(
        self,
        base: Path,
        config: str | None = None,
        tls: tuple[str, str] | None = None,
        port: int | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.base = base
        self.root = base / "root"
        self.port = port or free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://{self.addr}"
        self.config = config
        self.tls = tls
        self.extra = extra or []
        self.log = base / "registry.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "wharfie.cli",
            "registry",
            "serve",
            "--addr",
            self.addr,
            "--root",
            str(self.root),
            "--access-log",
            str(self.base / "access.log"),
        ]
        if self.config is not None:
            cfg = self.base / "config.yml"
            cfg.write_text(self.config)
            args += ["--config", str(cfg)]
        if self.tls:
            args += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        args += self.extra
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        import ssl

        ctx = ssl._create_unverified_context()
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1, context=ctx).close()
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError(f"registry did not answer in {timeout}s")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def access_log(self) -> list[dict[str, object]]:
        path = self.base / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]
