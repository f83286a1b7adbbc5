"""The real docker CLI (28.x) against wharfied, DOCKER_HOST set: the issue's must-shows."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from support.daemon import DOCKER, Daemon, daemon_runtime, docker_cli, sleeper

pytestmark = pytest.mark.root


def out(p: subprocess.CompletedProcess[bytes]) -> str:
    return p.stdout.decode()


def test_run_rm_echo_hello(daemon: Daemon, name: str) -> None:
    p = docker_cli(daemon, "run", "--rm", "--name", name, "busybox", "echo", "hello")
    assert p.returncode == 0, p.stderr
    assert out(p) == "hello\n"
    # docker run --rm returns after the removal: the container is gone at once.
    left = docker_cli(daemon, "ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Names}}")
    assert left.returncode == 0, left.stderr
    assert out(left) == ""
    gone = docker_cli(daemon, "inspect", name)
    assert gone.returncode == 1 and b"No such object" in gone.stderr, gone.stderr


def test_detached_ps_logs_stop_rm(daemon: Daemon, name: str) -> None:
    p = docker_cli(
        daemon,
        "run",
        "-d",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    )
    assert p.returncode == 0, p.stderr
    cid = out(p).strip()
    assert len(cid) == 64
    ps = out(docker_cli(daemon, "ps", "--format", "{{.Names}} {{.Status}}"))
    assert f"{name} Up" in ps
    follow = subprocess.Popen(
        [DOCKER, "logs", "-f", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=daemon.env
    )
    assert follow.stdout is not None
    ready, _, _ = select.select([follow.stdout], [], [], 10)
    # logs -f streams as the log grows: the first line arrives while the container runs
    assert ready and os.read(follow.stdout.fileno(), 100) == b"started\n"
    stop = docker_cli(daemon, "stop", name)
    assert stop.returncode == 0, stop.stderr
    assert out(stop).strip() == name
    logs, _ = follow.communicate(timeout=20)
    assert follow.returncode == 0
    assert logs.decode() == "bye\n"
    inspect = json.loads(out(docker_cli(daemon, "inspect", name)))[0]
    assert inspect["State"]["Status"] == "exited"
    assert inspect["State"]["ExitCode"] == 0
    assert docker_cli(daemon, "stop", name).returncode == 0  # 304 is success
    rm = docker_cli(daemon, "rm", name)
    assert rm.returncode == 0, rm.stderr
    assert docker_cli(daemon, "inspect", name).returncode != 0
    assert not (daemon.data / "containers" / cid).exists()
    assert not (daemon.exec_root / "containers" / cid).exists()


def test_start_attach_of_an_exited_container_streams_the_new_run(daemon: Daemon, name: str) -> None:
    p = docker_cli(daemon, "run", "--name", name, "busybox", "sh", "-c", "echo run; exit 3")
    assert (p.returncode, out(p)) == (3, "run\n"), p.stderr
    for _ in range(2):  # `start -a` attaches first (the container is exited), then starts
        p = docker_cli(daemon, "start", "-a", name, timeout=30)
        assert (p.returncode, out(p)) == (3, "run\n"), p.stderr
    assert docker_cli(daemon, "rm", name).returncode == 0


def test_stdin_pipe(daemon: Daemon) -> None:
    p = docker_cli(daemon, "run", "-i", "--rm", "busybox", "cat", input=b"hi\n")
    assert p.returncode == 0, p.stderr
    assert out(p) == "hi\n"


def test_run_it_under_a_pty(daemon: Daemon) -> None:
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(daemon.env)
        os.execv(DOCKER, [DOCKER, "run", "-it", "--rm", "busybox", "sh"])
    seen = b""

    def read_until(token: bytes, timeout: float = 15) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while token not in seen and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        assert token in seen, seen

    read_until(b"# ")
    os.write(fd, b"echo $((6*7))\n")
    read_until(b"42")
    os.write(fd, b"exit 3\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 3


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["busybox", "sh", "-c", "exit 7"], 7),
        (["busybox", "nosuchcommand"], 127),
        (["busybox", "/etc/passwd"], 126),
        (["--nosuchflag", "busybox"], 125),
        (["nosuchimage:1"], 125),
    ],
)
def test_exit_codes(daemon: Daemon, args: list[str], code: int) -> None:
    if code in (126, 127) and daemon_runtime() == "crun":
        # crun's wording ("... not found in $PATH: No such file or directory", "open
        # executable: Permission denied") escapes the docker CLI's case-sensitive checks
        # for 127 and 126, as it would with dockerd on crun
        code = 125
    p = docker_cli(daemon, "run", "--rm", *args)
    assert p.returncode == code, p.stderr


def test_exec_cp_stats_top_pause(daemon: Daemon, name: str, tmp_path: Path) -> None:
    sleeper(daemon, name)
    try:
        p = docker_cli(daemon, "exec", name, "sh", "-c", "echo in-$HOSTNAME; exit 5")
        assert p.returncode == 5
        assert out(p).startswith("in-")
        src = tmp_path / "file.txt"
        src.write_text("payload\n")
        assert docker_cli(daemon, "cp", str(src), f"{name}:/tmp/").returncode == 0
        assert out(docker_cli(daemon, "exec", name, "cat", "/tmp/file.txt")) == "payload\n"
        back = tmp_path / "back"
        cp = docker_cli(daemon, "cp", f"{name}:/etc/passwd", str(back))
        assert cp.returncode == 0, cp.stderr
        assert back.read_text().startswith("root:")
        stats = docker_cli(daemon, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name)
        assert stats.returncode == 0, stats.stderr
        assert out(stats).strip() == f"{name} 1"
        top = docker_cli(daemon, "top", name)
        assert top.returncode == 0, top.stderr
        assert "sleep 300" in out(top)
        assert docker_cli(daemon, "pause", name).returncode == 0
        state = out(docker_cli(daemon, "inspect", "-f", "{{.State.Status}}", name)).strip()
        assert state == "paused"
        assert docker_cli(daemon, "unpause", name).returncode == 0
        state = out(docker_cli(daemon, "inspect", "-f", "{{.State.Status}}", name)).strip()
        assert state == "running"
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_exec_it(daemon: Daemon, name: str) -> None:
    sleeper(daemon, name)
    try:
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(daemon.env)
            os.execv(DOCKER, [DOCKER, "exec", "-it", name, "sh"])
        seen = b""
        deadline = time.monotonic() + 15
        os.write(fd, b"echo tty-$((2+3)); tty; exit 4\n")
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        assert b"tty-5" in seen
        assert b"/dev/pts/" in seen
        assert os.waitstatus_to_exitcode(status) == 4
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_events_inspect_commit(daemon: Daemon, name: str) -> None:
    since = str(int(time.time()) - 1)
    p = docker_cli(daemon, "run", "--name", name, "busybox", "sh", "-c", "echo data > /made")
    assert p.returncode == 0, p.stderr
    until = str(int(time.time()) + 1)
    ev = docker_cli(
        daemon,
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        f"container={name}",
        "--format",
        "{{.Action}}",
    )
    actions = out(ev).split()
    assert actions[:3] == ["create", "attach", "start"] or actions[:2] == ["create", "start"]
    assert "die" in actions
    image = f"committed-{name}:v1"
    commit = docker_cli(daemon, "commit", "-c", 'CMD ["cat", "/made"]', name, image)
    assert commit.returncode == 0, commit.stderr
    run = docker_cli(daemon, "run", "--rm", image)
    assert run.returncode == 0, run.stderr
    assert out(run) == "data\n"
    docker_cli(daemon, "rm", name)
    assert docker_cli(daemon, "rmi", image).returncode == 0
