"""A node's keys at rest: held in memfds, sealed with the unlock key (autolock)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wharfie.cluster.nodefiles import InvalidUnlockKey, NodeFiles

KEY, OTHER = b"k" * 32, b"o" * 32


def setup(tmp_path: Path) -> NodeFiles:
    f = NodeFiles(str(tmp_path))
    f.write_tls(f.identity, b"ca", b"cert", b"node key")
    f.write_tls(f.store, b"store ca", b"store cert", b"store key")
    f.write_secret_key(b"secrets")
    return f


def certs(tmp_path: Path) -> dict[str, bytes]:
    d = tmp_path / "swarm" / "certificates"
    return {p.name: p.read_bytes() for p in d.iterdir()}


def test_keys_are_used_from_memory(tmp_path: Path) -> None:
    f = setup(tmp_path)
    assert f.identity.key.startswith("/proc/self/fd/")
    assert f.read(f.identity.key) == b"node key" and f.secret_key() == b"secrets"
    assert len(f.held_fds()) == 3
    f.write_secret_key(b"new")  # into the same memfd: a child holding it sees the new key
    assert f.secret_key() == b"new" and len(f.held_fds()) == 3


def test_sealed_keys_need_the_unlock_key(tmp_path: Path) -> None:
    f = setup(tmp_path)
    f.seal(KEY)
    files = certs(tmp_path)
    assert {"swarm-node.key", "store-node.key", "secrets.key"}.isdisjoint(files)
    assert b"node key" not in files["swarm-node.key.sealed"]
    assert f.secret_key() == b"secrets"  # still open in this process

    restarted = NodeFiles(str(tmp_path))
    assert restarted.sealed()
    assert not os.path.exists(restarted.identity.key)  # locked: nothing to open
    with pytest.raises(InvalidUnlockKey, match="invalid key provided"):
        restarted.unlock(OTHER)
    restarted.unlock(KEY)
    assert restarted.read(restarted.store.key) == b"store key"
    assert restarted.secret_key() == b"secrets"

    restarted.seal(OTHER)  # rotation
    with pytest.raises(InvalidUnlockKey):
        NodeFiles(str(tmp_path)).unlock(KEY)
    restarted.seal(None)  # autolock off
    again = NodeFiles(str(tmp_path))
    assert not again.sealed() and again.secret_key() == b"secrets"
    assert certs(tmp_path)["swarm-node.key"] == b"node key"


def test_remove_forgets_everything(tmp_path: Path) -> None:
    f = setup(tmp_path)
    fds = f.held_fds()
    f.remove()
    assert f.held_fds() == [] and not (tmp_path / "swarm").exists()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
