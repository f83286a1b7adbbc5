"""What a node keeps on its own disk about its swarm, in `<data-root>/swarm/`.

- `state.json`: node id, cluster id, role, addresses, the managers' control addresses and,
  on managers, the etcd endpoints and this node's member;
- `certificates/`: `swarm-root-ca.crt`, `swarm-node.crt`, `swarm-node.key` (the node's
  identity, from the root CA) and, on managers, `store-ca.crt`, `store-node.crt`,
  `store-node.key` (its etcd identity, from the store CA);
- `etcd/`: a manager's local etcd member (data, log, pid file).

Files are written to a temporary name and renamed; keys are 0600 and the directory 0700.

Private keys (`swarm-node.key`, `store-node.key`, `secrets.key`) are used from memory: once
read, each is held in an anonymous file (memfd) that the TLS code and the etcd member open as
`/proc/self/fd/<n>` (the member inherits the descriptor, and sees a renewed key written into
it). Their files on disk can then change form without disturbing a running member.
Autolock (a manager of a cluster with `AutoLockManagers`): those files are kept only sealed with
the cluster's unlock key (`<name>.sealed`, AES-256-GCM, the file name as associated data); a
manager that starts with sealed keys is locked until `swarm unlock` gives the key.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field

from wharfie.cluster import secrets
from wharfie.cluster.kv import TLSFiles
from wharfie.errors import InvalidArgument, Unavailable

KEY_FILES = ("swarm-node.key", "store-node.key", "secrets.key")
SEALED = ".sealed"


class InvalidUnlockKey(InvalidArgument):
    """The key does not open this node's sealed keys."""


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
        self.lock_key: bytes | None = None  # the unlock key the keys are sealed with
        self._held: dict[str, int] = {}  # key file name -> memfd holding it in the clear
        self._mu = threading.RLock()

    def _key_path(self, name: str) -> str:
        """The path to open a key at: its memfd, read from the clear file the first time;
        the clear file's path if there is none (absent, or sealed and still locked)."""
        with self._mu:
            fd = self._held.get(name)
            if fd is None:
                clear = self.path("certificates", name)
                try:
                    data = self.read(clear)
                except FileNotFoundError:
                    return clear
                fd = self._hold(name, data)
            return f"/proc/self/fd/{fd}"

    def held_fds(self) -> list[int]:
        """The descriptors a child that reads the keys (the etcd member) must inherit."""
        return list(self._held.values())

    def path(self, *parts: str) -> str:
        return os.path.join(self.dir, *parts)

    @property
    def identity(self) -> TLSFiles:
        return TLSFiles(
            self.path("certificates", "swarm-root-ca.crt"),
            self.path("certificates", "swarm-node.crt"),
            self._key_path("swarm-node.key"),
        )

    @property
    def store(self) -> TLSFiles:
        return TLSFiles(
            self.path("certificates", "store-ca.crt"),
            self.path("certificates", "store-node.crt"),
            self._key_path("store-node.key"),
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
        # swarm-node.crt -> swarm-node.key, store-node.crt -> store-node.key
        self._write_key(os.path.basename(files.cert)[: -len(".crt")] + ".key", key_pem)

    def write_secret_key(self, key: bytes) -> None:
        """The cluster's secrets key (managers only; never in etcd)."""
        os.makedirs(self.path("certificates"), mode=0o700, exist_ok=True)
        self._write_key("secrets.key", key)

    def secret_key(self) -> bytes:
        try:
            return self.read(self._key_path("secrets.key"))
        except FileNotFoundError:
            raise Unavailable("this node holds no secrets key (only managers do)") from None

    def drop_key(self, name: str) -> None:
        """Forget a key file (a demoted manager's store key and secrets key)."""
        with self._mu:
            fd = self._held.pop(name, None)
            if fd is not None:
                os.close(fd)
            for path in (self.path("certificates", name), self.path("certificates", name + SEALED)):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    # -- autolock --
    def sealed(self) -> bool:
        """Whether this node's keys are on disk sealed (it starts locked)."""
        return any(os.path.exists(self.path("certificates", n + SEALED)) for n in KEY_FILES)

    def unlock(self, key: bytes) -> None:
        """Open the sealed keys with `key` into memory; InvalidUnlockKey if it does not."""
        with self._mu:
            opened: dict[str, bytes] = {}
            for name in KEY_FILES:
                try:
                    sealed = self.read(self.path("certificates", name + SEALED))
                except FileNotFoundError:
                    continue
                try:
                    opened[name] = secrets.unseal(key, sealed, name.encode())
                except InvalidArgument:
                    raise InvalidUnlockKey(
                        "swarm could not be unlocked: invalid key provided"
                    ) from None
            for name, plain in opened.items():
                self._hold(name, plain)
            self.lock_key = key

    def seal(self, key: bytes | None) -> None:
        """Keep the keys sealed with `key` from now on (a new or rotated unlock key), or, with
        None, in the clear again (autolock turned off)."""
        with self._mu:
            if key == self.lock_key:
                return
            for name in KEY_FILES:
                clear = self.path("certificates", name)
                try:
                    plain = self.read(self._key_path(name))
                except FileNotFoundError:
                    continue
                if key is None:
                    _write(clear, plain, 0o600)
                    _unlink(clear + SEALED)
                else:
                    _write(clear + SEALED, secrets.seal(key, plain, name.encode()), 0o600)
                    _unlink(clear)
            self.lock_key = key

    def _hold(self, name: str, plain: bytes) -> int:
        """Put a key in its memfd (the same one when it already has one, so that a member
        holding the descriptor reads the new key)."""
        fd = self._held.get(name)
        if fd is None:
            fd = os.memfd_create(f"wharfie-{name}")  # close-on-exec: passed to a child by name
            self._held[name] = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, plain, 0)
        return fd

    def _write_key(self, name: str, data: bytes) -> None:
        with self._mu:
            if self.lock_key is None:
                _write(self.path("certificates", name), data, 0o600)
            else:
                sealed = secrets.seal(self.lock_key, data, name.encode())
                _write(self.path("certificates", name + SEALED), sealed, 0o600)
            self._hold(name, data)

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def remove(self) -> None:
        with self._mu:
            for fd in self._held.values():
                os.close(fd)
            self._held.clear()
            self.lock_key = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write(path: str, data: bytes, mode: int) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def replace_file(path: str, data: bytes) -> None:
    """Replace a certificate (world-readable) in one step."""
    _write(path, data, 0o644)
