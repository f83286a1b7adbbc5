"""exec into a running container: namespaces, cgroup, exit codes, options, --process, tty.

Observed with runc 1.1.5 (container `sleep 1000` started with `run -d`):
  `exec ID sh -c 'echo $$; ...'` -> a small pid (6), /proc/self/cgroup all "/" (cgroup ns),
  the spec hostname, and /proc/self/ns/* equal to the init's seen from the host;
  `exec ID sh -c 'exit 7'` -> exit 7;
  `exec -e FOO=bar --cwd /tmp -u 1000:1000 ID sh -c ...` -> bar, /tmp, uid=1000 gid=1000;
  `exec --process proc.json ID` runs that process (args, env, cwd, user);
  `exec -t ID ...` needs a terminal on stdin: "exec failed: open /dev/tty: no such device or
  address"; `exec -t --console-socket S ID` without -d: "exec failed: cannot use console
  socket if runc will not detach or allocate tty"; `exec -d -t --console-socket S ID tty`
  sends the master, which reads "/dev/pts/0\\r\\n";
  exec on an unknown id -> exit 255 "exec failed: container does not exist";
  exec on a stopped container -> exit 255 "exec failed: cannot exec in a stopped container".
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from support.console_socket import ConsoleSocket
from support.oci_runtime import Container, Runtime

pytestmark = pytest.mark.root

NS_KINDS = ("pid", "net", "ipc", "uts", "mnt", "cgroup")


@pytest.fixture
def running(ctr: Container) -> Container:
    ctr.set_args("sleep", "1000")
    ctr.spec["hostname"] = "exec-probe"
    ctr.run_detached().check()
    assert ctr.status() == "running"
    return ctr


def test_exec_joins_namespaces_and_cgroup(running: Container) -> None:
    pid = running.init_pid()
    script = (
        "echo self=$$; echo host=$(hostname); "
        + "; ".join(f"echo {k}=$(readlink /proc/self/ns/{k})" for k in NS_KINDS)
        + "; echo ---; cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup"
    )
    res = running.exec("sh", "-c", script).check()
    head, own_cgroup, init_cgroup = res.stdout.split("---\n")
    values = dict(line.split("=", 1) for line in head.split())
    assert values["host"] == "exec-probe"
    assert 1 < int(values["self"]) < 100
    for kind in NS_KINDS:
        assert values[kind] == os.readlink(f"/proc/{pid}/ns/{kind}"), kind
    assert own_cgroup == init_cgroup, res.stdout
    assert own_cgroup.strip()


def test_exec_process_is_in_the_container_cgroup_on_the_host(running: Container) -> None:
    res = running.rt("ps", "--format", "json", running.id).check()
    assert json.loads(res.stdout) == [running.init_pid()]
    spawned = running.rt.spawn("exec", running.id, "sleep", "1")
    try:
        for _ in range(100):
            pids = json.loads(running.rt("ps", "--format", "json", running.id).stdout)
            if len(pids) >= 2:
                break
            time.sleep(0.05)
        assert len(pids) == 2, pids
        assert running.init_pid() in pids
        spawned.wait(10).check()
    finally:
        spawned.stop()


@pytest.mark.parametrize("code", [0, 7, 42])
def test_exec_exit_code_propagates(running: Container, code: int) -> None:
    res = running.exec("sh", "-c", f"exit {code}")
    assert res.returncode == code, res.describe()


def test_exec_env_cwd_user(running: Container) -> None:
    res = running.exec(
        "-e", "FOO=bar", "--cwd", "/tmp", "-u", "1000:1000", "--",
        "/bin/sh", "-c", "echo $FOO; pwd; /bin/id -u; /bin/id -g",
    ).check()  # fmt: skip
    assert res.stdout.split() == ["bar", "/tmp", "1000", "1000"]


def test_exec_env_adds_to_the_spec_env(running: Container) -> None:
    """runc semantics: -e adds to (or overrides in) process.env, it does not replace it."""
    res = running.exec("-e", "FOO=bar", "-e", "TERM=dumb", "--", "/bin/env").check()
    env = dict(line.split("=", 1) for line in res.stdout.splitlines())
    assert env["FOO"] == "bar"
    assert env["TERM"] == "dumb"
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_exec_inherits_spec_env_by_default(running: Container) -> None:
    res = running.exec("sh", "-c", "echo $PATH; id -u; pwd").check()
    assert res.stdout.split() == [
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "0",
        "/",
    ]


def test_exec_process_json(running: Container) -> None:
    proc = {
        "terminal": False,
        "user": {"uid": 1, "gid": 1},
        "args": ["sh", "-c", "echo from-json $FOO; pwd; id -u; id -g"],
        "env": ["PATH=/bin", "FOO=pj"],
        "cwd": "/etc",
    }
    path = running.bundle / "proc.json"
    path.write_text(json.dumps(proc))
    res = running.exec("--process", str(path), "--").check()
    assert res.stdout.split() == ["from-json", "pj", "/etc", "1", "1"]


def test_exec_gets_the_container_capabilities(running: Container) -> None:
    res = running.exec("grep", "CapBnd", "/proc/self/status").check()
    assert res.stdout.split() == ["CapBnd:", "0000000020000420"]


def test_exec_with_tty_and_console_socket(running: Container, short_tmp: Path) -> None:
    console = ConsoleSocket(short_tmp / "exec.sock")
    try:
        running.exec(
            "-d", "-t", "--console-socket", str(console.path), "--",
            "sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; echo done-probe; sleep 0.2",
        ).check()  # fmt: skip
        out = console.read_until(b"done-probe").decode(errors="replace")
    finally:
        console.close()
    assert re.search(r"^/dev/pts/\d+\r$", out, re.M), out
    assert "stdin-is-tty" in out


def test_exec_missing_binary_fails(running: Container) -> None:
    res = running.exec("/no/such/binary")
    res.fails()
    assert re.search(r"no such file|not found|does not exist", res.stderr, re.I), res.describe()
    assert running.status() == "running"


def test_exec_on_stopped_container_fails(ctr: Container) -> None:
    ctr.set_args("true")
    ctr.create().check()
    ctr.start().check()
    assert ctr.wait_status("stopped") == "stopped"
    res = ctr.exec("true").fails()
    assert re.search(r"stopped|not running", res.stderr), res.describe()


def test_exec_on_unknown_container_fails(rt: Runtime) -> None:
    res = rt("exec", "wt-no-such-container", "true").fails()
    assert "does not exist" in res.stderr, res.describe()
