"""The `wharfie` swarm verbs against the docker CLI 28 on one wharfie cluster: the same command
run with both clients (on the same objects for reads; on twin objects for writes) gives the
same output once ids, times and the program's name are normalised, and the same exit status.
The bodies the two send are compared through what the cluster then shows (`inspect`)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from support.cluster import NodeDaemon, Topology, cli, wait_for
from support.daemon import docker_cli, wharfie_cli

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed"),
    pytest.mark.slow,
]

_ID = re.compile(r"\b(?=[a-z]*\d)[a-z0-9]{25}\b")
_SHORT_ID = re.compile(r"\b(?=[a-z]*\d)[a-z0-9]{12}\b")
_TOKEN = re.compile(r"SWMTKN-1-[a-z0-9]+-[a-z0-9]+")
_AGO = re.compile(
    r"(Less than a second|\d+ seconds?|About a minute|\d+ minutes|About an hour|\d+ hours)"
    r" ago",
    re.I,
)
_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?( \+0000 utc|Z)?")


def normalize(text: str, names: dict[str, str] | None = None) -> str:
    """Ids, tokens, ages and times replaced; runs of spaces (table padding, which follows the
    width of those) collapsed; `docker` as the program's name becomes `wharfie`."""
    for old, new in (names or {}).items():
        text = re.sub(rf"(?<![\w-]){re.escape(old)}(?![a-z0-9-])", new, text)
    text = _TOKEN.sub("<token>", text)
    text = _ID.sub("<id>", text)
    text = _SHORT_ID.sub("<sid>", text)
    text = _AGO.sub("<ago>", text)
    text = _TIME.sub("<time>", text)
    for name in ("docker ", "'docker", "docker:"):
        text = text.replace(name, name.replace("docker", "wharfie"))
    return "\n".join(re.sub(r" {2,}", "  ", line).rstrip() for line in text.split("\n"))


def progress_lines(text: str) -> list[str]:
    """A `service create/update/scale` output as comparable lines. What depends on timing is
    left out: the repeats (one per 200 ms poll), the counts reached, the countdown, and
    whether it ended with `converged` (docker's CLI stops early when it sees an
    UpdateStatus of "completed"); the order of the rest stays."""
    out: list[str] = []
    for line in normalize(text).splitlines():
        line = re.sub(
            r"progress: (rolling back update: )?\d+ out of", r"progress: \1N out of", line
        )
        if line.startswith(("verify: ", "rollback: rollback completed")) or line in out:
            continue
        out.append(line)
    return out


def both(node: NodeDaemon, *args: str, stdin: bytes | None = None) -> tuple[Any, Any]:
    d = docker_cli(node, *args, input=stdin, timeout=120)
    w = wharfie_cli(node, *args, input=stdin, timeout=120)
    return d, w


def same(node: NodeDaemon, *args: str) -> str:
    """Run `args` with both CLIs; assert equal normalised stdout, stderr and status."""
    d, w = both(node, *args)
    got = [normalize(p.stdout.decode()) for p in (d, w)]
    err = [normalize(p.stderr.decode()) for p in (d, w)]
    assert got[0] == got[1], (args, got)
    assert err[0] == err[1], (args, err)
    assert d.returncode == w.returncode, (args, d.returncode, w.returncode)
    return str(w.stdout.decode())


def twins(
    node: NodeDaemon, docker_args: list[str], wharfie_args: list[str], names: dict[str, str]
) -> tuple[str, str]:
    """A write with each CLI on its own object: outputs equal with `names` (wharfie's object
    -> docker's) substituted."""
    d = docker_cli(node, *docker_args, timeout=120)
    w = wharfie_cli(node, *wharfie_args, timeout=120)
    assert d.returncode == w.returncode, (docker_args, d.stderr, w.stderr)
    dout, wout = d.stdout.decode(), w.stdout.decode()
    dlines, wlines = progress_lines(dout), progress_lines(normalize(wout, names))
    if docker_args[:2] == ["stack", "deploy"]:  # docker deploys from a Go map: any order
        dlines, wlines = sorted(dlines), sorted(wlines)
    assert dlines == wlines, "\n".join(["docker:", *dlines, "wharfie:", *wlines])
    assert normalize(d.stderr.decode()) == normalize(w.stderr.decode(), names)
    return dout, wout


