"""Services on a wharfied swarm, driven by the real docker CLI: create (converging, as the CLI
waits for it), ls/ps/inspect, self-healing, scale, update and rollback, rm; across nodes, a
worker runs its tasks through the managers, and a drained node's tasks move."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from support.cluster import NodeDaemon, Topology, cli, wait_for
from support.daemon import docker_cli

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed"),
    pytest.mark.slow,
]


def running(node: NodeDaemon, service: str) -> list[str]:
    out = cli(
        node,
        "service",
        "ps",
        service,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Name}} {{.CurrentState}}",
    )
    return sorted(line.split()[0] for line in out.splitlines() if " Running " in f" {line} ")


def task_containers(node: NodeDaemon) -> list[str]:
    return cli(
        node, "ps", "--filter", "label=com.docker.swarm.task.id", "--format", "{{.Names}}"
    ).split()


def test_service_lifecycle_on_one_node(net: Topology) -> None:
    m = net.add_node(busybox=True)
    cli(m, "swarm", "init", "--advertise-addr", m.addr)
    net.remember_etcd()
    start = time.monotonic()
    out = cli(
        m,
        "service",
        "create",
        "--name",
        "web",
        "--replicas",
        "3",
        "--stop-grace-period",
        "1s",
        "busybox",
        "sleep",
        "300",
    )
    print(f"service create --replicas 3 converged in {time.monotonic() - start:.1f}s")
    assert "converged" in out
    assert cli(m, "service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}}").split() == [
        "web",
        "replicated",
        "3/3",
    ]
    assert running(m, "web") == ["web.1", "web.2", "web.3"]
    names = task_containers(m)
    assert len(names) == 3 and all(n.startswith("web.") for n in names)
    labels = json.loads(cli(m, "inspect", names[0], "--format", "{{json .Config.Labels}}"))
    assert labels["com.docker.swarm.service.name"] == "web"
    assert labels["com.docker.swarm.task.name"] == names[0]

    pretty = cli(m, "service", "inspect", "--pretty", "web")
    assert "Name:\t\tweb" in pretty and "Replicas:\t3" in pretty, pretty
    assert "Hostname:" in cli(m, "node", "inspect", "--pretty", "self")
    spec = json.loads(cli(m, "service", "inspect", "web"))[0]["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "300"]
    assert spec["Mode"] == {"Replicated": {"Replicas": 3}}

    # self-healing: a task's container killed -> replaced in its slot
    victim = names[0]
    cli(m, "kill", victim)
    wait_for(
        lambda: victim not in task_containers(m) and len(task_containers(m)) == 3,
        30,
        "a replacement",
    )
    assert running(m, "web") == ["web.1", "web.2", "web.3"]
    history = cli(
        m, "service", "ps", "web", "--format", "{{.Name}} {{.DesiredState}} {{.CurrentState}}"
    )
    assert any(" Shutdown Failed" in line for line in history.splitlines())

    print(f"healed at {time.monotonic() - start:.1f}s")
    cli(m, "service", "scale", "web=1")
    print(f"scaled at {time.monotonic() - start:.1f}s")
    wait_for(lambda: len(task_containers(m)) == 1, 30, "scaled to 1")
    # a scale is not an update (swarmkit's dirty-task check): no UpdateStatus
    scaled = json.loads(cli(m, "service", "inspect", "web"))[0]
    assert "UpdateStatus" not in scaled, scaled["UpdateStatus"]

    cli(m, "service", "update", "--env-add", "A=1", "web")
    c = task_containers(m)[0]
    assert "A=1" in json.loads(cli(m, "inspect", c, "--format", "{{json .Config.Env}}"))
    print(f"updated at {time.monotonic() - start:.1f}s")
    cli(m, "service", "rollback", "web")
    wait_for(
        lambda: (
            (cs := task_containers(m)) != []
            and "A=1"
            not in (json.loads(cli(m, "inspect", cs[0], "--format", "{{json .Config.Env}}")) or [])
        ),
        60,
        "rolled back",
    )

    err = cli(m, "service", "create", "--name", "web", "busybox", ok=False)
    assert "name conflicts with an existing object: service web already exists" in err
    err = cli(m, "service", "create", "--name", "bad name!", "busybox", ok=False)
    assert "name must be valid as a DNS name component" in err

    cli(m, "service", "rm", "web")
    wait_for(lambda: task_containers(m) == [], 30, "tasks removed")
    assert "no such service: web" in cli(m, "service", "inspect", "web", ok=False)


def test_tasks_spread_to_a_worker_and_leave_a_drained_node(net: Topology) -> None:
    m = net.add_node(busybox=True)
    cli(m, "swarm", "init", "--advertise-addr", m.addr)
    token = cli(m, "swarm", "join-token", "-q", "worker").strip()
    w = net.add_node(busybox=True)
    cli(w, "swarm", "join", "--advertise-addr", w.addr, "--token", token, f"{m.addr}:2377")
    net.remember_etcd()
    cli(
        m,
        "service",
        "create",
        "--detach",
        "--name",
        "spread",
        "--replicas",
        "4",
        "busybox",
        "sleep",
        "300",
    )
    wait_for(
        lambda: len(task_containers(m)) == 2 and len(task_containers(w)) == 2,
        60,
        "2 tasks per node",
    )
    # logs from both nodes' tasks, through the manager
    cli(
        m, "service", "create", "--detach", "--name", "talk", "--replicas", "2",
        "--stop-grace-period", "1s", "--placement-pref", "spread=node.id",
        "busybox", "sh", "-c", "echo hello from $(hostname); echo oops >&2; sleep 300",
    )  # fmt: skip
    wait_for(lambda: cli(m, "service", "logs", "talk").count("hello from") == 2, 60, "2 lines")
    out = docker_cli(m, "service", "logs", "talk")
    lines = out.stdout.decode().splitlines()
    assert all(line.startswith("talk.") and " | hello from " in line for line in lines), lines
    assert sorted(line.split("@")[0].split(".")[1] for line in lines) == ["1", "2"]
    assert out.stderr.decode().count("oops") == 2  # stderr stays stderr
    assert cli(m, "service", "logs", "--tail", "0", "talk") == ""
    cli(m, "service", "rm", "talk")
    worker_id = json.loads(cli(w, "info", "--format", "{{json .Swarm}}"))["NodeID"]
    cli(m, "node", "update", "--availability", "drain", worker_id)
    wait_for(lambda: len(task_containers(m)) == 4 and task_containers(w) == [], 60, "drained")
    cli(m, "service", "rm", "spread")
    wait_for(lambda: task_containers(m) == [], 30, "removed")


def test_secrets_and_configs_reach_tasks_on_tmpfs_only(net: Topology) -> None:
    m = net.add_node(busybox=True)
    cli(m, "swarm", "init", "--advertise-addr", m.addr)
    net.remember_etcd()
    p = docker_cli(m, "secret", "create", "db_pass", "-", input=b"hunter2-s3cret")
    assert p.returncode == 0, p.stderr
    secret_id = p.stdout.decode().strip()
    assert (
        "secret db_pass already exists"
        in docker_cli(m, "secret", "create", "db_pass", "-", input=b"x").stderr.decode()
    )
    conf = m.base / "app.conf"
    conf.write_text("color=blue\n")
    cli(m, "config", "create", "app_cfg", str(conf))
    assert cli(m, "secret", "ls", "--format", "{{.Name}}").split() == ["db_pass"]
    inspect = json.loads(cli(m, "secret", "inspect", "db_pass"))[0]
    assert "Data" not in inspect["Spec"] and inspect["ID"] == secret_id
    cfg = json.loads(cli(m, "config", "inspect", "app_cfg"))[0]
    assert cfg["Spec"]["Data"] == "Y29sb3I9Ymx1ZQo="

    cli(
        m, "service", "create", "--name", "sec", "--stop-grace-period", "1s",
        "--secret", "db_pass", "--config", "source=app_cfg,target=/etc/app.conf",
        "busybox", "sh", "-c",
        "cat /run/secrets/db_pass /etc/app.conf; grep /run/secrets /proc/mounts; sleep 300",
    )  # fmt: skip
    (name,) = task_containers(m)
    wait_for(lambda: "color=blue" in cli(m, "logs", name), 20, "the task's output")
    logs = cli(m, "logs", name)
    assert "hunter2-s3cret" in logs and "color=blue" in logs
    assert "/run/secrets/db_pass tmpfs ro," in logs  # a file of a tmpfs, read-only

    err = cli(m, "secret", "rm", "db_pass", ok=False)
    assert "secret 'db_pass' is in use by the following service: sec" in err

    # in etcd the secret is ciphertext (read inside the node's namespace); on disk, nowhere
    certs = m.data / "swarm" / "certificates"
    probe = (
        "from wharfie.cluster.kv import EtcdKV, TLSFiles\n"
        f"kv = EtcdKV(['https://{m.addr}:2379'], TLSFiles('{certs}/store-ca.crt', "
        f"'{certs}/store-node.crt', '{certs}/store-node.key'))\n"
        f"e = kv.get('/wharfie/swarm/objects/secret/{secret_id}')\n"
        "import sys; sys.stdout.buffer.write(e.value)\n"
    )
    stored = subprocess.run(
        [*m.command_prefix, sys.executable, "-c", probe], capture_output=True, env=m.env, check=True
    ).stdout
    assert secret_id.encode() in stored and b"hunter2" not in stored
    found = [  # (the task printed it: its log holds it, as the user asked)
        str(f)
        for f in m.data.rglob("*")
        if f.is_file() and not f.name.endswith("-json.log") and b"hunter2" in f.read_bytes()
    ]
    assert found == [], f"secret on disk: {found}"

    cli(m, "service", "rm", "sec")
    wait_for(lambda: task_containers(m) == [], 30, "removed")

    def files_mounted() -> bool:
        with open("/proc/self/mountinfo") as f:
            return str(m.exec_root / "swarm-files") in f.read()

    wait_for(lambda: not files_mounted(), 10, "the task's tmpfs unmounted")
    cli(m, "secret", "rm", "db_pass")
    cli(m, "config", "rm", "app_cfg")
    assert cli(m, "secret", "ls", "-q") == ""


@pytest.mark.full
def test_docker_py_models_api(net: Topology) -> None:
    import docker
    from docker.types import ConfigReference, SecretReference, ServiceMode

    m = net.add_node(busybox=True)
    client = docker.DockerClient(base_url=m.host, version="1.44")
    client.swarm.init(advertise_addr=m.addr)
    net.remember_etcd()
    secret = client.secrets.create(name="token", data=b"abc123")
    config = client.configs.create(name="settings", data=b"x=1")
    assert [s.name for s in client.secrets.list()] == ["token"]
    assert client.configs.get(config.id).name == "settings"
    service = client.services.create(
        "busybox",
        ["sh", "-c", "cat /run/secrets/token /settings; sleep 300"],
        name="py",
        mode=ServiceMode("replicated", replicas=2),
        secrets=[SecretReference(secret.id, "token")],
        configs=[ConfigReference(config.id, "settings")],
        stop_grace_period=1_000_000_000,
    )
    wait_for(
        lambda: sum(t["Status"]["State"] == "running" for t in service.tasks()) == 2,
        30,
        "2 running tasks",
    )
    service.scale(3)
    wait_for(
        lambda: (
            sum(
                t["Status"]["State"] == "running" and t["DesiredState"] == "running"
                for t in service.tasks()
            )
            == 3
        ),
        30,
        "3 running tasks",
    )
    service.reload()
    assert service.attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    with pytest.raises(docker.errors.APIError) as e:
        secret.remove()
    assert e.value.status_code == 400
    service.remove()
    wait_for(lambda: task_containers(m) == [], 30, "removed")
    secret.remove()
    config.remove()
    assert client.secrets.list() == [] and client.configs.list() == []
    assert client.swarm.leave(force=True)


@pytest.mark.full
def test_failed_update_rolls_back_by_itself(net: Topology) -> None:
    m = net.add_node(busybox=True)
    cli(m, "swarm", "init", "--advertise-addr", m.addr)
    net.remember_etcd()
    cli(
        m, "service", "create", "--detach", "--name", "roll", "--replicas", "2",
        "--stop-grace-period", "1s", "--update-failure-action", "rollback",
        "--update-monitor", "5s", "busybox", "sleep", "300",
    )  # fmt: skip
    wait_for(lambda: len(running(m, "roll")) == 2, 30, "2 running")
    # an update whose tasks exit at once with an error: the update rolls back by itself
    cli(m, "service", "update", "--detach", "--args", "sh -c 'exit 3'", "roll")
    wait_for(
        lambda: (
            json.loads(cli(m, "service", "inspect", "roll"))[0].get("UpdateStatus", {}).get("State")
            in ("rollback_completed",)
        ),
        90,
        "rolled back",
    )
    svc = json.loads(cli(m, "service", "inspect", "roll"))[0]
    assert svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "300"]
    wait_for(lambda: len(running(m, "roll")) == 2, 30, "2 running again")
    cli(m, "service", "rm", "roll")
    wait_for(lambda: task_containers(m) == [], 30, "removed")


def test_host_mode_published_port(net: Topology) -> None:
    m = net.add_node(busybox=True)
    cli(m, "swarm", "init", "--advertise-addr", m.addr)
    net.remember_etcd()
    cli(
        m, "service", "create", "--detach", "--name", "web", "--stop-grace-period", "1s",
        "--publish", "mode=host,published=8080,target=80",
        "busybox", "sh", "-c", "echo served-by-task > /tmp/index.html; httpd -f -p 80 -h /tmp",
    )  # fmt: skip
    wait_for(lambda: len(running(m, "web")) == 1, 30, "running")

    def fetch() -> str:
        p = subprocess.run(
            [*m.command_prefix, "busybox", "wget", "-q", "-O", "-", f"http://{m.addr}:8080/"],
            capture_output=True,
            timeout=10,
        )
        return p.stdout.decode()

    wait_for(lambda: "served-by-task" in fetch(), 20, "the port answers")
    ports = cli(m, "service", "ps", "web", "--format", "{{.Ports}}").strip()
    assert ports == "*:8080->80/tcp", ports
    # ingress mode (the default) is the routing mesh's: tests/cluster/test_overlay.py
    cli(m, "service", "create", "--detach", "--name", "mesh", "--publish", "8081:80", "busybox")
    fmt = "{{(index .Endpoint.Ports 0).PublishMode}}"
    mode = cli(m, "service", "inspect", "mesh", "--format", fmt)
    assert mode.strip() == "ingress"
    cli(m, "service", "rm", "mesh")
    cli(m, "service", "rm", "web")
    wait_for(lambda: task_containers(m) == [], 30, "removed")
