"""The orchestrator and scheduler: from desired state (services) and observed state (tasks,
their reported status, nodes) to the changes that bring one to the other.

`plan()` is a pure function, run on the leader every tick; `wharfie.cluster.leader` reads the
state from etcd and applies the changes. It covers:
- replicated services: one running task per slot 1..replicas, extra slots shut down;
- global services: one task per eligible node;
- replicated and global jobs: tasks that run to completion (MaxConcurrent, TotalCompletions);
- self-healing: a task that ended, or whose node is down or drained, is shut down and, as the
  restart policy allows (condition, delay, max attempts within the window), replaced in its slot;
- rolling updates: tasks made from an older spec are replaced `parallelism` at a time, stop-first
  or start-first, `delay` apart; a new task that fails within `monitor` pauses the update, or
  rolls it back (failure action), or is ignored (continue);
- scheduling: a task without a node goes to a ready, active node that satisfies the placement
  constraints, spreading the service's tasks (fewest of the service, then fewest overall);
- task history: at most the cluster's TaskHistoryRetentionLimit tasks are kept per slot.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from wharfie.cluster.services import (
    TERMINAL,
    Service,
    Task,
    TaskStatus,
    parse_constraint,
)


@dataclass(frozen=True)
class NodeInfo:
    id: str
    hostname: str
    role: str
    availability: str
    ready: bool
    labels: dict[str, str] = field(default_factory=dict)
    engine_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskView:
    task: Task
    status: TaskStatus | None

    @property
    def observed(self) -> str:
        return self.status.state if self.status is not None else self.task.state


@dataclass
class Plan:
    create: list[Task] = field(default_factory=list)
    update: list[Task] = field(default_factory=list)  # tasks with changed fields
    delete: list[str] = field(default_factory=list)  # task ids
    services: list[Service] = field(default_factory=list)  # services with a new update status

    def empty(self) -> bool:
        return not (self.create or self.update or self.delete or self.services)


Setter = Callable[..., Task]  # (task, **changed fields) -> the changed task
NewTask = Callable[[int, str, int], Task]  # (slot, node id, not before) -> the new task


def plan(
    services: list[Service],
    tasks: list[TaskView],
    nodes: list[NodeInfo],
    now_ns: int,
    new_id: Callable[[], str],
    history_limit: int = 5,
) -> Plan:
    out = Plan()
    by_service: dict[str, list[TaskView]] = defaultdict(list)
    for tv in tasks:
        by_service[tv.task.service_id].append(tv)
    node_by_id = {n.id: n for n in nodes}
    known = {s.id for s in services}
    changed: dict[str, Task] = {}

    def set_task(t: Task, **kw: object) -> Task:
        cur = changed.get(t.id, t)
        new = dataclasses.replace(cur, **kw, updated_ns=now_ns)  # type: ignore[arg-type]  # kw: Task fields
        changed[t.id] = new
        return new

    # tasks of removed services: shut down, then forgotten once ended (or their node is gone)
    for sid, tvs in by_service.items():
        if sid in known:
            continue
        for tv in tvs:
            node = node_by_id.get(tv.task.node_id)
            if tv.observed in TERMINAL or node is None or not node.ready or not tv.task.node_id:
                out.delete.append(tv.task.id)
            elif tv.task.desired_state != "shutdown":
                set_task(tv.task, desired_state="shutdown")

    for s in services:
        _service(s, by_service.get(s.id, []), node_by_id, now_ns, new_id, out, set_task)

    # schedule what has no node yet
    live_count: dict[str, int] = defaultdict(int)
    per_service: dict[tuple[str, str], int] = defaultdict(int)
    for tv in tasks:
        t = changed.get(tv.task.id, tv.task)
        if t.node_id and t.desired_state in ("running", "complete") and tv.observed not in TERMINAL:
            live_count[t.node_id] += 1
            per_service[(t.service_id, t.node_id)] += 1
    spec_of = {s.id: s for s in services}
    # host-mode published ports: one task per node for each fixed port
    used_ports: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for tv in tasks:
        t = changed.get(tv.task.id, tv.task)
        owner = spec_of.get(t.service_id)
        if owner and t.node_id and t.desired_state != "shutdown" and tv.observed not in TERMINAL:
            used_ports[t.node_id] |= _fixed_ports(owner)
    pending = [t for t in out.create if not t.node_id] + [
        changed.get(tv.task.id, tv.task)
        for tv in tasks
        if not tv.task.node_id
        and changed.get(tv.task.id, tv.task).desired_state in ("running", "complete")
        and tv.task.service_id in spec_of
    ]
    for t in pending:
        s = spec_of[t.service_id]
        candidates = [
            n
            for n in nodes
            if n.ready
            and n.availability == "active"
            and satisfies(n, s.spec.placement.constraints)
            and (
                not s.spec.placement.max_replicas
                or per_service[(s.id, n.id)] < s.spec.placement.max_replicas
            )
            and not (_fixed_ports(s) & used_ports[n.id])
        ]
        if not candidates:
            msg = _no_node_message(nodes, s, used_ports)
            if t in out.create:
                t.state, t.message = "pending", msg
            elif t.state != "pending" or t.message != msg:
                set_task(t, state="pending", message=msg)
            continue
        best = min(candidates, key=lambda n: (per_service[(s.id, n.id)], live_count[n.id], n.id))
        per_service[(s.id, best.id)] += 1
        live_count[best.id] += 1
        used_ports[best.id] |= _fixed_ports(s)
        if t in out.create:
            t.node_id, t.state, t.message = best.id, "assigned", "scheduler assigned task to node"
        else:
            set_task(
                t, node_id=best.id, state="assigned", message="scheduler assigned task to node"
            )

    # history: per slot (or node, for global services) keep the newest `history_limit`
    groups: dict[tuple[str, int, str], list[TaskView]] = defaultdict(list)
    for tv in tasks:
        t = tv.task
        if t.service_id in known:
            groups[(t.service_id, t.slot, t.node_id if not t.slot else "")].append(tv)
    for group in groups.values():
        dead = [
            tv
            for tv in group
            if changed.get(tv.task.id, tv.task).desired_state == "shutdown"
            and tv.observed in TERMINAL
        ]
        excess = len(group) - history_limit
        for tv in sorted(dead, key=lambda tv: tv.task.created_ns)[: max(0, excess)]:
            out.delete.append(tv.task.id)
            changed.pop(tv.task.id, None)

    out.update = [t for t in changed.values() if t.id not in out.delete]
    return out


def _service(
    s: Service,
    tvs: list[TaskView],
    nodes: dict[str, NodeInfo],
    now_ns: int,
    new_id: Callable[[], str],
    out: Plan,
    setter: Setter,
) -> None:
    spec = s.spec
    job = spec.mode.endswith("-job")
    alive: list[TaskView] = []  # desired to run, not ended, on a usable node
    ended_by_slot: dict[object, list[TaskView]] = defaultdict(list)
    for tv in tvs:
        t = tv.task
        if t.desired_state == "shutdown":
            if tv.observed in TERMINAL:
                ended_by_slot[_key(t)].append(tv)
            continue
        node = nodes.get(t.node_id) if t.node_id else None
        lost = bool(t.node_id) and (node is None or not node.ready or node.availability == "drain")
        if job and tv.observed == "complete":
            continue  # a finished job task stays as it is
        if tv.observed in TERMINAL or lost:
            setter(t, desired_state="shutdown")
            ended_by_slot[_key(t)].append(tv)
            continue
        alive.append(tv)

    def may_restart(key: object) -> tuple[bool, int]:
        """Whether a slot's ended task is replaced, and no earlier than when."""
        ended = sorted(ended_by_slot.get(key, []), key=lambda tv: tv.task.created_ns)
        if not ended:
            return True, 0
        last = ended[-1]
        node = nodes.get(last.task.node_id)
        lost = node is None or not node.ready or node.availability == "drain"
        failed = last.observed in ("failed", "rejected")
        cond = spec.restart.condition
        if not lost:
            if cond == "none" and last.observed not in ("shutdown",):
                return False, 0
            if cond == "on-failure" and not failed and last.observed != "shutdown":
                return False, 0
            if spec.restart.max_attempts:
                window = spec.restart.window_ns
                attempts = [
                    tv
                    for tv in ended
                    if tv.observed in ("failed", "rejected", "complete")
                    and (not window or now_ns - tv.task.created_ns <= window)
                ]
                if len(attempts) >= spec.restart.max_attempts:
                    return False, 0
        delay = 0 if lost or last.observed == "shutdown" else spec.restart.delay_ns
        if not delay:
            return True, 0
        finished = last.status.timestamp_ns if last.status else last.task.updated_ns
        return True, finished + delay

    def new_task(slot: int, node_id: str, not_before: int) -> Task:
        t = Task(
            id=new_id(),
            service_id=s.id,
            slot=slot,
            node_id=node_id,
            desired_state="complete" if job else "running",
            state="assigned" if node_id else "new",
            spec_version=s.spec_version,
            created_ns=now_ns,
            updated_ns=now_ns,
            message="scheduler assigned task to node" if node_id else "created",
            not_before_ns=not_before,
            stop_grace_ns=spec.stop_grace_ns,
        )
        out.create.append(t)
        return t

    if spec.mode == "replicated":
        by_slot: dict[int, list[TaskView]] = defaultdict(list)
        for tv in alive:
            by_slot[tv.task.slot].append(tv)
        for slot, slot_tvs in by_slot.items():
            if slot > spec.replicas:
                for tv in slot_tvs:
                    setter(tv.task, desired_state="shutdown")
        for slot in range(1, spec.replicas + 1):
            if by_slot.get(slot):
                continue
            ok, not_before = may_restart(("slot", slot))
            if ok:
                new_task(slot, "", not_before)
        _rolling_update(s, by_slot, tvs, now_ns, new_task, setter, out)
    elif spec.mode == "global":
        by_node: dict[str, list[TaskView]] = defaultdict(list)
        for tv in alive:
            by_node[tv.task.node_id].append(tv)
        for node in nodes.values():
            eligible = (
                node.ready
                and node.availability == "active"
                and satisfies(node, spec.placement.constraints)
            )
            if not eligible:
                for tv in by_node.get(node.id, []):
                    setter(tv.task, desired_state="shutdown")
                continue
            if by_node.get(node.id):
                continue
            ok, not_before = may_restart(("node", node.id))
            if ok:
                new_task(0, node.id, not_before)
    elif spec.mode == "replicated-job":
        done = sum(
            1 for tv in tvs if tv.observed == "complete" and tv.task.spec_version == s.spec_version
        )
        running = len(alive)
        slot = max([tv.task.slot for tv in tvs] + [0])
        while running < spec.max_concurrent and done + running < spec.total_completions:
            slot += 1
            new_task(slot, "", 0)
            running += 1
    elif spec.mode == "global-job":
        have = {tv.task.node_id for tv in tvs if tv.task.spec_version == s.spec_version}
        for node in nodes.values():
            if (
                node.id not in have
                and node.ready
                and node.availability == "active"
                and satisfies(node, spec.placement.constraints)
            ):
                new_task(0, node.id, 0)


