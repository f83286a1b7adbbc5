"""The orchestrator's plan (pure): replicas, self-healing with restart policies, placement,
spreading, draining, global services, jobs, rolling updates and task history."""

from __future__ import annotations

import itertools

import pytest

from wharfie.cluster.orchestrator import NodeInfo, TaskView, plan, satisfies
from wharfie.cluster.services import Service, Task, TaskStatus, parse_spec
from wharfie.errors import InvalidArgument

S = 1_000_000_000
NOW = 1000 * S


def ids() -> object:
    counter = itertools.count(1)
    return lambda: f"t{next(counter)}"


def node(i: int, **kw: object) -> NodeInfo:
    base: dict[str, object] = dict(
        id=f"n{i}", hostname=f"host{i}", role="worker", availability="active", ready=True
    )
    base.update(kw)
    return NodeInfo(**base)  # type: ignore[arg-type]


def service(replicas: int = 3, **spec: object) -> Service:
    doc: dict[str, object] = {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}, **spec.pop("template", {})},  # type: ignore[dict-item]
        "Mode": spec.pop("mode", {"Replicated": {"Replicas": replicas}}),
        **spec,
    }
    return Service(id="s1", created_ns=0, updated_ns=0, spec=parse_spec(doc))


def task(tid: str, slot: int, node_id: str, state: str = "running", **kw: object) -> TaskView:
    t = Task(
        id=tid,
        service_id=kw.pop("service_id", "s1"),  # type: ignore[arg-type]
        slot=slot,
        node_id=node_id,
        desired_state=kw.pop("desired", "running"),  # type: ignore[arg-type]
        state="assigned",
        spec_version=kw.pop("version", 1),  # type: ignore[arg-type]
        created_ns=kw.pop("created", NOW - 100 * S),  # type: ignore[arg-type]
        updated_ns=NOW - 100 * S,
    )
    status = TaskStatus(state=state, timestamp_ns=kw.pop("at", NOW - 50 * S), exit_code=0)  # type: ignore[arg-type]
    return TaskView(t, status)


def test_new_service_gets_one_task_per_slot_spread_over_nodes() -> None:
    p = plan([service(4)], [], [node(1), node(2)], NOW, ids())
    assert sorted(t.slot for t in p.create) == [1, 2, 3, 4]
    assert sorted(t.node_id for t in p.create) == ["n1", "n1", "n2", "n2"]
    assert all(t.state == "assigned" and t.desired_state == "running" for t in p.create)


def test_scale_down_shuts_down_the_highest_slots() -> None:
    tasks = [task(f"x{i}", i, "n1") for i in range(1, 5)]
    p = plan([service(2)], tasks, [node(1)], NOW, ids())
    assert not p.create
    assert sorted((t.id, t.desired_state) for t in p.update) == [
        ("x3", "shutdown"),
        ("x4", "shutdown"),
    ]


def test_failed_task_is_replaced_after_the_restart_delay() -> None:
    tasks = [task("a", 1, "n1", "failed", at=NOW - 1 * S), task("b", 2, "n1")]
    p = plan([service(2)], tasks, [node(1)], NOW, ids())
    assert [(t.id, t.desired_state) for t in p.update] == [("a", "shutdown")]
    (new,) = p.create
    assert (new.slot, new.not_before_ns) == (1, NOW - 1 * S + 5 * S)


@pytest.mark.parametrize(
    ("condition", "ended", "replaced"),
    [
        ("any", "complete", True),
        ("on-failure", "complete", False),
        ("on-failure", "failed", True),
        ("none", "failed", False),
    ],
)
def test_restart_conditions(condition: str, ended: str, replaced: bool) -> None:
    s = service(1, template={"RestartPolicy": {"Condition": condition}})
    p = plan([s], [task("a", 1, "n1", ended)], [node(1)], NOW, ids())
    assert bool(p.create) is replaced


def test_max_attempts_stops_replacing() -> None:
    s = service(1, template={"RestartPolicy": {"Condition": "any", "MaxAttempts": 2}})
    tasks = [
        task("a", 1, "n1", "failed", desired="shutdown", created=NOW - 30 * S),
        task("b", 1, "n1", "failed", created=NOW - 20 * S),
    ]
    assert not plan([s], tasks, [node(1)], NOW, ids()).create


