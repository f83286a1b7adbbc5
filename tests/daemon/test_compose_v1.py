"""Debian's docker-compose 1.29 (Python, docker-py 5.0.3) against wharfied: an unchanged
client of the Docker Engine API runs the web-and-client project, and `wharfie compose`
and docker-compose see each other's containers through the compose labels."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.daemon import Daemon, docker_cli, wharfie_cli

COMPOSE_V1 = shutil.which("docker-compose") or "/usr/bin/docker-compose"

# "version: '2.4'": the file format in which docker-compose 1.29 knows depends_on
# conditions; `wharfie compose` reads the same file (the version key is informative).
PROJECT = textwrap.dedent("""
    version: '2.4'
    services:
      web:
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && echo web-ready && exec httpd -f -p 80 -h /www"]
        stop_grace_period: 1s
        healthcheck:
          test: wget -q -O- http://127.0.0.1/
          interval: 200ms
          retries: 50
        volumes: [data:/data]
      client:
        image: busybox
        command: ["sh", "-c", "cat /data/seen 2>/dev/null; wget -q -O- http://web/ && echo client-done"]
        depends_on:
          web: {condition: service_healthy}
        volumes: [data:/data]
    volumes:
      data: {}
""")  # noqa: E501


class V1Project:
    def __init__(self, d: Daemon, folder: Path, name: str) -> None:
        self.d = d
        self.folder = folder
        self.name = name
        self.file = folder / "docker-compose.yml"
        folder.mkdir(parents=True, exist_ok=True)
        self.file.write_text(PROJECT)

    def v1(self, *args: str, check: bool = True, timeout: float = 120) -> Any:
        env = {
            **self.d.env,
            "COMPOSE_INTERACTIVE_NO_CLI": "1",
            "DOCKER_CONFIG": str(self.d.base / "docker-config"),
        }
        p = subprocess.run(
            [COMPOSE_V1, "--ansi", "never", "-p", self.name, "-f", str(self.file), *args],
            capture_output=True,
            env=env,
            timeout=timeout,
        )
        if check:
            assert p.returncode == 0, (p.stdout.decode(), p.stderr.decode())
        return p

    def ours(self, *args: str, check: bool = True) -> Any:
        p = wharfie_cli(
            self.d, "compose", "-p", self.name, "-f", str(self.file), *args, timeout=120
        )
        if check:
            assert p.returncode == 0, (p.stdout.decode(), p.stderr.decode())
        return p

    def inspect(self) -> dict[str, dict[str, Any]]:
        """Every container of the project (by the compose label), by name."""
        import docker

        api = docker.APIClient(base_url=self.d.host)
        try:
            rows = api.containers(
                all=True, filters={"label": f"com.docker.compose.project={self.name}"}
            )
            return {r["Names"][0].lstrip("/"): api.inspect_container(r["Id"]) for r in rows}
        finally:
            api.close()


@pytest.fixture
def v1(daemon: Daemon, tmp_path: Path, name: str) -> Iterator[V1Project]:
    if not Path(COMPOSE_V1).exists():
        pytest.skip("docker-compose 1.29 is not installed (scripts/setup.sh installs it)")
    p = V1Project(daemon, tmp_path / name, name)
    yield p
    p.v1("down", "-v", "--remove-orphans", "-t", "1", check=False)
    for cname in p.inspect():
        docker_cli(daemon, "rm", "-f", "-v", cname)
    for kind in ("network", "volume"):
        docker_cli(daemon, kind, "rm", f"{name}_default" if kind == "network" else f"{name}_data")


def _ts(text: str) -> float:
    """An API timestamp (RFC 3339, nanoseconds) as seconds since the epoch."""
    from datetime import datetime

    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0"))


def wait_exit(d: Daemon, cid: str, timeout: float = 60) -> int:
    p = docker_cli(d, "wait", cid, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.decode().strip())


def test_docker_compose_v1_up_ps_logs_down(v1: V1Project) -> None:
    n = v1.name
    up = v1.v1("up", "-d")
    err = up.stderr.decode()
    # compose 1.29 starts client only once web is healthy; its output says so in order
    assert f"Creating {n}_web_1" in err and f"Creating {n}_client_1" in err, err
    boxes = v1.inspect()
    assert set(boxes) == {f"{n}_web_1", f"{n}_client_1"}
    web, client = boxes[f"{n}_web_1"], boxes[f"{n}_client_1"]
    assert web["State"]["Running"] and web["State"]["Health"]["Status"] == "healthy"
    # the health gate: client started only after web first became healthy (from the event
    # stream: the health log keeps only the last five probes, so it may no longer hold it)
    events = docker_cli(
        v1.d, "events", "--since", "0", "--until", str(int(time.time()) + 1),
        "--filter", f"container={web['Id']}", "--format", "{{json .}}",
    ).stdout.decode()  # fmt: skip
    healthy = [
        json.loads(line)["timeNano"] / 1e9
        for line in events.splitlines()
        if json.loads(line)["Action"] == "health_status: healthy"
    ]
    started = _ts(client["State"]["StartedAt"])
    assert healthy and started >= healthy[0], (healthy, client["State"])
    assert wait_exit(v1.d, client["Id"]) == 0
    # a second up changes nothing (compose 1.29 compares its config hash with ours)
    again = v1.v1("up", "-d").stderr.decode()
    assert "is up-to-date" in again and "Recreating" not in again, again
    assert v1.inspect()[f"{n}_web_1"]["Id"] == web["Id"]
    # the network and the named volume compose created, with its labels
    assert f"{n}_default" in web["NetworkSettings"]["Networks"]
    aliases = web["NetworkSettings"]["Networks"][f"{n}_default"]["Aliases"] or []
    assert "web" in aliases
    vol = json.loads(docker_cli(v1.d, "volume", "inspect", f"{n}_data").stdout)[0]
    assert vol["Labels"]["com.docker.compose.project"] == n
    assert any(m.get("Name") == f"{n}_data" for m in web["Mounts"])

    ps = v1.v1("ps").stdout.decode()
    lines = {line.split()[0]: line for line in ps.splitlines()[2:] if line.strip()}
    assert set(lines) == {f"{n}_web_1", f"{n}_client_1"}, ps
    assert "Up (healthy)" in lines[f"{n}_web_1"], ps
    assert "Exit 0" in lines[f"{n}_client_1"], ps
    q = v1.v1("ps", "-q").stdout.decode().split()
    assert sorted(q) == sorted([web["Id"], client["Id"]])
    services = v1.v1("ps", "--services").stdout.decode().split()
    assert sorted(services) == ["client", "web"]

    logs = v1.v1("logs").stdout.decode()
    assert "hello-from-web" in logs and "client-done" in logs, logs
    # (compose 1.29 prefixes each line with the container name less the project)
    assert "web_1     | web-ready" in logs and "client_1  | client-done" in logs, logs
    only_client = v1.v1("logs", "--no-color", "client").stdout.decode()
    assert "client-done" in only_client and "web-ready" not in only_client
    tail = [
        line
        for line in v1.v1("logs", "--tail", "1", "client").stdout.decode().splitlines()
        if "|" in line
    ]  # (less compose's "Attaching to …" line)
    assert len(tail) == 1 and "client-done" in tail[0]

    down = v1.v1("down", "-v", "-t", "1")
    assert v1.inspect() == {}, down.stderr
    assert docker_cli(v1.d, "network", "inspect", f"{n}_default").returncode != 0
    assert docker_cli(v1.d, "volume", "inspect", f"{n}_data").returncode != 0


def test_each_tool_sees_the_others_containers(v1: V1Project) -> None:
    n = v1.name
    v1.v1("up", "-d")
    boxes = v1.inspect()
    labels = boxes[f"{n}_web_1"]["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == n
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert len(labels["com.docker.compose.config-hash"]) == 64

    # what docker-compose started, wharfie compose lists and manages
    rows = json.loads(v1.ours("ps", "-a", "--format", "json").stdout)
    assert sorted(r["Service"] for r in rows) == ["client", "web"]
    assert sorted(r["Name"] for r in rows) == [f"{n}_client_1", f"{n}_web_1"]
    logs = v1.ours("logs", "web").stdout.decode()
    assert "web-ready" in logs
    listed = json.loads(v1.ours("ls", "--format", "json", "-a").stdout)
    assert n in [p["Name"] for p in listed]

    # and what wharfie compose starts, docker-compose lists and takes down
    v1.v1("down", "-t", "1")
    v1.ours("up", "-d")
    web = v1.inspect()[f"{n}-web-1"]
    assert web["State"]["Health"]["Status"] == "healthy"
    deadline = time.monotonic() + 30
    while v1.inspect()[f"{n}-client-1"]["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    ps = v1.v1("ps").stdout.decode()
    assert f"{n}-web-1" in ps and f"{n}-client-1" in ps, ps
    assert "client-done" in v1.v1("logs", "client").stdout.decode()
    v1.v1("down", "-v", "-t", "1")
    assert v1.inspect() == {}
    assert docker_cli(v1.d, "network", "inspect", f"{n}_default").returncode != 0
    assert docker_cli(v1.d, "volume", "inspect", f"{n}_data").returncode != 0


def test_switching_tools_on_a_running_project(v1: V1Project) -> None:
    """Each tool takes over the other's running project: the config hashes differ (each
    tool hashes its own model), so the takeover recreates the services once under the
    tool's own names, on the same network and named volume, and then it is a no-op."""
    n = v1.name
    v1.v1("up", "-d")
    web = v1.inspect()[f"{n}_web_1"]
    assert docker_cli(v1.d, "exec", web["Id"], "sh", "-c", "echo kept > /data/seen").returncode == 0
    took = v1.ours("up", "-d").stderr.decode()
    boxes = v1.inspect()
    assert set(boxes) == {f"{n}-web-1", f"{n}-client-1"}, (took, sorted(boxes))
    assert boxes[f"{n}-web-1"]["State"]["Health"]["Status"] == "healthy"
    assert wait_exit(v1.d, boxes[f"{n}-client-1"]["Id"]) == 0
    assert "kept" in v1.ours("logs", "client").stdout.decode()
    again = v1.ours("up", "-d").stderr.decode()
    assert "Recreate" not in again and "Creat" not in again, again

    back = v1.v1("up", "-d").stderr.decode()
    boxes = v1.inspect()
    assert set(boxes) == {f"{n}_web_1", f"{n}_client_1"}, (back, sorted(boxes))
    assert boxes[f"{n}_web_1"]["State"]["Running"]
    assert wait_exit(v1.d, boxes[f"{n}_client_1"]["Id"]) == 0
    logs = v1.v1("logs", "client").stdout.decode()
    assert "kept" in logs and "client-done" in logs, logs
    v1.v1("down", "-v", "-t", "1")
    assert v1.inspect() == {}
    assert docker_cli(v1.d, "volume", "inspect", f"{n}_data").returncode != 0


