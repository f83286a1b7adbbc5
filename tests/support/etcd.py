"""A real etcd cluster for tests: N members on loopback, mutual TLS from a fresh cluster CA.

Each member is started by `wharfie.cluster.etcdmember.EtcdMember`, the same code the daemon
uses, and stopped (by its pid) when the cluster is closed.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass, field

from wharfie.cluster import pki
from wharfie.cluster.etcdmember import EtcdMember, MemberConfig
from wharfie.cluster.kv import EtcdKV, TLSFiles


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_pair(directory: str, stem: str, pair: pki.KeyPair) -> tuple[str, str]:
    cert, key = os.path.join(directory, stem + ".crt"), os.path.join(directory, stem + ".key")
    with open(cert, "wb") as f:
        f.write(pair.cert_pem)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pair.key_pem)
    return cert, key


@dataclass
class EtcdCluster:
    root: str
    ca: pki.KeyPair
    ca_file: str
    members: list[EtcdMember] = field(default_factory=list)
    clients: list[EtcdKV] = field(default_factory=list)

    def endpoints(self) -> list[str]:
        return [m.cfg.client_url for m in self.members]

    def tls_for(self, node_id: str, role: str = pki.MANAGER) -> TLSFiles:
        """A client identity signed by this cluster's CA."""
        pair = pki.issue(self.ca, node_id, role, "test-cluster", ["127.0.0.1"])
        cert, key = write_pair(self.root, f"client-{node_id}", pair)
        return TLSFiles(self.ca_file, cert, key)

    def client(self, node_id: str = "client") -> EtcdKV:
        kv = EtcdKV(self.endpoints(), self.tls_for(node_id))
        self.clients.append(kv)
        return kv

    def close(self) -> None:
        for kv in self.clients:
            kv.close()
        for m in self.members:
            m.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(root: str, size: int = 1) -> EtcdCluster:
    os.makedirs(root, exist_ok=True)
    ca = pki.new_ca()
    ca_file = os.path.join(root, "ca.crt")
    with open(ca_file, "wb") as f:
        f.write(ca.cert_pem)
    cluster = EtcdCluster(root, ca, ca_file)
    names = [f"m{i}" for i in range(size)]
    peers = {n: f"https://127.0.0.1:{free_port()}" for n in names}
    try:
        for n in names:
            member_dir = os.path.join(root, n)
            os.makedirs(member_dir)
            cert, key = write_pair(
                member_dir, "node", pki.issue(ca, n, pki.MANAGER, "test-cluster", ["127.0.0.1"])
            )
            cfg = MemberConfig(
                name=n,
                data_dir=os.path.join(member_dir, "data"),
                client_url=f"https://127.0.0.1:{free_port()}",
                peer_url=peers[n],
                tls=TLSFiles(ca_file, cert, key),
                initial_cluster=peers,
                state="new",
                cluster_token="test-cluster",
            )
            cluster.members.append(EtcdMember(cfg, member_dir))
        # members of a new cluster wait for each other: start all, then wait for each
        for m in cluster.members:
            m.start_process()
        for m in cluster.members:
            m.wait_ready(30.0)
    except BaseException:
        cluster.close()
        raise
    return cluster
