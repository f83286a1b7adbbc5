"""Services and tasks in the store, as the API asks for them (on a manager; blocking).

Services are named objects (`objects/service/<id>`, unique names); tasks are objects the
leader writes (`objects/task/<id>`); a task's observed status is under `status/<task id>`,
written only by the node the task is assigned to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from wharfie.cluster import admin
from wharfie.cluster.kv import KV, TXN_BATCH, Op, Put
from wharfie.cluster.leader import STATUS, read_tasks
from wharfie.cluster.orchestrator import TaskView
from wharfie.cluster.records import new_id
from wharfie.cluster.services import (
    Service,
    ServiceSpec,
    TaskStatus,
    parse_spec,
    service_from_store,
    service_to_store,
    task_from_store,
    task_to_store,
)
from wharfie.errors import InvalidArgument, NotFound


@dataclass(frozen=True)
class StoredService:
    service: Service
    version: int


def create(kv: KV, doc: dict[str, Any]) -> str:
    spec = parse_spec(doc)
    if not spec.name:
        raise InvalidArgument(
            "rpc error: code = InvalidArgument desc = meta: name must be provided"
        )
    now = time.time_ns()
    s = Service(id=new_id(), created_ns=now, updated_ns=now, spec=spec)
    admin.objects(kv).create("service", s.id, service_to_store(s), name=spec.name)
    return s.id


def services(kv: KV) -> list[StoredService]:
    stored, _ = admin.objects(kv).list("service")
    return [StoredService(service_from_store(s.body), s.version) for s in stored]


def find(kv: KV, ref: str) -> StoredService:
    """By id, then name, then unique id prefix (dockerd's order)."""
    store = admin.objects(kv)
    candidates = [ref]
    by_name = store.lookup("service", ref)
    if by_name:
        candidates.append(by_name)
    for sid in candidates:
        try:
            s = store.get("service", sid)
        except NotFound:
            continue
        return StoredService(service_from_store(s.body), s.version)
    hits = [s for s in services(kv) if ref and s.service.id.startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise InvalidArgument(f"service {ref} is ambiguous ({len(hits)} matches found)")
    raise NotFound(f"service {ref} not found")


def update(kv: KV, ref: str, version: int, doc: dict[str, Any] | None, rollback: bool) -> None:
    current = find(kv, ref)
    s = current.service
    if rollback:
        if s.previous is None:
            raise InvalidArgument(
                "rpc error: code = FailedPrecondition desc = service "
                f"{s.id} does not have a previous spec"
            )
        new, state, message = s.previous, "rollback_started", "manually requested rollback"
    else:
        assert doc is not None
        new = parse_spec(doc)
        if new.name != s.spec.name:
            raise InvalidArgument(
                "rpc error: code = Unimplemented desc = renaming services is not supported"
            )
        state, message = "updating", "update in progress"
    changed = task_spec_changed(s.spec, new)
    s.previous, s.spec = s.spec, new
    s.updated_ns = time.time_ns()
    if changed:
        # only a change of what the tasks run replaces them (swarmkit's dirty-task check);
        # a change of replicas or of the update policy does not
        s.spec_version += 1
        s.update_state, s.update_message = state, message
        s.update_started_ns, s.update_completed_ns = s.updated_ns, 0
    admin.objects(kv).update("service", s.id, version, service_to_store(s))


def task_spec_changed(old: ServiceSpec | None, new: ServiceSpec) -> bool:
    """Whether the tasks' template changed, compared as swarmkit compares its protobuf
    messages: a field left out equals its zero value (the docker CLI sends back what inspect
    showed, with Go's zero values filled in, when it only scales)."""
    if old is None:
        return True
    return bool(
        _proto_form(old.doc.get("TaskTemplate")) != _proto_form(new.doc.get("TaskTemplate"))
    )


def _proto_form(template: Any) -> Any:
    """A task template as swarmkit holds it: the enums' defaults (`Runtime: container`,
    `Isolation: default`) are their zero values, and zero values are left out."""
    if not isinstance(template, dict):
        return _without_zeros(template)
    t = dict(template)
    if t.get("Runtime") == "container":
        t.pop("Runtime")
    cs = t.get("ContainerSpec")
    if isinstance(cs, dict) and cs.get("Isolation") == "default":
        t["ContainerSpec"] = {k: v for k, v in cs.items() if k != "Isolation"}
    return _without_zeros(t)


def _without_zeros(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _without_zeros(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", 0, False, [], {})}
    if isinstance(value, list):
        return [_without_zeros(v) for v in value]
    return value


def remove(kv: KV, ref: str) -> None:
    s = find(kv, ref).service
    admin.objects(kv).delete("service", s.id, name=s.spec.name)


def tasks(kv: KV) -> tuple[list[TaskView], dict[str, int]]:
    return read_tasks(kv)


def report(kv: KV, node_id: str, statuses: list[tuple[str, TaskStatus]]) -> None:
    """Observed statuses from the node running the tasks, written together (one transaction
    per TXN_BATCH); a report about a task assigned to another node is refused, and one about a
    task that is gone is dropped."""
    if not statuses:
        return
    store = admin.objects(kv)
    if len(statuses) == 1:
        try:
            found = [store.get("task", statuses[0][0])]
        except NotFound:
            found = []
    else:
        found, _ = store.list("task")
    owner = {s.id: task_from_store(s.body).node_id for s in found}
    puts: list[Op] = []
    for task_id, status in statuses:
        if task_id not in owner:
            continue
        if owner[task_id] != node_id:
            raise InvalidArgument(f"task {task_id} is not assigned to node {node_id}")
        puts.append(Put(STATUS + task_id, task_to_store(status)))
    for i in range(0, len(puts), TXN_BATCH):
        kv.txn([], puts[i : i + TXN_BATCH])