def _rolling_update(
    s: Service,
    by_slot: dict[int, list[TaskView]],
    every: list[TaskView],
    now_ns: int,
    new_task: NewTask,
    setter: Setter,
    out: Plan,
) -> None:
    """Replace tasks of older specs, `parallelism` slots at a time."""
    policy = s.spec.rollback if s.update_state.startswith("rollback") else s.spec.update
    outdated = sorted(
        slot
        for slot, tvs in by_slot.items()
        if slot <= s.spec.replicas and all(tv.task.spec_version < s.spec_version for tv in tvs)
    )
    current = [
        tv for tvs in by_slot.values() for tv in tvs if tv.task.spec_version == s.spec_version
    ]
    idle = s.update_state in ("", "completed", "rollback_completed", "paused", "rollback_paused")
    if idle and (not outdated or s.update_state in ("paused", "rollback_paused")):
        return
    # start-first: the old task of a slot goes once its replacement runs
    for tvs in by_slot.values():
        olds = [tv for tv in tvs if tv.task.spec_version < s.spec_version]
        news = [tv for tv in tvs if tv.task.spec_version == s.spec_version]
        if olds and any(tv.observed == "running" for tv in news):
            for tv in olds:
                setter(tv.task, desired_state="shutdown")
    # a new task that ended within the monitor period is an update failure
    failed = [
        tv
        for tv in every
        if tv.task.spec_version == s.spec_version
        and tv.observed in ("failed", "rejected")
        and (tv.status is None or tv.status.timestamp_ns - tv.task.created_ns <= policy.monitor_ns)
    ]
    if (
        failed
        and policy.failure_action != "continue"
        and s.update_state in ("updating", "rollback_started")
    ):
        if policy.failure_action == "rollback" and s.update_state == "updating" and s.previous:
            s.spec, s.previous = s.previous, s.spec
            s.spec_version += 1
            s.update_state = "rollback_started"
            s.update_message = (
                "update rolled back due to failure or early termination of task "
                + failed[0].task.id
            )
        else:
            s.update_state = "paused" if s.update_state == "updating" else "rollback_paused"
            s.update_message = (
                "update paused due to failure or early termination of task " + failed[0].task.id
            )
        out.services.append(s)
        return
    in_flight = [
        tv for tv in current if tv.observed not in ("running",) and tv.observed not in ("complete",)
    ]
    busy = len(in_flight)
    parallelism = policy.parallelism or len(outdated)
    last_started = max((tv.task.created_ns for tv in current), default=0)
    if busy == 0 and last_started and now_ns - last_started < policy.delay_ns:
        return
    for slot in outdated[: max(0, parallelism - busy)]:
        if policy.order == "stop-first":
            for tv in by_slot[slot]:
                setter(tv.task, desired_state="shutdown")
        new_task(slot, "", 0)
    if not outdated and not in_flight and s.update_state in ("updating", "rollback_started"):
        s.update_state = "completed" if s.update_state == "updating" else "rollback_completed"
        s.update_message = (
            "update completed" if s.update_state == "completed" else "rollback completed"
        )
        s.update_completed_ns = now_ns
        out.services.append(s)


