"""kill -9 of the monitor: no container dies, no output line is lost, operations resume.

Containers print sequence numbers; after the kill the logs must hold every number once,
in order, and stop, exec and logs must work within 2 s. The 20-container version is
behind `-m full`.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time

import pytest

from support.daemon import Daemon, docker_cli
from support.monitor_pids import kill_monitor, wait_new_worker, warden_pid, worker_pid

pytestmark = pytest.mark.root

SEQ = "i=0; while true; do i=$((i+1)); echo seq $i; echo err $i >&2; sleep 0.01; done"


def _numbers(text: str, word: str) -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith(word + " ")]


def _check_no_gap(d: Daemon, name: str) -> int:
    p = docker_cli(d, "logs", name)
    assert p.returncode == 0, p.stderr
    for word, text in (("seq", p.stdout.decode()), ("err", p.stderr.decode())):
        nums = _numbers(text, word)
        assert nums, f"{name}: no {word} lines"
        assert nums == list(range(1, len(nums) + 1)), (
            f"{name} {word}: lines lost or repeated around "
            f"{[a for a, b in itertools.pairwise(nums) if b != a + 1][:5]}"
        )
    return len(_numbers(p.stdout.decode(), "seq"))


def _inspect(d: Daemon, name: str) -> dict[str, object]:
    p = docker_cli(d, "inspect", name)
    assert p.returncode == 0, p.stderr
    state: dict[str, object] = json.loads(p.stdout)[0]["State"]
    return state


def _crash_and_recover(d: Daemon, n: int) -> None:
    names = [f"mc{os.getpid()}x{i}" for i in range(n)]
    pids = {}
    try:
        for nm in names:
            p = docker_cli(d, "run", "-d", "--name", nm, "busybox", "sh", "-c", SEQ)
            assert p.returncode == 0, p.stderr
        for nm in names:
            pids[nm] = _inspect(d, nm)["Pid"]
        time.sleep(0.5)
        old = worker_pid(d.exec_root)
        assert old and warden_pid(d.exec_root)
        events = DockerEvents(d)
        os.kill(old, signal.SIGKILL)
        t0 = time.monotonic()
        stop = docker_cli(d, "stop", "-t", "1", names[0])
        assert stop.returncode == 0, stop.stderr
        ex = docker_cli(d, "exec", names[1], "echo", "exec-ok")
        assert ex.returncode == 0 and ex.stdout == b"exec-ok\n", ex
        logs = docker_cli(d, "logs", "--tail", "2", names[2])
        out = logs.stdout + logs.stderr  # the last two records: stdout, stderr or both
        assert logs.returncode == 0 and (b"seq " in out or b"err " in out), logs
        elapsed = time.monotonic() - t0
        assert elapsed < 2 + 1.2, f"stop (1 s timeout), exec and logs took {elapsed:.2f}s"
        assert wait_new_worker(d.exec_root, old)
        # the stopped container: its exit code came through the warden (SIGKILL after -t 1)
        st = _inspect(d, names[0])
        assert st["Running"] is False and st["ExitCode"] == 137, st
        time.sleep(0.5)
        for nm in names[1:]:
            st = _inspect(d, nm)
            assert st["Running"] is True and st["Pid"] == pids[nm], (nm, st)
            assert os.path.exists(f"/proc/{pids[nm]}")
        before = {nm: _check_no_gap(d, nm) for nm in names}
        time.sleep(0.3)
        for nm in names[1:]:
            assert _check_no_gap(d, nm) > before[nm], f"{nm} stopped logging"
        info = json.loads(docker_cli(d, "info", "--format", "{{json .}}").stdout)
        assert any("container monitor died" in w for w in info["Warnings"]), info["Warnings"]
        seen = events.stop()
        assert "monitor-died" in seen and "monitor-restarted" in seen, seen
    finally:
        docker_cli(d, "rm", "-f", *names)


class DockerEvents:
    """`docker events --filter type=daemon` in the background."""

    def __init__(self, d: Daemon) -> None:
        import subprocess

        from support.daemon import DOCKER

        env = {**d.env, "DOCKER_CONFIG": str(d.base / "docker-config")}
        self.proc = subprocess.Popen(
            [DOCKER, "events", "--filter", "type=daemon", "--format", "{{.Action}}"],
            stdout=subprocess.PIPE, env=env,
        )  # fmt: skip
        self.out = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        time.sleep(0.2)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out += line

    def stop(self) -> str:
        time.sleep(0.2)
        self.proc.kill()
        self.proc.wait()
        self.thread.join(5)
        return self.out.decode()


def test_monitor_kill_5_containers(daemon: Daemon) -> None:
    _crash_and_recover(daemon, 5)


@pytest.mark.full
def test_monitor_kill_20_containers(daemon: Daemon) -> None:
    _crash_and_recover(daemon, 20)


def test_monitor_kill_twice_then_daemon_restart(daemon: Daemon, name: str) -> None:
    """Two monitor crashes in a row, then a daemon kill -9 and restart: nothing killed."""
    p = docker_cli(daemon, "run", "-d", "--name", name, "busybox", "sh", "-c", SEQ)
    assert p.returncode == 0, p.stderr
    pid = _inspect(daemon, name)["Pid"]
    try:
        for _ in range(2):
            old = worker_pid(daemon.exec_root)
            os.kill(old, signal.SIGKILL)
            wait_new_worker(daemon.exec_root, old)
            time.sleep(0.2)
        daemon.stop(signal.SIGKILL)
        old = worker_pid(daemon.exec_root)
        os.kill(old, signal.SIGKILL)
        wait_new_worker(daemon.exec_root, old)
        daemon.start()
        st = _inspect(daemon, name)
        assert st["Running"] is True and st["Pid"] == pid, st
        n = _check_no_gap(daemon, name)
        time.sleep(0.3)
        assert _check_no_gap(daemon, name) > n
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_stdin_and_tty_survive_a_monitor_kill(daemon: Daemon, name: str) -> None:
    """An open stdin keeps its writer (no EOF) and a tty keeps its master (no hangup)."""
    p = docker_cli(daemon, "run", "-d", "-i", "--name", name, "busybox", "cat")
    assert p.returncode == 0, p.stderr
    t = docker_cli(daemon, "run", "-d", "-t", "--name", name + "t", "busybox", "sh", "-c", SEQ)
    assert t.returncode == 0, t.stderr
    try:
        old = worker_pid(daemon.exec_root)
        os.kill(old, signal.SIGKILL)
        wait_new_worker(daemon.exec_root, old)
        time.sleep(0.5)
        assert _inspect(daemon, name)["Running"] is True
        assert _inspect(daemon, name + "t")["Running"] is True

        # the tty keeps its master: output written after the kill still reaches the log
        def seq_lines() -> list[int]:
            out = docker_cli(daemon, "logs", name + "t").stdout.decode().replace("\r", "")
            return _numbers(out, "seq")

        after_kill = len(seq_lines())
        deadline = time.monotonic() + 15
        while len(nums := seq_lines()) <= after_kill + 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(nums) > after_kill + 5, (after_kill, nums[-3:])
        assert nums == list(range(1, len(nums) + 1))
    finally:
        docker_cli(daemon, "rm", "-f", name, name + "t")


def test_warden_and_monitor_killed_daemon_restart_kills_nothing(daemon: Daemon, name: str) -> None:
    """Both the warden and the monitor die: a daemon restart adopts the live container by
    pid and start time (exit code then unknown: 255), and never kills it."""
    p = docker_cli(daemon, "run", "-d", "--name", name, "busybox", "sleep", "300")
    assert p.returncode == 0, p.stderr
    pid = _inspect(daemon, name)["Pid"]
    try:
        daemon.stop(signal.SIGKILL)
        kill_monitor(daemon.exec_root)
        time.sleep(0.2)
        daemon.start()
        st = _inspect(daemon, name)
        assert st["Running"] is True and st["Pid"] == pid, st
        stop = docker_cli(daemon, "stop", "-t", "1", name)
        assert stop.returncode == 0, stop.stderr
        assert not _alive(pid)
        assert _inspect(daemon, name)["ExitCode"] == 255
    finally:
        docker_cli(daemon, "rm", "-f", name)


def _alive(pid: object) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 :][:1] not in (b"Z", b"X")


EXEC_SEQ = "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo line $i; sleep 0.05; done; exit 7"


def test_exec_session_survives_monitor_kill(daemon: Daemon, name: str) -> None:
    """`docker exec` streaming its output while the monitor is killed: the session goes on
    (the warden held the socket and the pipes; the new worker serves them again), every
    line arrives, and the exit code (7) reaches the CLI."""
    import subprocess

    from support.daemon import DOCKER

    p = docker_cli(daemon, "run", "-d", "--name", name, "busybox", "sleep", "300")
    assert p.returncode == 0, p.stderr
    try:
        env = {**daemon.env, "DOCKER_CONFIG": str(daemon.base / "docker-config")}
        cli = subprocess.Popen(
            [DOCKER, "exec", name, "sh", "-c", EXEC_SEQ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        assert cli.stdout is not None
        first = cli.stdout.readline()
        assert first == b"line 1\n", first
        time.sleep(0.5)
        old = worker_pid(daemon.exec_root)
        os.kill(old, signal.SIGKILL)
        out, err = cli.communicate(timeout=30)
        nums = _numbers((first + out).decode(), "line")
        # a kill between forwarding a chunk and consuming it may send that chunk twice
        assert sorted(set(nums)) == list(range(1, 41)), nums
        assert len(nums) - len(set(nums)) <= 2, nums
        assert cli.returncode == 7, (cli.returncode, err)
        assert wait_new_worker(daemon.exec_root, old)
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_detached_exec_reports_its_exit_after_monitor_kill(daemon: Daemon, name: str) -> None:
    """An exec started detached (docker-py) keeps running through a monitor kill, and its
    exit code still reaches `exec inspect`."""
    import docker

    p = docker_cli(daemon, "run", "-d", "--name", name, "busybox", "sleep", "300")
    assert p.returncode == 0, p.stderr
    api = docker.APIClient(base_url=daemon.host, timeout=30)
    try:
        eid = api.exec_create(name, ["sh", "-c", "sleep 1.5; exit 5"])["Id"]
        api.exec_start(eid, detach=True)
        pid = api.exec_inspect(eid)["Pid"]
        old = worker_pid(daemon.exec_root)
        os.kill(old, signal.SIGKILL)
        assert wait_new_worker(daemon.exec_root, old)
        assert os.path.exists(f"/proc/{pid}"), "the exec died with the monitor"
        info = api.exec_inspect(eid)
        assert info["Running"] is True, info
        deadline = time.monotonic() + 10
        while api.exec_inspect(eid)["Running"] and time.monotonic() < deadline:
            time.sleep(0.1)
        info = api.exec_inspect(eid)
        assert info["Running"] is False and info["ExitCode"] == 5, info
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_attach_session_survives_monitor_kill(daemon: Daemon, name: str) -> None:
    """`docker attach` to a running container: after a monitor kill the same session
    still carries the container's output."""
    import subprocess

    from support.daemon import DOCKER

    script = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done"
    p = docker_cli(daemon, "run", "-d", "--name", name, "busybox", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    env = {**daemon.env, "DOCKER_CONFIG": str(daemon.base / "docker-config")}
    cli = subprocess.Popen(
        [DOCKER, "attach", "--no-stdin", name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert cli.stdout is not None
        assert cli.stdout.readline().startswith(b"tick ")
        old = worker_pid(daemon.exec_root)
        os.kill(old, signal.SIGKILL)
        assert wait_new_worker(daemon.exec_root, old)
        time.sleep(0.3)
        # lines keep coming on the same connection, well after the kill
        got = [cli.stdout.readline() for _ in range(30)]
        assert all(line.startswith(b"tick ") for line in got), got
        assert cli.poll() is None, "the attach session ended with the monitor"
    finally:
        cli.kill()
        cli.wait()
        docker_cli(daemon, "rm", "-f", name)
