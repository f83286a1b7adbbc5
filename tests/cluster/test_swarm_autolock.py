"""Autolock: `swarm update --autolock` seals a manager's keys at rest with the unlock key;
after a restart the manager is locked (dockerd's 503 wording) until `swarm unlock`; wrong keys
are refused as dockerd refuses them (captured from Docker 20.10's swarm); `unlock-key --rotate`
and `--autolock=false`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal

import pytest

from support.cluster import NodeDaemon, Topology, cli, wait_for
from support.daemon import docker_cli

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed"),
    pytest.mark.slow,
]

LOCKED = (
    'Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker '
    'swarm unlock" to unlock it.'
)
KEY = re.compile(r"SWMKEY-1-[A-Za-z0-9+/]{43}")


def swarm_info(node: NodeDaemon) -> dict[str, object]:
    return dict(json.loads(cli(node, "info", "--format", "{{json .Swarm}}")))


def unlock(node: NodeDaemon, key: str) -> tuple[int, str]:
    p = docker_cli(node, "swarm", "unlock", input=(key + "\n").encode())
    return p.returncode, p.stderr.decode()


def certificates(node: NodeDaemon) -> dict[str, bytes]:
    d = node.data / "swarm" / "certificates"
    return {p.name: p.read_bytes() for p in d.iterdir()}


def test_autolock_seals_keys_and_locks_a_restarted_manager(net: Topology) -> None:
    node = net.add_node(busybox=True)
    cli(node, "swarm", "init", "--advertise-addr", node.addr)
    assert "no unlock key is set" in cli(node, "swarm", "unlock-key", ok=False)
    assert "swarm is not locked" in cli(node, "swarm", "unlock", ok=False)
    clear = certificates(node)
    assert {"swarm-node.key", "store-node.key", "secrets.key"} <= set(clear)

    out = cli(node, "swarm", "update", "--autolock=true")
    key = KEY.search(out)
    assert key, out
    assert cli(node, "swarm", "unlock-key", "-q").strip() == key.group(0)
    sealed = certificates(node)
    for name in ("swarm-node.key", "store-node.key", "secrets.key"):
        assert name not in sealed and name + ".sealed" in sealed
        assert clear[name] not in sealed[name + ".sealed"]
    assert not any(b"PRIVATE KEY" in v for v in sealed.values())
    cli(node, "service", "create", "--detach", "--name", "web", "--replicas", "2", "busybox",
        "sleep", "1000")  # fmt: skip

    net.remember_etcd()
    node.stop(signal.SIGKILL)
    node.start()
    info = swarm_info(node)
    assert (info["LocalNodeState"], info["NodeID"], info["Error"]) == ("locked", "", LOCKED)
    assert LOCKED in cli(node, "service", "ls", ok=False)
    assert LOCKED in cli(node, "node", "ls", ok=False)
    assert "Swarm is encrypted and locked. Please unlock it first" in cli(
        node, "swarm", "leave", ok=False
    )
    code, err = unlock(node, "SWMKEY-1-" + "A" * 43)
    assert code != 0 and "swarm could not be unlocked: invalid key provided" in err
    code, err = unlock(node, "not-a-key")
    assert code != 0 and "invalid key string" in err
    assert swarm_info(node)["LocalNodeState"] == "locked"
    assert unlock(node, key.group(0)) == (0, "")
    assert swarm_info(node)["LocalNodeState"] == "active"
    wait_for(
        lambda: cli(node, "service", "ls", "--format", "{{.Replicas}}").strip() == "2/2",
        60,
        "the service runs after the unlock",
    )

    out = cli(node, "swarm", "unlock-key", "--rotate")
    rotated = KEY.search(out)
    assert rotated and rotated.group(0) != key.group(0), out
    node.stop(signal.SIGKILL)
    node.start()
    assert swarm_info(node)["LocalNodeState"] == "locked"
    assert "invalid key provided" in unlock(node, key.group(0))[1]
    assert unlock(node, rotated.group(0)) == (0, "")

    cli(node, "swarm", "update", "--autolock=false")
    assert "no unlock key is set" in cli(node, "swarm", "unlock-key", ok=False)
    files = certificates(node)
    assert {"swarm-node.key", "store-node.key", "secrets.key"} <= set(files)
    assert not any(n.endswith(".sealed") for n in files)
    node.stop(signal.SIGKILL)
    node.start()
    assert swarm_info(node)["LocalNodeState"] == "active"
    cli(node, "swarm", "leave", "--force")