def inspect(node: NodeDaemon, kind: str, ref: str, names: dict[str, str] | None = None) -> Any:
    doc = json.loads(cli(node, kind, "inspect", ref))[0]
    text = json.dumps(doc, sort_keys=True)
    for old, new in (names or {}).items():
        text = re.sub(rf'"{re.escape(old)}(["_.])', rf'"{new}\1', text)
    text = _ID.sub("<id>", _TIME.sub("<time>", text))
    text = re.sub(r'"Index": \d+', '"Index": 0', text)
    out = json.loads(text)
    for key in ("UpdateStatus", "PreviousSpec", "Endpoint"):
        out.pop(key, None)
    cs = ((out.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
    if "Env" in cs:  # docker's --env-add rebuilds the list from a Go map: any order
        cs["Env"].sort()
    return out


def assert_same(a: Any, b: Any) -> None:
    """Equal documents (a unified diff of their indented JSON when not)."""
    import difflib

    x = json.dumps(a, indent=1, sort_keys=True).splitlines()
    y = json.dumps(b, indent=1, sort_keys=True).splitlines()
    assert x == y, "\n".join(difflib.unified_diff(x, y, "docker", "wharfie", lineterm=""))


def test_swarm_verbs_match_the_docker_cli(net: Topology, tmp_path: Path) -> None:
    m = net.add_node(busybox=True)
    p = wharfie_cli(m, "swarm", "init", "--advertise-addr", m.addr)
    assert p.returncode == 0, p.stderr
    net.remember_etcd()
    out = normalize(p.stdout.decode())
    assert out.startswith("Swarm initialized: current node (<id>) is now a manager.\n\n")
    assert f"wharfie swarm join --token <token> {m.addr}:2377" in out
    assert "run 'wharfie swarm join-token manager' and follow the instructions." in out
    err = wharfie_cli(m, "swarm", "init", "--advertise-addr", m.addr)
    assert err.returncode == 1 and b"This node is already part of a swarm" in err.stderr

    for args in (
        ["swarm", "join-token", "worker"],
        ["swarm", "join-token", "-q", "manager"],
        ["swarm", "unlock-key"],
        ["swarm", "unlock"],
        ["swarm", "update", "--task-history-limit", "3"],
        ["node", "ls"],
        ["node", "ls", "-q"],
        ["node", "inspect", "self"],
        ["node", "inspect", "--pretty", "self"],
        ["node", "inspect", "nope"],
        ["node", "update", "--label-add", "zone=a", "self"],
        ["node", "promote", "self"],
    ):
        same(m, *args)
    rotated = [
        normalize(p.stdout.decode()) for p in both(m, "swarm", "join-token", "--rotate", "worker")
    ]
    assert rotated[0] == rotated[1] and rotated[0].startswith("Successfully rotated worker")

    # service create: the same flags with each CLI, then each CLI reads both services
    flags = ["--replicas", "2", "-e", "A=1", "-l", "x=y", "--stop-grace-period", "1s"]
    flags += ["--update-parallelism", "2", "--constraint", "node.role==manager"]
    names = {"wsvc": "dsvc"}
    twins(
        m,
        ["service", "create", "--name", "dsvc", *flags, "busybox", "sleep", "300"],
        ["service", "create", "--name", "wsvc", *flags, "busybox", "sleep", "300"],
        names,
    )
    assert_same(inspect(m, "service", "dsvc"), inspect(m, "service", "wsvc", names))
    for args in (
        ["service", "ls"],
        ["service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}"],
        ["service", "ps", "dsvc"],
        ["service", "ps", "--no-trunc", "wsvc"],
        ["service", "ps", "-q", "dsvc"],
        ["service", "ps", "nope"],
        ["service", "inspect", "--pretty", "dsvc"],
        ["service", "inspect", "dsvc", "wsvc"],
        ["service", "inspect", "--format", "{{.Spec.Name}} {{json .Spec.Labels}}", "wsvc"],
        ["service", "inspect", "nope"],
        ["node", "ps"],
        # bad input: the daemon's words through both, or the CLI's own
        ["service", "create", "--name", "dsvc", "busybox"],
        ["service", "create", "--replicas", "x", "busybox"],
        ["service", "create", "--mode", "bogus", "busybox"],
        ["service", "create", "--update-delay", "soon", "busybox"],
        ["service", "scale", "dsvc"],
        ["service", "scale", "nope=2", "dsvc=x"],
        ["service", "rm", "nope", "nope2"],
        ["node", "rm", "nope"],
        ["node", "update", "--availability", "bogus", "self"],
        ["secret", "create"],
        ["swarm", "leave"],
        ["service", "create"],
        ["service", "update"],
        ["service", "ps"],
        ["node", "ls", "x"],
        ["node", "promote"],
        ["swarm", "join-token"],
        ["stack", "deploy"],
        ["stack", "ps"],
    ):
        same(m, *args)

    twins(m, ["service", "scale", "dsvc=3"], ["service", "scale", "wsvc=3"], names)
    twins(
        m,
        ["service", "update", "--env-add", "B=2", "--label-rm", "x", "dsvc"],
        ["service", "update", "--env-add", "B=2", "--label-rm", "x", "wsvc"],
        names,
    )
    assert_same(inspect(m, "service", "dsvc"), inspect(m, "service", "wsvc", names))
    twins(m, ["service", "rollback", "dsvc"], ["service", "rollback", "wsvc"], names)
    assert_same(inspect(m, "service", "dsvc"), inspect(m, "service", "wsvc", names))
    same(m, "service", "ps", "dsvc")
    twins(m, ["service", "rm", "dsvc"], ["service", "rm", "wsvc"], names)

    # service logs: the same stream (merged by the manager) through both CLIs
    talk = "echo out-$HOSTNAME; echo err >&2; sleep 300"
    cli(
        m, "service", "create", "-d", "--name", "talker", "--replicas", "2",
        "--stop-grace-period", "1s", "busybox", "sh", "-c", talk,
    )  # fmt: skip
    wait_for(lambda: cli(m, "service", "logs", "talker").count("out-") == 2, 60, "talker's lines")
    for args in (
        ["service", "logs", "talker"],
        ["service", "logs", "--no-task-ids", "--timestamps", "talker"],
        ["service", "logs", "--raw", "--no-trunc", "talker"],
        ["service", "logs", "--tail", "1", "talker"],
        ["service", "logs", "nope"],
    ):
        same(m, *args)
    cli(m, "service", "rm", "talker")

    # secrets and configs, from a file and from stdin
    data = tmp_path / "data.txt"
    data.write_text("x=1\n")
    for kind in ("secret", "config"):
        d = docker_cli(m, kind, "create", "-l", "k=v", f"d{kind}", str(data))
        w = wharfie_cli(m, kind, "create", "-l", "k=v", f"w{kind}", str(data))
        assert d.returncode == w.returncode == 0 and _ID.fullmatch(w.stdout.decode().strip())
        d = docker_cli(m, kind, "create", f"d{kind}2", "-", input=b"from stdin")
        w = wharfie_cli(m, kind, "create", f"w{kind}2", "-", input=b"from stdin")
        assert d.returncode == w.returncode == 0
        names = {f"w{kind}": f"d{kind}", f"w{kind}2": f"d{kind}2"}
        assert_same(inspect(m, kind, f"d{kind}"), inspect(m, kind, f"w{kind}", names))
        assert_same(inspect(m, kind, f"d{kind}2"), inspect(m, kind, f"w{kind}2", names))
        for args in (
            [kind, "ls"],
            [kind, "ls", "-q"],
            [kind, "ls", "--filter", f"name=d{kind}"],
            [kind, "inspect", f"d{kind}"],
            [kind, "inspect", "--pretty", f"w{kind}"],
            [kind, "inspect", "nope"],
            [kind, "create", "dup"],
        ):
            same(m, *args)
        twins(m, [kind, "rm", f"d{kind}", "nope"], [kind, "rm", f"w{kind}", "nope"], names)
    err = wharfie_cli(m, "secret", "create", "x", str(tmp_path / "missing"))
    assert err.returncode != 0 and b"no such file or directory" in err.stderr

    # a small stack with each CLI
    (tmp_path / "token.txt").write_text("s3cr3t\n")
    compose = tmp_path / "compose.yml"
    compose.write_text(
        "services:\n"
        "  web:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 1s\n"
        "    deploy: {replicas: 2, labels: {tier: front}}\n    secrets: [token]\n"
        "  db:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 1s\n"
        "secrets:\n  token:\n    file: ./token.txt\n"
    )
    names = {"wst": "dst"}
    d, w = twins(
        m,
        ["stack", "deploy", "-c", str(compose), "dst"],
        ["stack", "deploy", "-c", str(compose), "wst"],
        names,
    )
    assert "Creating network dst_default\n" in d and "Creating service wst_db\n" in w
    for kind, key in (("service", "web"), ("service", "db"), ("secret", "token")):
        assert_same(inspect(m, kind, f"dst_{key}"), inspect(m, kind, f"wst_{key}", names))
    wait_for(
        lambda: all(
            " 2/2 " in out and " 1/1 " in out
            for out in (cli(m, "stack", "services", s) for s in ("dst", "wst"))
        ),
        60,
        "stacks running",
    )
    dnet, wnet = (inspect(m, "network", f"{s}_default", names) for s in ("dst", "wst"))
    for n in (dnet, wnet):  # each has its own VNI, subnet and task containers
        n["Options"].pop("com.docker.network.driver.overlay.vxlanid_list")
        n.pop("IPAM")
        n["Containers"] = sorted(c["Name"].split(".")[0] for c in (n["Containers"] or {}).values())
    assert_same(dnet, wnet)
    for args in (
        ["stack", "ls"],
        ["stack", "services", "dst"],
        ["stack", "services", "nope"],
        ["stack", "ps", "wst"],
        ["stack", "ps", "nope"],
        ["stack", "ps", "--format", "{{.Name}} {{.DesiredState}}", "dst"],
    ):
        same(m, *args)
    twins(m, ["stack", "rm", "dst"], ["stack", "rm", "wst"], names)
    wait_for(
        lambda: cli(m, "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace") == "",
        30,
        "stack networks gone",
    )
    # a leave takes the node's task containers and their secrets' tmpfs with it, as dockerd
    # does (the net fixture then finds no mount left behind)
    cli(m, "secret", "create", "last", str(tmp_path / "token.txt"))
    cli(
        m,
        "service",
        "create",
        "-d",
        "--name",
        "last",
        "--secret",
        "last",
        "busybox",
        "sleep",
        "300",
    )
    tasks = ("ps", "-aq", "--filter", "label=com.docker.swarm.task.id")
    wait_for(lambda: cli(m, *tasks) != "", 60, "a task container")
    p = wharfie_cli(m, "swarm", "leave", "--force")
    assert p.returncode == 0 and p.stdout == b"Node left the swarm.\n"
    assert cli(m, *tasks) == ""


@pytest.mark.full
def test_stack_deploy_on_three_managers_and_two_workers(net: Topology, tmp_path: Path) -> None:
    """docker's `stack deploy -c` of three services on a 3-manager + 2-worker cluster; the
    wharfie CLI shows the same stack, nodes and tasks, and removes it."""
    nodes = [net.add_node(busybox=True) for _ in range(5)]
    m = nodes[0]
    cli(m, "swarm", "init", "--advertise-addr", m.addr)
    net.remember_etcd()
    manager = wharfie_cli(m, "swarm", "join-token", "-q", "manager").stdout.decode().strip()
    worker = wharfie_cli(m, "swarm", "join-token", "-q", "worker").stdout.decode().strip()
    for i, n in enumerate(nodes[1:]):
        token = manager if i < 2 else worker
        p = wharfie_cli(
            n, "swarm", "join", "--token", token, "--advertise-addr", n.addr, f"{m.addr}:2377"
        )
        assert p.returncode == 0, p.stderr
        role = "manager" if i < 2 else "worker"
        assert p.stdout.decode() == f"This node joined a swarm as a {role}.\n"
        net.remember_etcd()
    wait_for(lambda: cli(m, "node", "ls").count(" Ready ") == 5, 60, "5 nodes ready")
    same(m, "node", "ls")
    compose = tmp_path / "compose.yml"
    compose.write_text(
        "services:\n"
        "  front:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 1s\n"
        "    deploy: {replicas: 3}\n"
        "  back:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 1s\n"
        "    deploy: {replicas: 2, placement: {constraints: [node.role==worker]}}\n"
        "  agent:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 1s\n"
        "    deploy: {mode: global}\n"
    )
    out = cli(m, "stack", "deploy", "-c", str(compose), "app")
    assert sorted(out.splitlines()) == sorted(
        [
            "Creating network app_default",
            "Creating service app_front",
            "Creating service app_back",
            "Creating service app_agent",
        ]
    )  # docker deploys them from a Go map, in any order

    def running() -> int:
        text = cli(
            m,
            "stack",
            "ps",
            "app",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}",
        )
        return sum(line.startswith("Running") for line in text.splitlines())

    wait_for(lambda: running() == 3 + 2 + 5, 120, "10 tasks running")
    same(m, "stack", "services", "app")
    same(m, "stack", "ls")
    tasks = wharfie_cli(m, "stack", "ps", "app", "--format", "{{.Name}} {{.Node}}").stdout.decode()
    assert len(tasks.splitlines()) == 10
    back = json.loads(cli(m, "service", "ps", "app_back", "--format", "{{json .}}").splitlines()[0])
    assert back["DesiredState"] == "Running"
    p = wharfie_cli(m, "stack", "rm", "app")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().splitlines() == [
        "Removing service app_agent",
        "Removing service app_back",
        "Removing service app_front",
        "Removing network app_default",
    ]
    wait_for(lambda: cli(m, "service", "ls", "-q") == "", 30, "services gone")