def test_tasks_of_a_down_or_drained_node_move_at_once() -> None:
    tasks = [task("a", 1, "n1"), task("b", 2, "n2")]
    p = plan(
        [service(2)],
        tasks,
        [node(1, ready=False), node(2, availability="drain"), node(3)],
        NOW,
        ids(),
    )
    assert sorted(t.id for t in p.update if t.desired_state == "shutdown") == ["a", "b"]
    assert sorted((t.slot, t.node_id, t.not_before_ns) for t in p.create) == [
        (1, "n3", 0),
        (2, "n3", 0),
    ]


def test_constraints_and_no_suitable_node() -> None:
    s = service(1, template={"Placement": {"Constraints": ["node.labels.zone==b"]}})
    p = plan([s], [], [node(1, labels={"zone": "a"}), node(2, labels={"zone": "b"})], NOW, ids())
    assert [t.node_id for t in p.create] == ["n2"]
    p = plan([s], [], [node(1, labels={"zone": "a"})], NOW, ids())
    assert [(t.state, t.message) for t in p.create] == [
        ("pending", "no suitable node (scheduling constraints not satisfied on 1 node)")
    ]


def test_constraint_syntax() -> None:
    n = node(1, role="manager", labels={"ssd": "true"}, engine_labels={"os": "debian"})
    assert satisfies(n, ["node.role==manager", "node.labels.ssd==true", "engine.labels.os!=arch"])
    assert not satisfies(n, ["node.role!=manager"])
    assert not satisfies(n, ["node.labels.missing==x"])
    with pytest.raises(InvalidArgument, match="invalid constraint"):
        service(1, template={"Placement": {"Constraints": ["node.role"]}})


def test_global_service_one_task_per_eligible_node() -> None:
    s = service(mode={"Global": {}})
    p = plan(
        [s], [task("a", 0, "n1")], [node(1), node(2), node(3, availability="pause")], NOW, ids()
    )
    assert [(t.slot, t.node_id) for t in p.create] == [(0, "n2")]


