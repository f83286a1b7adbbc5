"""A manager's local etcd member: its command line, its process, and membership changes.

Each manager's wharfied runs one etcd member under its data root (`<data-root>/swarm/etcd`),
listening only on the node's advertise address, with mutual TLS from the cluster CA for both
clients and peers: a peer or client without a certificate the CA signed is refused by etcd
itself. The first manager starts a new cluster; a manager that joins is added with `member add`
by an existing member and then starts with `initial-cluster-state existing`.

The member runs in its own session, so a daemon crash does not take the store with it; the pid
file lets a restarted daemon find and keep it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Literal

from wharfie.cluster.kv import TLSFiles
from wharfie.errors import Unavailable

ETCD_BINARY = "etcd"


@dataclass(frozen=True)
class MemberConfig:
    name: str  # the node id
    data_dir: str
    client_url: str  # https://<advertise-addr>:<port>
    peer_url: str  # https://<advertise-addr>:<port>
    tls: TLSFiles
    initial_cluster: dict[str, str]  # member name -> peer URL, this one included
    state: Literal["new", "existing"]
    cluster_token: str  # the cluster id: members of another cluster are refused
    heartbeat_ms: int = 100
    election_ms: int = 1000


def command(cfg: MemberConfig, binary: str = ETCD_BINARY) -> list[str]:
    """etcd's command line for `cfg` (pure)."""
    cluster = ",".join(f"{name}={url}" for name, url in sorted(cfg.initial_cluster.items()))
    return [
        binary,
        f"--name={cfg.name}",
        f"--data-dir={cfg.data_dir}",
        f"--listen-client-urls={cfg.client_url}",
        f"--advertise-client-urls={cfg.client_url}",
        f"--listen-peer-urls={cfg.peer_url}",
        f"--initial-advertise-peer-urls={cfg.peer_url}",
        f"--initial-cluster={cluster}",
        f"--initial-cluster-state={cfg.state}",
        f"--initial-cluster-token={cfg.cluster_token}",
        "--client-cert-auth",
        f"--trusted-ca-file={cfg.tls.ca}",
        f"--cert-file={cfg.tls.cert}",
        f"--key-file={cfg.tls.key}",
        "--peer-client-cert-auth",
        f"--peer-trusted-ca-file={cfg.tls.ca}",
        f"--peer-cert-file={cfg.tls.cert}",
        f"--peer-key-file={cfg.tls.key}",
        f"--heartbeat-interval={cfg.heartbeat_ms}",
        f"--election-timeout={cfg.election_ms}",
        "--auto-compaction-mode=revision",
        "--auto-compaction-retention=1000",
        "--logger=zap",
        "--log-outputs=stderr",
    ]


class EtcdMember:
    """The process of one local member. `start` returns once it serves clients."""

    def __init__(
        self,
        cfg: MemberConfig,
        run_dir: str,
        binary: str = ETCD_BINARY,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        self.cfg = cfg
        self._pass_fds = pass_fds  # keys held in memory (autolock), named /proc/self/fd/<n>
        self._binary = binary
        self._pid_file = os.path.join(run_dir, "etcd.pid")
        self._log_file = os.path.join(run_dir, "etcd.log")
        self.pid = 0

    def start(self, ready_timeout: float = 30.0) -> None:
        self.start_process()
        self.wait_ready(ready_timeout)

    def start_process(self) -> None:
        """Start (or find, after a daemon restart) the member's process; it may not serve yet:
        the members of a new cluster serve only once a quorum of them runs."""
        existing = _live_pid(self._pid_file)
        if existing:
            self.pid = existing
        else:
            os.makedirs(self.cfg.data_dir, mode=0o700, exist_ok=True)
            with open(self._log_file, "ab") as log:
                proc = subprocess.Popen(
                    command(self.cfg, self._binary),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    pass_fds=self._pass_fds,
                )
            self.pid = proc.pid
            _write_pid(self._pid_file, proc.pid)

    def wait_ready(self, timeout: float) -> None:
        import ssl
        import urllib.request

        ctx = ssl.create_default_context(cafile=self.cfg.tls.ca)
        ctx.load_cert_chain(self.cfg.tls.cert, self.cfg.tls.key)
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not _alive(self.pid):
                raise Unavailable(f"etcd exited during start-up: {self._tail()}")
            try:
                with urllib.request.urlopen(
                    self.cfg.client_url + "/health", context=ctx, timeout=2
                ) as resp:
                    if b'"true"' in resp.read():
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise Unavailable(f"etcd did not become healthy in {timeout:.0f}s: {last}; {self._tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; waits until the process is gone."""
        pid = self.pid or _live_pid(self._pid_file)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.02)
        self.pid = 0
        try:
            os.unlink(self._pid_file)
        except FileNotFoundError:
            pass

    def _tail(self) -> str:
        try:
            with open(self._log_file, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 600))
                return f.read().decode(errors="replace").strip().splitlines()[-1]
        except (OSError, IndexError):
            return "(no log)"


def _write_pid(path: str, pid: int) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def _live_pid(path: str) -> int:
    """The pid in `path` if that process is alive and is etcd."""
    try:
        with open(path) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/comm") as f:
            return pid if f.read().strip() == "etcd" else 0
    except (OSError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def parse_members(out: dict[str, Any]) -> dict[str, tuple[int, list[str]]]:
    """etcd's member list answer as {name: (id, peer URLs)} (unnamed: not started yet)."""
    members: dict[str, tuple[int, list[str]]] = {}
    for m in out.get("members") or []:
        members[str(m.get("name", ""))] = (int(m["ID"]), list(m.get("peerURLs") or []))
    return members
