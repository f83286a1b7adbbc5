"""The cluster store on a real etcd: versioned objects, unique names, leases, watches, mutual
TLS and member failover. etcd members run on loopback with certificates from our CA."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from support.etcd import EtcdCluster, start_cluster, write_pair
from wharfie.cluster import pki
from wharfie.cluster.kv import Compare, EtcdKV, Put, StoreUnavailable, TLSFiles
from wharfie.cluster.objects import NameConflict, ObjectStore, OutOfSequence
from wharfie.errors import Conflict, NotFound

pytestmark = [
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed"),
    pytest.mark.xdist_group("etcd"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    c = start_cluster(str(tmp_path_factory.mktemp("etcd")), size=3)
    yield c
    c.close()


def test_objects_are_versioned_by_mod_revision(cluster: EtcdCluster) -> None:
    store = ObjectStore(cluster.client(), "/t1/")
    v1 = store.create("service", "s1", b'{"n":1}', name="web")
    got = store.get("service", "s1")
    assert (got.body, got.version) == (b'{"n":1}', v1)
    v2 = store.update("service", "s1", v1, b'{"n":2}')
    assert v2 > v1
    with pytest.raises(OutOfSequence, match="update out of sequence"):
        store.update("service", "s1", v1, b'{"n":3}')
    assert store.get("service", "s1").body == b'{"n":2}'  # the stale update wrote nothing


def test_names_are_unique_and_move_with_renames(cluster: EtcdCluster) -> None:
    store = ObjectStore(cluster.client(), "/t2/")
    store.create("service", "a", b"{}", name="web")
    with pytest.raises(
        NameConflict, match="name conflicts with an existing object: service web already exists"
    ):
        store.create("service", "b", b"{}", name="web")
    assert store.list("service")[0] and [s.id for s in store.list("service")[0]] == ["a"]
    with pytest.raises(Conflict):
        store.create("service", "a", b"{}", name="other")
    store.create("service", "b", b"{}", name="api")
    va = store.get("service", "a").version
    with pytest.raises(NameConflict):
        store.update("service", "a", va, b"{}", rename=("web", "api"))
    assert store.lookup("service", "web") == "a"  # nothing moved
    store.update("service", "a", va, b"{}", rename=("web", "front"))
    assert (store.lookup("service", "web"), store.lookup("service", "front")) == (None, "a")
    store.delete("service", "a", name="front")
    assert store.lookup("service", "front") is None
    with pytest.raises(NotFound):
        store.get("service", "a")
    with pytest.raises(NotFound):
        store.delete("service", "a")


def test_concurrent_creates_of_one_name_admit_exactly_one(cluster: EtcdCluster) -> None:
    clients = [cluster.client(f"c{i}") for i in range(8)]
    results: list[str] = []

    def claim(i: int) -> None:
        try:
            ObjectStore(clients[i], "/t3/").create("secret", f"id{i}", b"x", name="db-pass")
            results.append("ok")
        except NameConflict:
            results.append("conflict")

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 7 + ["ok"]
    entries, _ = clients[0].range("/t3/objects/secret/")
    assert len(entries) == 1  # the losers left no object behind


def test_lease_expiry_removes_the_keys_it_holds(cluster: EtcdCluster) -> None:
    kv = cluster.client()
    lease = kv.grant(2)
    kv.txn([], [Put("/t4/alive/node1", b"1", lease=lease)])
    assert kv.keepalive(lease) > 0
    assert kv.get("/t4/alive/node1") is not None
    deadline = time.monotonic() + 10
    while kv.get("/t4/alive/node1") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kv.get("/t4/alive/node1") is None
    assert kv.keepalive(lease) == 0


def test_watch_sees_changes_after_a_revision(cluster: EtcdCluster) -> None:
    kv = cluster.client()
    store = ObjectStore(kv, "/t5/")
    _, rev = store.list("task")
    watch = kv.watch("/t5/objects/task/", rev + 1)
    try:
        store.create("task", "t1", b"a")
        store.delete("task", "t1")
        it = iter(watch.events)
        first, second = next(it), next(it)
        assert (first.kind, first.entry.key, first.entry.value) == (
            "put",
            "/t5/objects/task/t1",
            b"a",
        )
        assert (second.kind, second.entry.key) == ("delete", "/t5/objects/task/t1")
    finally:
        watch.cancel()


def test_txn_compare_value(cluster: EtcdCluster) -> None:
    kv = cluster.client()
    kv.txn([], [Put("/t6/k", b"v1")])
    assert not kv.txn([Compare("/t6/k", "value", "==", b"nope")], [Put("/t6/k", b"v2")]).succeeded
    assert kv.txn([Compare("/t6/k", "value", "==", b"v1")], [Put("/t6/k", b"v2")]).succeeded
    entry = kv.get("/t6/k")
    assert entry is not None and entry.value == b"v2"


def test_a_client_without_a_cluster_certificate_is_refused(
    cluster: EtcdCluster, tmp_path: pytest.TempPathFactory
) -> None:
    other_ca = pki.new_ca()
    cert, key = write_pair(
        str(tmp_path),
        "stranger",
        pki.issue(other_ca, "stranger", pki.MANAGER, "other", ["127.0.0.1"]),
    )
    stranger = EtcdKV(cluster.endpoints(), TLSFiles(cluster.ca_file, cert, key), timeout=3)
    with pytest.raises(StoreUnavailable):
        stranger.get("/t1/objects/service/s1")
    no_cert = EtcdKV(cluster.endpoints(), None, timeout=3)
    with pytest.raises(StoreUnavailable):
        no_cert.get("/t1/objects/service/s1")


def test_a_client_fails_over_when_a_member_dies(tmp_path: pytest.TempPathFactory) -> None:
    c = start_cluster(str(tmp_path), size=3)
    try:
        kv = c.client()
        kv.txn([], [Put("/t7/k", b"before")])
        c.members[0].stop()  # the client's first endpoint
        kv.txn([], [Put("/t7/k", b"after")])
        entry = kv.get("/t7/k")
        assert entry is not None and entry.value == b"after"
    finally:
        c.close()
