"""`--cluster-store etcd://...`: managers keep the swarm's state in an etcd the user runs (here
in the hub namespace, mutual TLS with a CA of the test's own) and start no member of their own.
A manager that joins must be set up with the same store; the last manager's forced leave takes
the swarm's keys out of it."""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cluster import Topology, cli, wait_for
from wharfie.cluster import pki
from wharfie.cluster.etcdmember import MemberConfig, command
from wharfie.cluster.kv import TLSFiles

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed"),
    pytest.mark.slow,
]

PORT = 23790


class ExternalEtcd:
    def __init__(self, net: Topology, base: Path) -> None:
        self.addr = f"{net.subnet_prefix}.2"
        self.hub = net.hub
        subprocess.run(
            ["ip", "-n", net.hub, "addr", "add", f"{self.addr}/24", "dev", "br0"], check=True
        )
        base.mkdir(parents=True)
        ca = pki.new_ca(common_name="external-etcd-ca")
        year = datetime.timedelta(days=365)
        server = pki.issue(ca, "etcd", pki.MANAGER, "x", [self.addr], year)
        client = pki.issue(ca, "wharfie", pki.MANAGER, "x", [], year)
        files = {
            "ca.pem": ca.cert_pem,
            "server.pem": server.cert_pem,
            "server.key": server.key_pem,
            "client.pem": client.cert_pem,
            "client.key": client.key_pem,
        }
        for name, data in files.items():
            (base / name).write_bytes(data)
        self.client = TLSFiles(str(base / "ca.pem"), str(base / "client.pem"),
                               str(base / "client.key"))  # fmt: skip
        url = f"https://{self.addr}:{PORT}"
        cfg = MemberConfig(
            name="external",
            data_dir=str(base / "data"),
            client_url=url,
            peer_url=f"https://{self.addr}:{PORT + 1}",
            tls=TLSFiles(str(base / "ca.pem"), str(base / "server.pem"), str(base / "server.key")),
            initial_cluster={"external": f"https://{self.addr}:{PORT + 1}"},
            state="new",
            cluster_token="external",
        )
        with open(base / "etcd.log", "wb") as log:
            self.proc = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{net.hub}", *command(cfg, "etcd")],
                stdout=log,
                stderr=log,
            )
        wait_for(lambda: b"true" in self.call("/health", None), 30, "the external etcd serves")

    def call(self, path: str, body: dict[str, object] | None) -> bytes:
        args = ["nsenter", f"--net=/run/netns/{self.hub}", "curl", "-s", "--max-time", "5",
                "--cacert", self.client.ca, "--cert", self.client.cert, "--key",
                self.client.key, f"https://{self.addr}:{PORT}{path}"]  # fmt: skip
        if body is not None:
            args += ["-X", "POST", "-d", json.dumps(body)]
        return subprocess.run(args, capture_output=True, timeout=20).stdout

    def keys(self, prefix: str) -> list[str]:
        raw = prefix.encode()
        end = raw[:-1] + bytes([raw[-1] + 1])
        out = json.loads(self.call("/v3/kv/range", {
            "key": base64.b64encode(raw).decode(), "range_end": base64.b64encode(end).decode(),
            "keys_only": True}))  # fmt: skip
        return [base64.b64decode(kv["key"]).decode() for kv in out.get("kvs") or []]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def external(net: Topology, tmp_path: Path) -> Iterator[ExternalEtcd]:
    e = ExternalEtcd(net, tmp_path / "external-etcd")
    try:
        yield e
    finally:
        e.stop()


def test_a_swarm_on_an_external_etcd(net: Topology, external: ExternalEtcd) -> None:
    store_args = (
        "--cluster-store", f"etcd://{external.addr}:{PORT}",
        "--cluster-store-opt", f"kv.cacertfile={external.client.ca}",
        "--cluster-store-opt", f"kv.certfile={external.client.cert}",
        "--cluster-store-opt", f"kv.keyfile={external.client.key}",
    )  # fmt: skip
    m0 = net.add_node(busybox=True, extra_args=store_args)
    cli(m0, "swarm", "init", "--advertise-addr", m0.addr)
    assert not m0.etcd_pids() and not (m0.data / "swarm" / "etcd").exists()
    w = net.add_node(busybox=True)
    token = cli(m0, "swarm", "join-token", "-q", "worker").strip()
    cli(w, "swarm", "join", "--advertise-addr", w.addr, "--token", token, f"{m0.addr}:2377")
    cli(m0, "service", "create", "--detach", "--name", "web", "--replicas", "2",
        "--endpoint-mode", "dnsrr", "busybox", "sleep", "1000")  # fmt: skip
    wait_for(
        lambda: cli(m0, "service", "ls", "--format", "{{.Replicas}}").strip() == "2/2",
        60,
        "2 replicas run",
    )
    services = external.keys("/wharfie/swarm/objects/service/")
    assert len(services) == 1, services

    # a manager without the store cannot join; nothing of it stays in the swarm
    m1 = net.add_node()
    token = cli(m0, "swarm", "join-token", "-q", "manager").strip()
    err = cli(m1, "swarm", "join", "--advertise-addr", m1.addr, "--token", token,
              f"{m0.addr}:2377", ok=False)  # fmt: skip
    assert "keeps its state in an external etcd: start this daemon with --cluster-store" in err
    assert len(cli(m0, "node", "ls", "-q").split()) == 2
    assert json.loads(cli(m1, "info", "--format", "{{json .Swarm.LocalNodeState}}")) == "inactive"

    # a restart finds the store again
    m0.stop(signal.SIGKILL)
    m0.start()
    wait_for(lambda: "web" in cli(m0, "service", "ls"), 30, "the manager serves after a restart")

    cli(w, "swarm", "leave")
    cli(m0, "swarm", "leave", "--force")
    deadline = time.monotonic() + 10
    while external.keys("/wharfie/swarm/") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert external.keys("/wharfie/swarm/") == []