def test_exec_and_run_rm_through_the_docker_cli(v1: V1Project) -> None:
    """compose 1.29's default interactive path: `exec` and `run` hand over to the docker
    CLI (`docker start --attach --interactive`), which attaches before the start."""
    n = v1.name
    v1.v1("up", "-d", "web")
    out = v1.v1("exec", "-T", "web", "cat", "/www/index.html").stdout
    assert out == b"hello-from-web\n"
    env = {k: v for k, v in v1.d.env.items() if k != "COMPOSE_INTERACTIVE_NO_CLI"}
    env["DOCKER_CONFIG"] = str(v1.d.base / "docker-config")
    p = subprocess.run(
        [
            COMPOSE_V1,
            "--ansi",
            "never",
            "-p",
            n,
            "-f",
            str(v1.file),
            "run",
            "--rm",
            "client",
            "sh",
            "-c",
            'echo "got $(cat)"; wget -q -O- http://web/; exit 3',
        ],
        input=b"from-stdin",
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 3, p.stderr
    assert p.stdout == b"got from-stdin\nhello-from-web\n", (p.stdout, p.stderr)
    assert set(v1.inspect()) == {f"{n}_web_1"}  # the one-off was removed


def test_logs_follow_is_live(v1: V1Project) -> None:
    """`docker-compose logs -f` shows lines as the container writes them."""
    v1.file.write_text(
        textwrap.dedent("""
        version: '2.4'
        services:
          t:
            image: busybox
            command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$$((i+1)); echo tick-$$i; sleep 0.3; done"]
    """)  # noqa: E501
    )
    v1.v1("up", "-d")
    env = {**v1.d.env, "COMPOSE_INTERACTIVE_NO_CLI": "1"}
    proc = subprocess.Popen(
        [
            COMPOSE_V1,
            "--ansi",
            "never",
            "-p",
            v1.name,
            "-f",
            str(v1.file),
            "logs",
            "-f",
            "--tail",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    watchdog = threading.Timer(20, proc.kill)  # a batching follow would block readline
    watchdog.start()
    try:
        assert proc.stdout is not None
        seen: list[tuple[float, int]] = []
        while len(seen) < 4:
            line = proc.stdout.readline().decode()
            assert line, f"logs -f ended early after {seen}"
            if "| tick-" in line:
                seen.append((time.monotonic(), int(line.rsplit("tick-", 1)[1])))
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    numbers = [n for _, n in seen]
    assert numbers == list(range(numbers[0], numbers[0] + 4)), numbers
    # new lines arrive as written (about 0.3 s apart), not in one batch at the end
    assert seen[-1][0] - seen[1][0] > 0.3, seen