def _key(t: Task) -> object:
    return ("slot", t.slot) if t.slot else ("node", t.node_id)


def satisfies(node: NodeInfo, constraints: list[str]) -> bool:
    for c in constraints:
        key, op, want = parse_constraint(c)
        if key == "node.role":
            have: str | None = node.role
        elif key in ("node.hostname",):
            have = node.hostname
        elif key == "node.id":
            have = node.id
        elif key.startswith("node.labels."):
            have = node.labels.get(key[len("node.labels.") :])
        elif key.startswith("engine.labels."):
            have = node.engine_labels.get(key[len("engine.labels.") :])
        elif key == "node.platform.os":
            have = "linux"
        else:
            have = None
        equal = have is not None and have.lower() == want.lower()
        if (op == "==") != equal:
            return False
    return True


def _fixed_ports(s: Service) -> set[tuple[str, int]]:
    return {(p.protocol, p.published) for p in s.spec.ports if p.published and p.mode == "host"}


def _no_node_message(
    nodes: list[NodeInfo], s: Service, used_ports: dict[str, set[tuple[str, int]]]
) -> str:
    if not nodes:
        return "no suitable node (no nodes)"
    usable = [n for n in nodes if n.ready and n.availability == "active"]
    failing = [n for n in usable if not satisfies(n, s.spec.placement.constraints)]
    if failing:
        word = "node" if len(failing) == 1 else "nodes"
        return f"no suitable node (scheduling constraints not satisfied on {len(failing)} {word})"
    busy = [n for n in usable if _fixed_ports(s) & used_ports[n.id]]
    if busy:
        word = "node" if len(busy) == 1 else "nodes"
        return f"no suitable node (host-mode port already in use on {len(busy)} {word})"
    return "no suitable node"
