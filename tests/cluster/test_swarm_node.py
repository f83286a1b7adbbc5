"""Swarm membership of one wharfied node, driven by the real docker CLI and docker-py.

The node runs in its own network namespace (tests/support/cluster.py); `swarm init` starts its
etcd member on the node's address with mutual TLS. Shapes and wordings are dockerd's (captured
from dockerd 20.10's swarm: docs/wire/swarm-dockerd-20.10.txt).
"""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

from support.cluster import Topology, cli

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed"),
    pytest.mark.slow,
]


def test_init_inspect_tokens_and_leave(net: Topology) -> None:
    node = net.add_node()
    assert json.loads(cli(node, "info", "--format", "{{json .Swarm}}"))["LocalNodeState"] == (
        "inactive"
    )
    assert "not a swarm manager" in cli(node, "node", "ls", ok=False)

    out = cli(node, "swarm", "init", "--advertise-addr", node.addr)
    assert "Swarm initialized: current node" in out and "docker swarm join --token" in out
    net.remember_etcd()
    assert node.etcd_pids(), "swarm init started no etcd member"

    info = json.loads(cli(node, "info", "--format", "{{json .Swarm}}"))
    assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is True
    assert (info["NodeAddr"], info["Nodes"], info["Managers"]) == (node.addr, 1, 1)
    assert info["RemoteManagers"] == [{"NodeID": info["NodeID"], "Addr": f"{node.addr}:2377"}]

    rows = cli(
        node, "node", "ls", "--format", "{{.ID}} {{.Status}} {{.Availability}} {{.ManagerStatus}}"
    )
    assert rows.split() == [info["NodeID"], "Ready", "Active", "Leader"]

    worker = cli(node, "swarm", "join-token", "-q", "worker").strip()
    manager = cli(node, "swarm", "join-token", "-q", "manager").strip()
    assert worker.startswith("SWMTKN-1-") and manager.startswith("SWMTKN-1-")
    assert worker.split("-")[2] == manager.split("-")[2] and worker != manager
    cli(node, "swarm", "join-token", "--rotate", "worker")
    rotated = cli(node, "swarm", "join-token", "-q", "worker").strip()
    assert rotated != worker
    assert cli(node, "swarm", "join-token", "-q", "manager").strip() == manager

    err = cli(node, "swarm", "init", "--advertise-addr", node.addr, ok=False)
    assert "This node is already part of a swarm" in err

    err = cli(node, "swarm", "leave", ok=False)
    assert "Removing the last manager erases all current state of the swarm" in err
    assert "Node left the swarm." in cli(node, "swarm", "leave", "--force")
    assert not node.etcd_pids(), "the etcd member outlived swarm leave"
    assert not (node.data / "swarm").exists()
    assert json.loads(cli(node, "info", "--format", "{{json .Swarm}}"))["LocalNodeState"] == (
        "inactive"
    )
    assert "This node is not part of a swarm" in cli(node, "swarm", "leave", ok=False)


def test_swarm_survives_a_daemon_restart(net: Topology) -> None:
    node = net.add_node()
    cli(node, "swarm", "init", "--advertise-addr", node.addr)
    node_id = json.loads(cli(node, "info", "--format", "{{json .Swarm}}"))["NodeID"]
    cli(node, "node", "update", "--label-add", "zone=a", node_id)
    net.remember_etcd()
    node.stop(signal.SIGKILL)
    node.start()
    inspect = json.loads(cli(node, "node", "inspect", "self"))[0]
    assert inspect["ID"] == node_id and inspect["Spec"]["Labels"] == {"zone": "a"}
    assert inspect["Status"]["State"] == "ready"
    cli(node, "swarm", "leave", "--force")


