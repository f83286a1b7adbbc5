"""The leader's reconciliation loop: read the cluster's state from etcd, plan
(wharfie.cluster.orchestrator), write the changes. Runs on every manager, acts only while the
manager holds the leadership; blocking (one tick runs in a thread).

Writes are compare-and-swap on each object's version: a tick that raced another writer (an API
update of a service, a former leader's last tick) skips that object, and the next tick sees the
new state.
"""

from __future__ import annotations

import logging
import time
from typing import TypeVar

from wharfie.cluster import admin, networks
from wharfie.cluster.kv import KV, TXN_BATCH, Compare, Delete, Entry, Op
from wharfie.cluster.objects import OutOfSequence
from wharfie.cluster.orchestrator import NodeInfo, TaskView, plan
from wharfie.cluster.records import cluster_from_store, new_id
from wharfie.cluster.services import (
    service_from_store,
    service_to_store,
    status_from_store,
    task_from_store,
    task_to_store,
)
from wharfie.errors import NotFound

log = logging.getLogger("wharfie.cluster.leader")

STATUS = admin.ROOT + "status/"


def read_tasks(kv: KV) -> tuple[list[TaskView], dict[str, int]]:
    """Every task with its observed status, and each task's version (one read)."""
    (tasks, statuses), _ = kv.ranges([admin.objects(kv).prefix("task"), STATUS])
    return task_views(kv, tasks, statuses)


def task_views(
    kv: KV, task_entries: list[Entry], status_entries: list[Entry]
) -> tuple[list[TaskView], dict[str, int]]:
    stored = admin.objects(kv).from_entries("task", task_entries)
    statuses = {e.key[len(STATUS) :]: status_from_store(e.value) for e in status_entries}
    views = [TaskView(task_from_store(s.body), statuses.get(s.id)) for s in stored]
    return views, {s.id: s.version for s in stored}


def node_infos(views: list[admin.NodeView]) -> list[NodeInfo]:
    return [
        NodeInfo(
            id=v.node.id,
            hostname=v.node.description.hostname,
            role=v.node.role,
            availability=v.node.availability,
            ready=v.state == "ready",
            labels=dict(v.node.labels),
            engine_labels=dict(v.node.description.engine_labels),
        )
        for v in views
    ]


def tick(kv: KV, cluster_id: str) -> int:
    """One reconciliation; the number of changes written."""
    store = admin.objects(kv)
    # everything the plan needs in one read: one round trip, one consistent revision
    (service_e, task_e, status_e, node_e, alive_e, cluster_e), _ = kv.ranges(
        [
            store.prefix("service"),
            store.prefix("task"),
            STATUS,
            store.prefix("node"),
            admin.ALIVE,
            store.key("cluster", cluster_id),
        ]
    )
    stored_services = store.from_entries("service", service_e)
    services = [service_from_store(s.body) for s in stored_services]
    service_versions = {s.id: s.version for s in stored_services}
    tasks, versions = task_views(kv, task_e, status_e)
    if not cluster_e:
        raise NotFound(f"cluster {cluster_id} not found")
    cluster = cluster_from_store(cluster_e[0].value)
    p = plan(
        services,
        tasks,
        node_infos(admin.node_views(kv, node_e, alive_e)),
        time.time_ns(),
        new_id,
        history_limit=max(1, cluster.spec.task_history_retention_limit),
    )
    written = networks.reconcile(kv)  # VIPs, released addresses
    addresses = networks.Addresses(kv)
    by_id = {s.id: s for s in services}
    for s in p.services:
        try:
            store.update("service", s.id, service_versions[s.id], service_to_store(s))
            written += 1
        except (OutOfSequence, NotFound):
            continue
    # new tasks, each with its addresses on its service's networks claimed in the same
    # transaction, up to TXN_BATCH operations to a transaction; a batch that raced another
    # writer is written one task at a time (claiming afresh), skipping the tasks that changed
    writes = [(t, networks.task_writes(addresses, t, by_id.get(t.service_id))) for t in p.create]
    for batch in _op_batches(writes):
        compares = [c for _, (cs, _) in batch for c in cs]
        if kv.txn(compares, [o for _, (_, ops) in batch for o in ops]).succeeded:
            written += len(batch)
            continue
        for t, _ in batch:
            t.addresses.clear()
            if networks.create_task(kv, addresses, t, by_id.get(t.service_id)):
                written += 1
    updates = [(t.id, versions[t.id], task_to_store(t)) for t in p.update if t.id in versions]
    for ubatch in _batches(updates):
        if store.update_all("task", ubatch):
            written += len(ubatch)
            continue
        for tid, version, body in ubatch:
            try:
                store.update("task", tid, version, body)
                written += 1
            except (OutOfSequence, NotFound):
                continue
    deletes: list[Op] = [
        op for tid in p.delete for op in (Delete(store.key("task", tid)), Delete(STATUS + tid))
    ]
    for i in range(0, len(deletes), TXN_BATCH):
        kv.txn([], deletes[i : i + TXN_BATCH])
    return written + len(p.delete)


T = TypeVar("T")


def _batches(items: list[T]) -> list[list[T]]:
    return [items[i : i + TXN_BATCH] for i in range(0, len(items), TXN_BATCH)]


def _op_batches(
    writes: list[tuple[T, tuple[list[Compare], list[Op]]]],
) -> list[list[tuple[T, tuple[list[Compare], list[Op]]]]]:
    """Consecutive writes grouped so that no transaction holds more than TXN_BATCH
    operations (etcd's --max-txn-ops is 128)."""
    batches: list[list[tuple[T, tuple[list[Compare], list[Op]]]]] = []
    size = 0
    for w in writes:
        n = max(len(w[1][0]), len(w[1][1]))
        if not batches or size + n > TXN_BATCH:
            batches.append([])
            size = 0
        batches[-1].append(w)
        size += n
    return batches
