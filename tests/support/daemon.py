"""A real wharfied for integration tests: temporary data root, exec root, socket and bridge.

Each pytest-xdist worker starts its own daemon (own monitor, own bridge device and
subnet), imports one busybox image made offline from Debian's busybox-static, and
at the end removes every container, stops the daemon and the monitor by PID,
deletes the bridge, and checks that no mount is left under its directories.

`WHARFIE_TEST_RUNTIME` (the variable that picks the runtime of tests/runtime) also picks
the test daemons' container runtime: unset or "wharfie" is wharfie-runtime, "runc" and
"crun" start wharfied with `--default-runtime runc|crun`, and a path adds that binary as
runtime "custom" and makes it the default. `daemon_runtime()` says which one is in use,
for the tests whose subject is a difference between runtimes.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from support.bundle import busybox_rootfs

SRC = Path(__file__).resolve().parents[2] / "src"
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
RUNTIME_ENV = "WHARFIE_TEST_RUNTIME"


def daemon_runtime() -> str:
    """The test daemons' default runtime: "wharfie-runtime", "runc", "crun" or "custom"."""
    value = os.environ.get(RUNTIME_ENV, "").strip()
    if value in ("", "wharfie", "wharfie-runtime"):
        return "wharfie-runtime"
    return value if value in ("runc", "crun") else "custom"


def runtime_args() -> tuple[str, ...]:
    """wharfied flags that make the runtime chosen by WHARFIE_TEST_RUNTIME the default."""
    name = daemon_runtime()
    if name == "wharfie-runtime":
        return ()
    if name == "custom":
        path = os.environ[RUNTIME_ENV].strip()
        return ("--add-runtime", f"custom={path}", "--default-runtime", "custom")
    return ("--default-runtime", name)


def runtime_config() -> dict[str, Any]:
    """The same as `runtime_args()`, as daemon.json keys."""
    name = daemon_runtime()
    if name == "wharfie-runtime":
        return {}
    if name == "custom":
        path = os.environ[RUNTIME_ENV].strip()
        return {"runtimes": {"custom": {"path": path}}, "default-runtime": "custom"}
    return {"default-runtime": name}


def busybox_tar(workdir: Path) -> bytes:
    rootfs = busybox_rootfs(workdir / "busybox-rootfs")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name)
    return buf.getvalue()


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p.startswith(str(path))]


class Daemon:
    def __init__(self, base: Path, index: int, extra_args: tuple[str, ...] = ()) -> None:
        self.base = base
        self.extra_args = extra_args
        self.data = base / "data"
        self.exec_root = base / "exec"
        self.sock = base / "w.sock"
        self.host = f"unix://{self.sock}"
        tag = f"{os.getpid() % 100000:05d}{index}"
        self.bridge = f"wt{tag}"[:15]
        self.subnet = f"10.214.{(os.getpid() * 7 + index) % 250}.0/24"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "wharfied.log"
        self.command_prefix: list[str] = []  # e.g. nsenter into a node's network namespace

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKER_HOST": self.host,
            "WHARFIE_HOST": self.host,
            "PYTHONPATH": str(SRC),
        }

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        args = [
            *self.command_prefix,
            sys.executable,
            "-m",
            "wharfie.daemon",
            "-H",
            self.host,
            "--data-root",
            str(self.data),
            "--exec-root",
            str(self.exec_root),
            "--bridge",
            self.bridge,
            "--bip",
            self.subnet,
            "--no-masquerade",
            "--pidfile",
            str(self.base / "wharfied.pid"),
            "--log-level",
            "debug",
            # Tests reach only loopback: a missing image must not send wharfied to Docker Hub.
            "--blocked-registry",
            "docker.io",
            *runtime_args(),
            *self.extra_args,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"wharfied exited: {self.log.read_text()[-3000:]}")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(self.sock))
                    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                    if s.recv(100).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"wharfied did not answer in {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def monitor_pid(self) -> int:
        """The pid in monitor.pid if that process is still this daemon's monitor, else 0
        (pids wrap quickly here: a stale pid file may name some other process by now)."""
        try:
            pid = int((self.exec_root / "monitor.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return 0
        ours = b"wharfie.monitor" in cmdline and str(self.exec_root).encode() in cmdline
        return pid if ours else 0

    def teardown(self) -> list[str]:
        """Remove everything; returns what leaked (mounts) for the caller to assert on."""
        if self.proc is not None:
            try:
                import docker

                client = docker.APIClient(base_url=self.host, timeout=60)
                for c in client.containers(all=True):
                    client.remove_container(c["Id"], force=True)
                client.prune_networks()  # user networks: their bridges and nft rules
            except Exception as exc:  # report, then clean up by force anyway
                print(f"teardown: removing containers failed: {exc}", file=sys.stderr)
            self.stop()
        from support.monitor_pids import kill_monitor

        kill_monitor(self.exec_root)
        leaked = _mounts_under(self.base)
        for point in reversed(leaked):
            subprocess.run(["umount", "-l", point], check=False)
        from wharfie.network import Bridge

        try:
            Bridge(self.bridge, self.subnet).remove()
        except Exception as exc:
            print(f"teardown: removing bridge {self.bridge} failed: {exc}", file=sys.stderr)
        return leaked


def docker_cli(
    d: Daemon, *args: str, input: bytes | None = None, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[bytes]:
    if not os.path.exists(DOCKER):
        pytest.skip("the docker CLI is not installed")
    env = {**d.env, "DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": str(d.base / "docker-config")}
    return subprocess.run(
        [DOCKER, *args], input=input, capture_output=True, env=env, timeout=timeout, check=check
    )


def wharfie_cli(
    d: Daemon, *args: str, input: bytes | None = None, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[bytes]:
    exe = Path(sys.executable).parent / "wharfie"
    return subprocess.run(
        [str(exe), *args], input=input, capture_output=True, env=d.env, timeout=timeout, check=check
    )


def sleeper(d: Daemon, name: str) -> str:
    """A detached `sleep 300` named `name`; returns its id."""
    p = docker_cli(d, "run", "-d", "--name", name, "busybox", "sleep", "300")
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().strip()