def test_docker_py_swarm_and_node_calls(net: Topology) -> None:
    import docker

    node = net.add_node()
    client = docker.DockerClient(base_url=node.host, version="1.44")
    node_id = client.swarm.init(advertise_addr=node.addr)
    client.swarm.reload()
    assert client.swarm.attrs["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 5
    client.swarm.update(snapshot_interval=5000)
    client.swarm.reload()
    assert client.swarm.attrs["Spec"]["Raft"]["SnapshotInterval"] == 5000
    nodes = client.nodes.list(filters={"role": "manager"})
    assert [n.id for n in nodes] == [node_id]
    assert client.nodes.list(filters={"role": "worker"}) == []
    n = client.nodes.get(node_id)
    n.update({"Availability": "drain", "Role": "manager", "Labels": {"x": "1"}})
    n.reload()
    assert (n.attrs["Spec"]["Availability"], n.attrs["Spec"]["Labels"]) == ("drain", {"x": "1"})
    stale = dict(n.attrs)
    with pytest.raises(docker.errors.APIError) as e:  # a version that is no longer current
        client.api.update_node(node_id, stale["Version"]["Index"] - 1, stale["Spec"])
    assert e.value.status_code == 500 and "update out of sequence" in str(e.value)
    with pytest.raises(docker.errors.APIError) as e:
        client.api.remove_node(node_id)
    assert e.value.status_code == 400 and "is a cluster manager" in str(e.value)
    with pytest.raises(docker.errors.NotFound):
        client.nodes.get("nosuchnode")
    with pytest.raises(docker.errors.APIError) as e:  # not locked: moby's notLockedError
        client.api.unlock_swarm("SWMKEY-1-x")
    assert e.value.status_code == 409 and "swarm is not locked" in str(e.value)
    assert client.swarm.leave(force=True)


def test_bad_input_writes_nothing_and_strangers_get_nothing(net: Topology) -> None:
    import subprocess
    import sys

    node = net.add_node()
    cli(node, "swarm", "init", "--advertise-addr", node.addr)
    net.remember_etcd()
    for args, wording in (
        (["service", "create", "--name", "bad name!", "busybox"], "DNS name component"),
        (
            ["service", "create", "--name", "c", "--constraint", "node.role", "busybox"],
            "constraint",
        ),
        (["service", "create", "--name", "s", "--secret", "nosuch", "busybox"], "nosuch"),
        (["node", "update", "--availability", "sideways", "self"], "sideways"),
    ):
        assert wording in cli(node, *args, ok=False), args
    assert cli(node, "service", "ls", "-q") == ""
    certs = node.data / "swarm" / "certificates"
    probe = f"""
import json, ssl, http.client, sys
from wharfie.cluster.kv import EtcdKV, TLSFiles
kv = EtcdKV(['https://{node.addr}:2379'], TLSFiles('{certs}/store-ca.crt',
            '{certs}/store-node.crt', '{certs}/store-node.key'))
entries, _ = kv.range('/wharfie/swarm/')
objs = [e.key for e in entries if e.key.startswith('/wharfie/swarm/objects/')]
kinds = sorted({{k.split('/')[4] for k in objs}})
names = sorted(e.key for e in entries if '/names/' in e.key)
out = {{"kinds": kinds, "names": names}}
# the control endpoint: no certificate, no tasks
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
for path in ('/control/v1/assignments', '/control/v1/heartbeat'):
    c = http.client.HTTPSConnection('{node.addr}', 2377, context=ctx, timeout=10)
    c.request('POST', path, body=b'{{}}', headers={{'Content-Type': 'application/json'}})
    out[path] = c.getresponse().status
# the store: a worker's kind of certificate (root CA) is refused by etcd
from wharfie.cluster.kv import StoreUnavailable
try:
    EtcdKV(['https://{node.addr}:2379'], TLSFiles('{certs}/store-ca.crt',
           '{certs}/swarm-node.crt', '{certs}/swarm-node.key'), timeout=3).get('/x')
    out["root-cert"] = "read"
except StoreUnavailable:
    out["root-cert"] = "refused"
print(json.dumps(out))
"""
    p = subprocess.run(
        [*node.command_prefix, sys.executable, "-c", probe], capture_output=True, env=node.env
    )
    assert p.returncode == 0, p.stderr.decode()
    out = json.loads(p.stdout)
    # the ingress network is made by the leader after init, as dockerd makes it
    assert out["kinds"] == ["cluster", "network", "node"]
    assert out["names"] == ["/wharfie/swarm/names/network/ingress"]
    assert out["/control/v1/assignments"] == 401 and out["/control/v1/heartbeat"] == 401
    assert out["root-cert"] == "refused"
