"""The pure parts of the swarm verbs: service specs from flags (as docker CLI 28 sends them to
a wharfie cluster, captured in tests/cluster/test_swarm_cli.py), docker's progress updater,
task/service/node rows and pretty views."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest

from wharfie.cli.flags import parse
from wharfie.cli.progress import Message, Printer, Updater, trunc_error
from wharfie.cli.servicespec import (
    CREATE_FLAGS,
    UPDATE_FLAGS,
    create_spec,
    normalize_image,
    parse_mount,
    parse_publish,
    update_spec,
)
from wharfie.cli.swarmfmt import (
    NodeRow,
    ServiceRow,
    config_pretty,
    go_duration,
    go_order,
    go_time,
    service_ports,
    service_pretty,
    task_rows,
)
from wharfie.errors import InvalidArgument


def ids(name: str) -> str:
    return f"id-of-{name}"


def create(*argv: str) -> dict[str, Any]:
    return create_spec(parse(list(argv), CREATE_FLAGS, interspersed=False), ids, ids, ids)


def test_create_spec_is_what_docker_sends() -> None:
    # docker CLI 28's body for: service create -d --name w2 --replicas 2 -e A=1 -l x=y
    #   --constraint node.role==manager --secret s1 --config c1 busybox sleep 300
    spec = create(
        "--name", "w2", "--replicas", "2", "-e", "A=1", "-l", "x=y",
        "--constraint", "node.role==manager", "--secret", "s1", "--config", "c1",
        "busybox", "sleep", "300",
    )  # fmt: skip
    file = {"Name": "s1", "UID": "0", "GID": "0", "Mode": 292}
    assert spec == {
        "Name": "w2",
        "Labels": {"x": "y"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox:latest",
                "Args": ["sleep", "300"],
                "Env": ["A=1"],
                "Init": False,
                "DNSConfig": {},
                "Secrets": [{"File": file, "SecretID": "id-of-s1", "SecretName": "s1"}],
                "Configs": [
                    {"File": {**file, "Name": "c1"}, "ConfigID": "id-of-c1", "ConfigName": "c1"}
                ],
            },
            "Resources": {"Limits": {}, "Reservations": {}},
            "Placement": {"Constraints": ["node.role==manager"]},
            "ForceUpdate": 0,
        },
        "Mode": {"Replicated": {"Replicas": 2}},
        "EndpointSpec": {"Mode": "vip"},
    }


def test_create_spec_policies_and_modes() -> None:
    spec = create(
        "--mode", "global", "--update-parallelism", "2", "--update-delay", "1s",
        "--update-failure-action", "rollback", "--restart-condition", "on-failure",
        "--restart-max-attempts", "3", "--stop-grace-period", "1s", "--limit-memory", "64m",
        "--reserve-cpu", "0.5", "-p", "8080:80", "--mount", "type=tmpfs,target=/t",
        "--endpoint-mode", "dnsrr", "busybox",
    )  # fmt: skip
    assert spec["Mode"] == {"Global": {}}
    assert spec["UpdateConfig"] == {
        "Parallelism": 2,
        "FailureAction": "rollback",
        "Monitor": 5_000_000_000,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
        "Delay": 1_000_000_000,
    }
    assert "RollbackConfig" not in spec
    task = spec["TaskTemplate"]
    assert task["RestartPolicy"] == {"Condition": "on-failure", "MaxAttempts": 3}
    assert task["ContainerSpec"]["StopGracePeriod"] == 1_000_000_000
    assert task["Resources"] == {
        "Limits": {"MemoryBytes": 64 << 20},
        "Reservations": {"NanoCPUs": 500_000_000},
    }
    assert task["ContainerSpec"]["Mounts"] == [{"Type": "tmpfs", "Target": "/t"}]
    assert spec["EndpointSpec"] == {
        "Mode": "dnsrr",
        "Ports": [
            {"Protocol": "tcp", "PublishMode": "ingress", "TargetPort": 80, "PublishedPort": 8080}
        ],
    }


def test_create_spec_refusals() -> None:
    with pytest.raises(InvalidArgument, match="requires at least 1 argument"):
        create("--name", "x")
    with pytest.raises(InvalidArgument, match="replicas can only be used"):
        create("--mode", "global", "--replicas", "2", "busybox")
    with pytest.raises(InvalidArgument, match='invalid duration "soon"'):
        create("--update-delay", "soon", "busybox")
    with pytest.raises(InvalidArgument, match="must be"):
        create("--rollback-failure-action", "rollback", "busybox")
    with pytest.raises(InvalidArgument, match="target is required"):
        parse_mount("type=bind,source=/x")
    with pytest.raises(InvalidArgument, match="invalid port"):
        parse_publish("a:b")


def test_image_normalization_and_publish_forms() -> None:
    assert normalize_image("busybox") == "busybox:latest"
    assert normalize_image("reg:5000/x") == "reg:5000/x:latest"
    assert normalize_image("x:1") == "x:1"
    assert normalize_image("x@sha256:ab") == "x@sha256:ab"
    assert parse_publish("published=8,target=9,mode=host,protocol=udp") == {
        "Protocol": "udp",
        "PublishMode": "host",
        "PublishedPort": 8,
        "TargetPort": 9,
    }
    assert parse_publish("53/udp") == {
        "Protocol": "udp",
        "PublishMode": "ingress",
        "TargetPort": 53,
    }


def test_update_spec_changes_only_what_the_flags_say() -> None:
    current = create("--name", "w", "-e", "A=1", "-e", "B=2", "-l", "x=y", "busybox", "top")
    f = parse(
        ["--env-add", "B=3", "--env-rm", "A", "--label-add", "z=1", "--label-rm", "x",
         "--image", "other", "--replicas", "4", "--force", "--secret-add", "s", "w"],
        UPDATE_FLAGS,
    )  # fmt: skip
    spec = update_spec(current, f, ids, ids, ids)
    cs = spec["TaskTemplate"]["ContainerSpec"]
    assert cs["Env"] == ["B=3"]
    assert spec["Labels"] == {"z": "1"}
    assert cs["Image"] == "other:latest"
    assert spec["Mode"] == {"Replicated": {"Replicas": 4}}
    assert spec["TaskTemplate"]["ForceUpdate"] == 1
    assert [s["SecretName"] for s in cs["Secrets"]] == ["s"]
    assert current["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1", "B=2"]  # not changed
    assert spec["Name"] == "w" and cs["Args"] == ["top"]


def task(
    slot: int, state: str, desired: str = "running", node: str = "n1", err: str = "", **kw: Any
) -> dict[str, Any]:
    return {
        "ID": kw.get("id", f"t{slot}{state}"),
        "ServiceID": "s1",
        "Slot": slot,
        "NodeID": node,
        "DesiredState": desired,
        "CreatedAt": kw.get("created", "2026-01-01T00:00:00Z"),
        "Spec": {"ContainerSpec": {"Image": "busybox:latest@sha256:abc"}},
        "Status": {"State": state, "Err": err, "Timestamp": "2026-01-01T00:00:00Z"},
    }


def replicated(n: int) -> dict[str, Any]:
    return {"Mode": {"Replicated": {"Replicas": n}}}


def lines(msgs: list[Message]) -> list[str]:
    return [f"{m.ident}: {m.action}" for m in msgs if not m.total]


def test_progress_replicated_as_dockers_non_terminal_output() -> None:
    u = Updater(replicated(2))
    out: list[Message] = []
    assert not u.update(replicated(2), [], {"n1"}, False, out)
    assert lines(out) == [
        "overall progress: 0 out of 2 tasks",
        "1/2:  ",
        "2/2:  ",
        "overall progress: 0 out of 2 tasks",
    ]
    out = []
    tasks = [task(1, "running"), task(2, "starting")]
    assert not u.update(replicated(2), tasks, {"n1"}, False, out)
    bars = [(m.ident, m.action.strip(), m.current) for m in out if m.total]
    assert bars == [("1/2", "running", 9), ("2/2", "starting", 8)]
    assert lines(out) == ["overall progress: 1 out of 2 tasks"]
    out = []
    tasks = [task(1, "running"), task(2, "running"), task(2, "failed", "shutdown", err="boom")]
    assert u.update(replicated(2), tasks, {"n1"}, True, out)
    assert lines(out) == ["overall progress: rolling back update: 2 out of 2 tasks"]
    out = []
    assert u.update(replicated(2), tasks, {"n1"}, False, out)
    assert out == []  # done: nothing more until something changes


def test_progress_ignores_tasks_of_down_nodes_and_shows_errors() -> None:
    u = Updater(replicated(1))
    out: list[Message] = []
    u.update(replicated(1), [task(1, "running", node="gone")], {"n1"}, False, out)
    assert lines(out)[-1] == "overall progress: 0 out of 1 tasks"
    out = []
    u.update(replicated(1), [task(1, "rejected", err="no such image")], {"n1"}, False, out)
    assert "1/1: no such image" in lines(out)
    assert trunc_error("x" * 80) == "x" * 74 + "…"


def test_progress_global_waits_for_tasks() -> None:
    spec = {"Mode": {"Global": {}}}
    u = Updater(spec)
    out: list[Message] = []
    assert not u.update(spec, [], {"n1"}, False, out)
    assert lines(out) == ["overall progress: waiting for new tasks"]
    out = []
    assert u.update(spec, [task(0, "running")], {"n1"}, False, out)
    assert lines(out) == [
        "overall progress: 0 out of 1 tasks",
        "overall progress: 1 out of 1 tasks",
    ]


def test_task_rows_names_history_and_columns() -> None:
    tasks = [
        task(10, "running", id="c" * 25, created="2026-01-01T00:00:03Z"),
        task(2, "shutdown", "shutdown", id="a" * 25, created="2026-01-01T00:00:01Z"),
        task(2, "running", id="b" * 25, created="2026-01-01T00:00:02Z"),
        task(0, "failed", "shutdown", node="n9", err="task: non-zero exit (1) and more", id="d"),
    ]
    now = 1767225600 + 125  # 2026-01-01T00:02:05Z
    rows = task_rows(tasks, {"s1": "web"}, {"n1": "host1"}, True, True, now)
    assert [r.Name for r in rows] == ["web.2", " \\_ web.2", "web.10", "web.n9"]
    assert rows[0].ID == "b" * 12 and rows[0].Node == "host1" and rows[3].Node == "n9"
    assert rows[0].Image == "busybox:latest"
    assert rows[0].CurrentState == "Running 2 minutes ago"
    assert rows[1].DesiredState == "Shutdown"
    assert rows[3].Error == '"task: non-zero exit (1) and m…"'
    plain = task_rows(tasks, {}, {}, False, False, now)
    assert plain[1].Name == "s1.2" and plain[0].Image == "busybox:latest@sha256:abc"


def test_service_and_node_rows() -> None:
    svc = {
        "ID": "x" * 25,
        "Spec": {
            "Name": "web",
            "Mode": {"Replicated": {"Replicas": 3}},
            "TaskTemplate": {
                "ContainerSpec": {"Image": "busybox:latest@sha256:1"},
                "Placement": {"MaxReplicas": 2},
            },
        },
        "ServiceStatus": {"RunningTasks": 1, "DesiredTasks": 3},
        "Endpoint": {
            "Ports": [
                {"Protocol": "tcp", "PublishedPort": p, "TargetPort": p, "PublishMode": "ingress"}
                for p in (80, 81, 90)
            ]
        },
    }
    row = ServiceRow(svc)
    assert (row.ID, row.Mode, row.Image) == ("x" * 12, "replicated", "busybox:latest")
    assert row.Replicas == "1/3 (max 2 per node)"
    assert row.Ports == "*:80-81->80-81/tcp, *:90->90/tcp"
    assert service_ports([{"Protocol": "tcp", "TargetPort": 1, "PublishMode": "host"}]) == ""
    node = {
        "ID": "n1",
        "Spec": {"Availability": "drain"},
        "Status": {"State": "ready"},
        "ManagerStatus": {"Leader": True, "Reachability": "reachable"},
        "Description": {"Hostname": "h", "Engine": {"EngineVersion": "25"}},
    }
    r = NodeRow(node, "n1", {})
    assert (r.Self, r.Status, r.Availability, r.ManagerStatus) == (True, "Ready", "Drain", "Leader")
    assert r.TLSStatus == "Unknown"


def test_go_formats() -> None:
    assert [go_duration(n) for n in (0, 5 * 10**9, 90 * 10**9, 3600 * 10**9, 1_500_000)] == [
        "0s",
        "5s",
        "1m30s",
        "1h0m0s",
        "1.5ms",
    ]
    assert go_time("2026-12-07T23:12:47.248802330Z") == "2026-12-07 23:12:47.24880233 +0000 utc"


def test_pretty_views() -> None:
    svc = {
        "ID": "abc",
        "Spec": {
            "Name": "web",
            "Mode": {"Replicated": {"Replicas": 3}},
            "TaskTemplate": {
                "ContainerSpec": {"Image": "busybox:latest", "Args": ["sleep", "1"], "Init": False},
                "Resources": {"Limits": {}, "Reservations": {}},
                "Placement": {},
            },
            "UpdateConfig": {
                "Parallelism": 1,
                "FailureAction": "pause",
                "Monitor": 5 * 10**9,
                "MaxFailureRatio": 0,
                "Order": "stop-first",
            },
            "EndpointSpec": {"Mode": "vip"},
        },
    }
    # docker CLI 28's `service inspect --pretty` of such a service, byte for byte
    assert service_pretty(svc, {}, 0) == (
        "\nID:\t\tabc\nName:\t\tweb\nService Mode:\tReplicated\n Replicas:\t3\nPlacement:\n"
        "UpdateConfig:\n Parallelism:\t1\n On failure:\tpause\n Monitoring Period: 5s\n"
        " Max failure ratio: 0\n Update order:      stop-first\nContainerSpec:\n"
        " Image:\t\tbusybox:latest\n Args:\t\tsleep 1 \n Init:\t\tfalse\nResources:\n"
        "Endpoint Mode:\tvip"
    )
    conf = {
        "ID": "c1",
        "CreatedAt": "2026-12-07T23:12:47.1Z",
        "UpdatedAt": "2026-12-07T23:12:47.1Z",
        "Spec": {"Name": "c", "Data": base64.b64encode(b"x\n").decode()},
    }
    assert config_pretty(conf).endswith("Data:\nx\n")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_printer_on_a_terminal_redraws_in_place() -> None:
    out = _Terminal()
    p = Printer(out)
    p.write(Message("overall progress", "0 out of 2 tasks"))
    p.write(Message("1/2", "running", 9, 9))
    p.write(Message("overall progress", "1 out of 2 tasks"))
    text = out.getvalue()
    assert text.startswith("\x1b[2K\roverall progress: 0 out of 2 tasks\n")
    assert "1/2: running [" + "=" * 49 + ">]\n" in text
    # the first line is redrawn two lines up, and the cursor comes back
    assert text.endswith("\x1b[2A\r\x1b[2Koverall progress: 1 out of 2 tasks\x1b[2B\r")
    plain = io.StringIO()
    q = Printer(plain)
    q.write(Message("1/2", "running", 9, 9))  # a bar: nothing without a terminal
    q.write(Message("verify", "Service x converged"))
    assert plain.getvalue() == "verify: Service x converged\n"


def test_service_inspect_keys_in_go_struct_order() -> None:
    doc = {
        "Spec": {
            "TaskTemplate": {
                "Runtime": "container",
                "Resources": {"Reservations": {}, "Limits": {}},
                "ContainerSpec": {"Isolation": "default", "StopGracePeriod": 1, "Image": "b"},
            },
            "Name": "web",
        },
        "Endpoint": {"VirtualIPs": [], "Spec": {"Ports": [], "Mode": "vip"}},
        "ID": "x",
        "Extra": 1,
    }
    out = go_order(doc)
    assert list(out) == ["ID", "Spec", "Endpoint", "Extra"]
    task = out["Spec"]["TaskTemplate"]
    assert list(task) == ["ContainerSpec", "Resources", "Runtime"]
    assert list(task["ContainerSpec"]) == ["Image", "StopGracePeriod", "Isolation"]
    assert list(task["Resources"]) == ["Limits", "Reservations"]
    assert list(out["Endpoint"]) == ["Spec", "VirtualIPs"]
    assert list(out["Endpoint"]["Spec"]) == ["Mode", "Ports"]
