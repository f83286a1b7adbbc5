"""The real peers the integration tests talk to: Debian's reference registry and a dockerd.

Both are started by the tests themselves, on loopback and on private directories, and
stopped by their PIDs; nothing relies on a peer a previous session left running.

    reg = ReferenceRegistry(tmp_path / "reg"); reg.start()     # http://127.0.0.1:<port>
    reg = ReferenceRegistry(tmp_path / "reg", htpasswd={"alice": "secret"}); reg.start()
    ...; reg.stop()

    with private_dockerd(tmp_path / "dockerd") as dockerd:      # DockerPeer
        dockerd.cli("load", "-i", archive)

A test skips, loudly and with the reason, when the binary is missing (setup.sh installs
both: docker-registry and docker.io).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"


class ReferenceRegistry:
    """Debian's `docker-registry` (distribution/distribution) on 127.0.0.1:<free port>."""

    def __init__(
        self, base: Path, htpasswd: dict[str, str] | None = None, port: int | None = None
    ) -> None:
        self.base = base
        self.port = port or free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.addr}"
        self.htpasswd = htpasswd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "registry.log"

    def _config(self) -> str:
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.base / 'storage'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {self.addr}",
        ]
        if self.htpasswd is not None:
            path = self.base / "htpasswd"
            path.write_text("".join(_htpasswd_line(u, p) + "\n" for u, p in self.htpasswd.items()))
            lines += ["auth:", "  htpasswd:", "    realm: wharfie-test", f"    path: {path}"]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        if not os.path.exists(REGISTRY):
            pytest.skip("Debian's docker-registry is not installed (scripts/setup.sh installs it)")
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "config.yml"
        config.write_text(self._config())
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [REGISTRY, "serve", str(config)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/v2/", timeout=1).close()
                return
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for credentials
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not answer in {timeout}s")

    def kill(self) -> None:
        """SIGKILL, for fault tests; start() again to restart on the same port and storage."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None


class DockerPeer:
    """A dockerd of our own: private data root, exec root, socket and bridge; no iptables
    rules (containers on its bridge reach the host's loopback services through the
    bridge address, and nothing beyond)."""

    _count = 0

    def __init__(self, base: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.base = base
        self.extra_args = extra_args  # e.g. ("--config-file", path)
        self.sock = base / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "dockerd.log"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKER_HOST": self.host,
            "DOCKER_CONFIG": str(self.base / "docker-config"),
        }

    def start(self) -> None:
        for exe in (DOCKERD, DOCKER):
            if not os.path.exists(exe):
                pytest.skip(f"{exe} is not installed (scripts/setup.sh installs docker.io)")
        self.base.mkdir(parents=True, exist_ok=True)
        # exec-root must be short: containerd's socket path lives under it (108-byte limit)
        tag = f"{os.getpid()}-{abs(hash(self.base)) % 10**6}"
        exec_root = self.exec_root = Path("/run") / f"wharfie-test-dockerd-{tag}"
        self._make_bridge()
        args = [
            DOCKERD,
            "-H",
            self.host,
            "--data-root",
            str(self.base / "data"),
            "--exec-root",
            str(exec_root),
            "--pidfile",
            str(self.base / "dockerd.pid"),
            "--bridge",
            self.bridge,
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--storage-driver",
            "overlay2",
            *self.extra_args,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._wait_ready()

    def _make_bridge(self) -> None:
        """A bridge of its own, made before dockerd starts and passed as --bridge. Not
        --bridge=none: with that, dockerd deletes any link named docker0 at start-up,
        which would take the benchmark peer's bridge away. Its /24 is one no interface on the
        host has yet: two bridges with one subnet send the peer's traffic to the wrong one."""
        DockerPeer._count += 1
        taken = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
        start = (os.getpid() * 3 + DockerPeer._count) % 250
        n = next(
            (k % 250 for k in range(start, start + 250) if f" 10.230.{k % 250}." not in taken),
            start,
        )
        self.bridge = f"wpd{os.getpid() % 100000}{DockerPeer._count}"[:15]
        for cmd in (
            ["link", "add", "name", self.bridge, "type", "bridge"],
            ["addr", "add", f"10.230.{n}.1/24", "dev", self.bridge],
            ["link", "set", self.bridge, "up"],
        ):
            subprocess.run(["ip", *cmd], check=True, capture_output=True)

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited: {self.log.read_text()[-2000:]}")
            if self.cli("version", timeout=10).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"dockerd did not answer in {timeout}s: {self.log.read_text()[-2000:]}")

    def cli(
        self, *args: str, input: bytes | None = None, timeout: float = 120, check: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [DOCKER, *args],
            input=input,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            check=check,
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        ids = self.cli("ps", "-aq").stdout.split()
        if ids:
            self.cli("rm", "-f", *[i.decode() for i in ids])
        _stop(self.proc, timeout=30)
        self.proc = None
        subprocess.run(["umount", "-R", "-l", str(self.base / "data")], capture_output=True)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


@contextmanager
def private_dockerd(base: Path) -> Iterator[DockerPeer]:
    peer = DockerPeer(base)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
