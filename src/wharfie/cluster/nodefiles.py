"""What a node keeps on its own disk about its swarm, in `<data-root>/swarm/`.

- `state.json`: node id, cluster id, role, addresses, the managers' control addresses and,
  on managers, the etcd endpoints and this node's member;
- `certificates/`: `swarm-root-ca.crt`, `swarm-node.crt`, `swarm-node.key` (the node's
  identity, from the root CA) and, on managers, `store-ca.crt`, `store-node.crt`,
  `store-node.key` (its etcd identity, from the store CA);
- `etcd/`: a manager's local etcd member (data, log, pid file).

Files are written to a temporary name and renamed; keys are 0600 and the directory 0700.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field

from wharfie.cluster.kv import TLSFiles
from wharfie.errors import Unavailable


@dataclass
class LocalState:
    node_id: str
    cluster_id: str
    role: str  # "manager" | "worker"
    advertise_addr: str
    listen_addr: str  # the control endpoint, "<ip>:<port>"
    managers: list[str] = field(default_factory=list)  # control addresses "<ip>:<port>"
    etcd_endpoints: list[str] = field(default_factory=list)  # managers only
    member_name: str = ""
    member_client_url: str = ""
    member_peer_url: str = ""
    initial_cluster: dict[str, str] = field(default_factory=dict)


class NodeFiles:
    def __init__(self, data_root: str) -> None:
        self.dir = os.path.join(data_root, "swarm")

    def path(self, *parts: str) -> str:
        return os.path.join(self.dir, *parts)

    @property
    def identity(self) -> TLSFiles:
        return TLSFiles(
            self.path("certificates", "swarm-root-ca.crt"),
            self.path("certificates", "swarm-node.crt"),
            self.path("certificates", "swarm-node.key"),
        )

    @property
    def store(self) -> TLSFiles:
        return TLSFiles(
            self.path("certificates", "store-ca.crt"),
            self.path("certificates", "store-node.crt"),
            self.path("certificates", "store-node.key"),
        )

    def load(self) -> LocalState | None:
        try:
            with open(self.path("state.json")) as f:
                return LocalState(**json.load(f))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise Unavailable(
                f"swarm state {self.path('state.json')} is unreadable: {exc}"
            ) from exc

    def save(self, state: LocalState) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        _write(self.path("state.json"), json.dumps(asdict(state)).encode(), 0o600)

    def write_tls(self, files: TLSFiles, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> None:
        os.makedirs(self.path("certificates"), mode=0o700, exist_ok=True)
        _write(files.ca, ca_pem, 0o644)
        _write(files.cert, cert_pem, 0o644)
        _write(files.key, key_pem, 0o600)

    def write_secret_key(self, key: bytes) -> None:
        """The cluster's secrets key (managers only; never in etcd)."""
        os.makedirs(self.path("certificates"), mode=0o700, exist_ok=True)
        _write(self.path("certificates", "secrets.key"), key, 0o600)

    def secret_key(self) -> bytes:
        try:
            return self.read(self.path("certificates", "secrets.key"))
        except FileNotFoundError:
            raise Unavailable("this node holds no secrets key (only managers do)") from None

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _write(path: str, data: bytes, mode: int) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
