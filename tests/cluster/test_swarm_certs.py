"""Certificate renewal: `--cert-expiry` is honoured (swarmkit's 1 hour minimum, in its words),
and nodes renew their certificates at 50-80 % of their life without losing their tasks.

The API refuses an expiry under an hour, so the short one this test needs (20 s) is written
into the cluster object in etcd directly, before the other nodes join: their first
certificates then expire within the test, and only renewals keep them in the cluster."""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import subprocess
import time

import pytest
from cryptography import x509

from support.cluster import NodeDaemon, Topology, cli, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed"),
    pytest.mark.slow,
    pytest.mark.full,
]

LIFE_S = 20


def etcd(node: NodeDaemon, path: str, body: dict[str, object]) -> dict[str, object]:
    """A call to the manager's etcd member, from its namespace, with its store identity."""
    certs = node.data / "swarm" / "certificates"
    out = subprocess.run(
        ["nsenter", f"--net=/run/netns/{node.netns}", "curl", "-sf", "--max-time", "10",
         "--cacert", str(certs / "store-ca.crt"), "--cert", str(certs / "store-node.crt"),
         "--key", str(certs / "store-node.key"), f"https://{node.addr}:2379{path}",
         "-X", "POST", "-d", json.dumps(body)],
        capture_output=True, check=True, timeout=20,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def set_expiry_in_store(node: NodeDaemon, cluster_id: str, ns: int) -> None:
    key = base64.b64encode(f"/wharfie/swarm/objects/cluster/{cluster_id}".encode()).decode()
    kvs = etcd(node, "/v3/kv/range", {"key": key})["kvs"]
    doc = json.loads(base64.b64decode(kvs[0]["value"]))  # type: ignore[index]
    doc["spec"]["node_cert_expiry_ns"] = ns
    value = base64.b64encode(json.dumps(doc).encode()).decode()
    etcd(node, "/v3/kv/put", {"key": key, "value": value})


def cert(node: NodeDaemon, name: str = "swarm-node.crt") -> x509.Certificate:
    return x509.load_pem_x509_certificate(
        (node.data / "swarm" / "certificates" / name).read_bytes()
    )


def test_cert_expiry_and_renewal(net: Topology) -> None:
    m0 = net.add_node(busybox=True)
    cli(m0, "swarm", "init", "--advertise-addr", m0.addr)
    err = cli(m0, "swarm", "update", "--cert-expiry", "30m", ok=False)
    assert (
        "rpc error: code = InvalidArgument desc = minimum certificate expiry time is: 1h0m0s" in err
    )
    cli(m0, "swarm", "update", "--cert-expiry", "2h")
    spec = json.loads(cli(m0, "info", "--format", "{{json .Swarm.Cluster.Spec}}"))
    assert spec["CAConfig"]["NodeCertExpiry"] == 2 * 3600 * 10**9
    cluster_id = json.loads(cli(m0, "info", "--format", "{{json .Swarm.Cluster.ID}}"))
    set_expiry_in_store(m0, cluster_id, LIFE_S * 10**9)

    remote = f"{m0.addr}:2377"
    m1, w = net.add_node(busybox=True), net.add_node(busybox=True)
    for node, role in ((m1, "manager"), (w, "worker")):
        token = cli(m0, "swarm", "join-token", "-q", role).strip()
        cli(node, "swarm", "join", "--advertise-addr", node.addr, "--token", token, remote)
    net.remember_etcd()
    first = {n.addr: cert(n) for n in (m1, w)}
    first_store = cert(m1, "store-node.crt")
    for c in [*first.values(), first_store]:
        life = c.not_valid_after_utc - c.not_valid_before_utc
        assert life < datetime.timedelta(minutes=6), life  # 20 s, back-dated 5 min
    cli(m0, "service", "create", "--detach", "--name", "web", "--replicas", "3",
        "--endpoint-mode", "dnsrr", "busybox", "sleep", "1000")  # fmt: skip

    def running() -> dict[str, str]:
        out = cli(m0, "service", "ps", "web", "--filter", "desired-state=running",
                  "--format", "{{.ID}} {{.CurrentState}}")  # fmt: skip
        return {line.split()[0]: line for line in out.splitlines()}

    wait_for(lambda: len(running()) == 3 and all("Running" in v for v in running().values()),
             60, "3 tasks running")  # fmt: skip
    tasks = set(running())
    # past the first certificates' expiry: only renewed ones keep the nodes in
    deadline = first[w.addr].not_valid_after_utc + datetime.timedelta(seconds=8)
    while datetime.datetime.now(datetime.UTC) < deadline:
        time.sleep(1)
    now = datetime.datetime.now(datetime.UTC)
    for node in (m1, w):
        renewed = cert(node)
        assert renewed.serial_number != first[node.addr].serial_number
        assert renewed.not_valid_after_utc > now
        assert renewed.public_key() == first[node.addr].public_key()  # the key is kept
    assert cert(m1, "store-node.crt").not_valid_after_utc > now
    out = cli(m1, "node", "ls", "--format", "{{.Hostname}} {{.Status}}")  # m1's store identity
    assert out.split().count("Ready") == 3, out
    statuses = cli(m0, "node", "ls", "--format", "{{.Status}}").split()
    assert statuses == ["Ready"] * 3, statuses
    assert set(running()) == tasks  # no task was lost or replaced