def test_replicated_job_runs_to_its_completions() -> None:
    s = service(mode={"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}})
    p = plan([s], [], [node(1)], NOW, ids())
    assert len(p.create) == 2 and all(t.desired_state == "complete" for t in p.create)
    tasks = [
        task("a", 1, "n1", "complete", desired="complete"),
        task("b", 2, "n1", "complete", desired="complete"),
    ]
    p = plan([s], tasks, [node(1)], NOW, ids())
    assert [t.slot for t in p.create] == [3]


def test_rolling_update_stop_first_one_at_a_time() -> None:
    s = service(3, UpdateConfig={"Parallelism": 1, "Order": "stop-first"})
    s.spec_version, s.update_state = 2, "updating"
    tasks = [task(f"x{i}", i, "n1") for i in (1, 2, 3)]
    p = plan([s], tasks, [node(1)], NOW, ids())
    assert [(t.id, t.desired_state) for t in p.update] == [("x1", "shutdown")]
    assert [(t.slot, t.spec_version) for t in p.create] == [(1, 2)]
    # while the new one is not running yet, nothing else moves
    tasks = [
        task("x1", 1, "n1", "shutdown", desired="shutdown"),
        task("y1", 1, "n1", "starting", version=2),
        *tasks[1:],
    ]
    assert plan([s], tasks, [node(1)], NOW, ids()).create == []


def test_rolling_update_start_first_keeps_the_old_until_the_new_runs() -> None:
    s = service(1, UpdateConfig={"Order": "start-first"})
    s.spec_version, s.update_state = 2, "updating"
    p = plan([s], [task("x1", 1, "n1")], [node(1)], NOW, ids())
    assert not p.update and [(t.slot, t.spec_version) for t in p.create] == [(1, 2)]
    both = [task("x1", 1, "n1"), task("y1", 1, "n1", "running", version=2, created=NOW - S)]
    p = plan([s], both, [node(1)], NOW, ids())
    assert [(t.id, t.desired_state) for t in p.update] == [("x1", "shutdown")]


def test_update_failure_rolls_back() -> None:
    s = service(2, UpdateConfig={"FailureAction": "rollback", "Monitor": 10 * S})
    s.previous = s.spec
    s.spec = parse_spec({**s.spec.doc, "TaskTemplate": {"ContainerSpec": {"Image": "broken"}}})
    s.spec_version, s.update_state = 2, "updating"
    tasks = [
        task("y1", 1, "n1", "failed", version=2, created=NOW - 5 * S, at=NOW - 4 * S),
        task("x2", 2, "n1"),
    ]
    p = plan([s], tasks, [node(1)], NOW, ids())
    (changed,) = p.services
    assert changed.update_state == "rollback_started" and changed.spec.image == "busybox"
    assert changed.spec_version == 3


def test_update_failure_pauses_by_default() -> None:
    s = service(2)
    s.spec_version, s.update_state = 2, "updating"
    tasks = [
        task("y1", 1, "n1", "failed", version=2, created=NOW - 3 * S, at=NOW - 2 * S),
        task("x2", 2, "n1"),
    ]
    (changed,) = plan([s], tasks, [node(1)], NOW, ids()).services
    assert changed.update_state == "paused" and "y1" in changed.update_message


def test_update_completes() -> None:
    s = service(1)
    s.spec_version, s.update_state = 2, "updating"
    (changed,) = plan([s], [task("y1", 1, "n1", version=2)], [node(1)], NOW, ids()).services
    assert changed.update_state == "completed"


def test_tasks_of_removed_services_are_shut_down_then_forgotten() -> None:
    running = task("a", 1, "n1", service_id="gone")
    ended = task("b", 2, "n1", "shutdown", desired="shutdown", service_id="gone")
    p = plan([], [running, ended], [node(1)], NOW, ids())
    assert [(t.id, t.desired_state) for t in p.update] == [("a", "shutdown")]
    assert p.delete == ["b"]


def test_history_is_limited_per_slot() -> None:
    dead = [
        task(f"d{i}", 1, "n1", "failed", desired="shutdown", created=NOW - (100 - i) * S)
        for i in range(6)
    ]
    p = plan([service(1)], [*dead, task("live", 1, "n1")], [node(1)], NOW, ids(), history_limit=5)
    assert sorted(p.delete) == ["d0", "d1"]


def test_spec_validation_wording() -> None:
    with pytest.raises(InvalidArgument, match="name must be valid as a DNS name component"):
        parse_spec({"Name": "bad name!", "TaskTemplate": {"ContainerSpec": {"Image": "x"}}})
    with pytest.raises(InvalidArgument, match="image reference must be provided"):
        parse_spec({"Name": "ok", "TaskTemplate": {"ContainerSpec": {}}})


def test_host_mode_ports_one_task_per_node() -> None:
    s = service(
        3,
        EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}]},
    )
    p = plan([s], [], [node(1), node(2)], NOW, ids())
    assigned = sorted(t.node_id for t in p.create if t.node_id)
    assert assigned == ["n1", "n2"]
    (waiting,) = [t for t in p.create if not t.node_id]
    assert waiting.message == "no suitable node (host-mode port already in use on 2 nodes)"


def test_ingress_ports_do_not_hold_a_node() -> None:
    s = service(1, EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]})
    assert s.spec.ports[0].mode == "ingress"  # the routing mesh's (cluster/networks.py)
    from wharfie.cluster.orchestrator import _fixed_ports

    assert _fixed_ports(s) == set()


def test_a_scale_sent_back_with_go_zero_values_is_not_a_task_change() -> None:
    """The docker CLI's `service scale` sends the spec inspect showed, with Go's defaults
    filled in (`Runtime: container`, `Isolation: default`, empty fields): swarmkit compares
    protobuf messages, where those are zero values, so the tasks stay."""
    from wharfie.cluster.servicestore import task_spec_changed

    cs = {"Image": "busybox:latest", "Args": ["sleep", "300"]}
    stored = parse_spec({"Name": "web", "TaskTemplate": {"ContainerSpec": cs}})
    sent_back = parse_spec(
        {
            "Name": "web",
            "Mode": {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {
                "ContainerSpec": {**cs, "Isolation": "default", "Env": []},
                "Runtime": "container",
                "ForceUpdate": 0,
                "Resources": {"Limits": {}, "Reservations": {}},
            },
        }
    )
    assert not task_spec_changed(stored, sent_back)
    for changed in (
        {"ContainerSpec": {**cs, "Env": ["A=1"]}},
        {"ContainerSpec": {**cs, "Isolation": "process"}},
        {"ContainerSpec": cs, "ForceUpdate": 1},
    ):
        assert task_spec_changed(stored, parse_spec({"Name": "web", "TaskTemplate": changed}))
