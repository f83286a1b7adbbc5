"""VM-isolated containers through the real docker CLI against a real wharfied (QEMU TCG here).

Unmarked: two boots (a `run --rm` that checks isolation, memory, exit code and the warning; a
`run -d` with a published port, a volume, exec, logs -f and stop) and the refusals that boot
nothing. The rest is `full`.
"""

from __future__ import annotations

import json
import os
import platform
import pty
import select
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from vm_support import vm_leftovers

from support.daemon import Daemon, docker_cli, wharfie_cli

pytestmark = pytest.mark.root

BOOT = 240.0  # seconds: TCG on a loaded 2-core machine is slow


def _root(d: Daemon) -> Path:
    return d.exec_root / "runtime" / "wharfie-vm"


def _guest_release() -> str:
    from wharfie.vm import assets

    return assets.find_kernel().release


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_log(d: Daemon, name: str, text: str, timeout: float = BOOT) -> str:
    until = time.monotonic() + timeout
    out = ""
    while time.monotonic() < until:
        p = docker_cli(d, "logs", name)
        out = (p.stdout + p.stderr).decode(errors="replace")
        if text in out:
            return out
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in the logs of {name} after {timeout} s: {out!r}")


def test_run_rm_isolated_guest(vm_daemon: Daemon) -> None:
    """Own kernel, no host processes, --memory sizes the VM, stdin, exit code, the warning."""
    script = (
        'echo hello; echo "$A"; uname -r; ps -o pid,comm; grep MemTotal /proc/meminfo; wc -c;'
        " exit 3"
    )
    # 3 MiB through stdin, more than any pipe holds (text: the engine's monitor applies the
    # detach keys ctrl-p ctrl-q to non-tty stdin too, which binary data would trip)
    data = b"0123456789abcdef" * (3 << 16)
    p = docker_cli(vm_daemon, "run", "-i", "--rm", "--runtime", "wharfie-vm", "--memory",
                   "256m", "-e", "A=b=c", "busybox", "sh", "-c", script, input=data,
                   timeout=BOOT)  # fmt: skip
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 3, (out, err)
    lines = out.splitlines()
    assert lines[0] == "hello"
    assert lines[1] == "b=c"  # values with "=" in them reach the guest whole
    assert lines[2] == _guest_release()
    assert lines[2] != platform.release() or "guest and host run the same kernel release"
    assert lines[-1] == str(len(data))
    procs = [ln.split() for ln in lines[4:-2]]
    assert [c for _, c in procs] == ["sh", "ps"], out  # the host's processes are not there
    mem_kib = int(lines[-2].split()[1])
    assert 150 * 1024 < mem_kib <= 256 * 1024, lines[-2]
    if os.environ.get("WHARFIE_VM_ACCEL") != "kvm":
        assert "KVM is not usable" in err and "TCG" in err
    assert not vm_leftovers(_root(vm_daemon))


def test_detached_port_volume_exec_logs_stop(vm_daemon: Daemon, name: str) -> None:
    port = _free_port()
    vol = f"{name}-vol"
    script = (
        'trap "echo bye; exit 0" TERM; echo started; mkdir -p /www; echo hi-from-vm > '
        "/www/index.html; httpd -p 80 -h /www; while :; do sleep 1; done"
    )
    p = docker_cli(vm_daemon, "run", "-d", "--name", name, "--runtime", "wharfie-vm",
                   "-p", f"127.0.0.1:{port}:80", "-v", f"{vol}:/data", "busybox", "sh", "-c",
                   script, timeout=BOOT)  # fmt: skip
    try:
        assert p.returncode == 0, p.stderr
        _wait_log(vm_daemon, name, "started")
        ex = docker_cli(vm_daemon, "exec", name, "sh", "-c",
                        "echo written-in-vm > /data/f; cat /proc/1/cmdline | head -c 2; exit 4",
                        timeout=BOOT)  # fmt: skip
        assert ex.returncode == 4, ex.stderr
        assert ex.stdout == b"sh"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as r:
            assert r.read() == b"hi-from-vm\n"
        follow = subprocess.Popen(
            ["docker", "logs", "-f", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**vm_daemon.env, "DOCKER_CONFIG": str(vm_daemon.base / "docker-config")},
        )  # fmt: skip
        st = docker_cli(vm_daemon, "stop", "-t", "60", name, timeout=BOOT)
        assert st.returncode == 0, st.stderr
        out, _ = follow.communicate(timeout=60)
        assert follow.returncode == 0
        assert out.decode().splitlines() == ["started", "bye"]
        doc = json.loads(docker_cli(vm_daemon, "inspect", name).stdout)[0]
        assert doc["State"]["ExitCode"] == 0 and doc["State"]["Status"] == "exited"
        assert doc["HostConfig"]["Runtime"] == "wharfie-vm"
        if os.environ.get("WHARFIE_VM_ACCEL") != "kvm":
            assert any("KVM is not usable" in w for w in doc["RuntimeWarnings"])
        # a normal container reads what the VM wrote in the volume
        rd = docker_cli(vm_daemon, "run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/f")
        assert rd.stdout == b"written-in-vm\n", rd.stderr
        assert not vm_leftovers(_root(vm_daemon))
        cid = doc["Id"]
        assert docker_cli(vm_daemon, "rm", name).returncode == 0
        for base in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup", "/sys/fs/cgroup/memory"):
            assert not os.path.exists(f"{base}/wharfie/{cid}"), "the VM's cgroup is left"
    finally:
        docker_cli(vm_daemon, "rm", "-f", name)
        docker_cli(vm_daemon, "volume", "rm", "-f", vol)


def test_unsupported_spec_feature_is_refused_cleanly(vm_daemon: Daemon, name: str) -> None:
    p = docker_cli(vm_daemon, "run", "--name", name, "--runtime", "wharfie-vm",
                   "--device", "/dev/fuse", "busybox", "true", timeout=BOOT)  # fmt: skip
    try:
        err = p.stderr.decode()
        assert p.returncode != 0
        assert "linux.devices (/dev/fuse): host devices cannot be passed into the VM" in err
        assert "Traceback" not in err
        assert not vm_leftovers(_root(vm_daemon))
        # the daemon keeps serving
        assert docker_cli(vm_daemon, "ps", "-a").returncode == 0
    finally:
        docker_cli(vm_daemon, "rm", "-f", name)


def test_info_shows_the_accelerator_warning(vm_daemon: Daemon) -> None:
    info = json.loads(docker_cli(vm_daemon, "info", "--format", "{{json .}}").stdout)
    assert "wharfie-vm" in info["Runtimes"]
    if os.environ.get("WHARFIE_VM_ACCEL") != "kvm":
        assert any("KVM is not usable" in w for w in info["Warnings"]), info["Warnings"]


def _pty_session(d: Daemon, argv: list[str], line: bytes) -> tuple[str, int]:
    """Run the docker CLI on a 33x101 terminal, type `line` at the first prompt."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    env = {**d.env, "DOCKER_CONFIG": str(d.base / "docker-config")}
    proc = subprocess.Popen(["docker", *argv], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True)  # fmt: skip
    os.close(slave)
    out = b""
    sent = False
    until = time.monotonic() + BOOT
    while time.monotonic() < until and proc.poll() is None:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
        if not sent and b"# " in out:
            os.write(master, line)
            sent = True
    proc.wait(30)
    os.close(master)
    return out.decode(errors="replace"), proc.returncode


@pytest.mark.full
def test_run_it_terminal(vm_daemon: Daemon) -> None:
    argv = ["run", "-it", "--rm", "--runtime", "wharfie-vm", "busybox", "sh"]
    text, code = _pty_session(vm_daemon, argv, b"echo in-vm-$((6*7)); stty size; tty; exit 5\r")
    assert "in-vm-42" in text and "33 101" in text and "/dev/pts/0" in text, text
    assert code == 5


@pytest.mark.full
def test_wharfie_cli_isolation_vm(vm_daemon: Daemon) -> None:
    p = wharfie_cli(vm_daemon, "run", "--rm", "--isolation", "vm", "busybox", "uname", "-r",
                    timeout=BOOT)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().strip() == _guest_release()


@pytest.mark.full
def test_pause_resume_and_exit_of_exec(vm_daemon: Daemon, name: str) -> None:
    p = docker_cli(vm_daemon, "run", "-d", "--name", name, "--runtime", "wharfie-vm", "busybox",
                   "sh", "-c", "echo up; while :; do sleep 1; done", timeout=BOOT)  # fmt: skip
    try:
        assert p.returncode == 0, p.stderr
        _wait_log(vm_daemon, name, "up")
        assert docker_cli(vm_daemon, "pause", name).returncode == 0
        st = json.loads(docker_cli(vm_daemon, "inspect", name).stdout)[0]["State"]
        assert st["Paused"] is True
        assert docker_cli(vm_daemon, "unpause", name).returncode == 0
        ex = docker_cli(vm_daemon, "exec", name, "sh", "-c", "exit 9", timeout=BOOT)
        assert ex.returncode == 9
        text, code = _pty_session(vm_daemon, ["exec", "-it", name, "sh"],
                                  b"sleep 1; stty size; exit 6\r")  # fmt: skip
        assert "33 101" in text and code == 6, text
        assert docker_cli(vm_daemon, "kill", name).returncode == 0
        w = docker_cli(vm_daemon, "wait", name, timeout=BOOT)
        assert w.stdout.strip() == b"137"
    finally:
        docker_cli(vm_daemon, "rm", "-f", name)
    assert not vm_leftovers(_root(vm_daemon))


@pytest.mark.full
def test_restart_policy_and_health_check(vm_daemon: Daemon, name: str) -> None:
    """Both go through the normal engine paths: a restart is a new VM; the check is an exec."""
    p = docker_cli(vm_daemon, "run", "-d", "--name", name, "--runtime", "wharfie-vm",
                   "--restart", "on-failure:1", "--health-cmd", "test -e /tmp/ok",
                   "--health-interval", "2s", "--health-retries", "1", "busybox", "sh", "-c",
                   "echo run; touch /tmp/ok; sleep 8; exit 3", timeout=BOOT)  # fmt: skip
    try:
        assert p.returncode == 0, p.stderr
        until = time.monotonic() + 2 * BOOT
        seen: set[str] = set()
        restarts = 0
        while time.monotonic() < until:
            doc = json.loads(docker_cli(vm_daemon, "inspect", name).stdout)[0]
            seen.add((doc["State"].get("Health") or {}).get("Status", ""))
            restarts = doc["RestartCount"]
            if restarts >= 1 and doc["State"]["Status"] == "exited":
                break
            time.sleep(1)
        assert restarts == 1
        assert doc["State"]["ExitCode"] == 3
        assert "healthy" in seen, seen
        logs = docker_cli(vm_daemon, "logs", name).stdout.decode().split()
        assert logs == ["run", "run"]
    finally:
        docker_cli(vm_daemon, "rm", "-f", name)
    assert not vm_leftovers(_root(vm_daemon))


@pytest.mark.full
def test_wharfie_bench_isolation(vm_daemon: Daemon, tmp_path: Path) -> None:
    chart = tmp_path / "isolation.svg"
    p = wharfie_cli(vm_daemon, "bench", "isolation", "--rounds", "1", "--chart", str(chart),
                    timeout=3 * BOOT)  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    for row in ("start s", "cpu loop s", "seq write s", "rand read s", "memory MiB", "image MiB"):
        assert row in out, out
    assert "accelerator for VMs" in out
    assert chart.read_text().startswith("<svg")
    assert not vm_leftovers(_root(vm_daemon))


@pytest.mark.full
def test_vm_container_survives_a_daemon_restart(vm_daemon: Daemon, name: str) -> None:
    p = docker_cli(vm_daemon, "run", "-d", "--name", name, "--runtime", "wharfie-vm", "busybox",
                   "sh", "-c", "echo up; while :; do sleep 1; done", timeout=BOOT)  # fmt: skip
    try:
        assert p.returncode == 0, p.stderr
        _wait_log(vm_daemon, name, "up")
        vm_daemon.stop()
        vm_daemon.start()
        st = json.loads(docker_cli(vm_daemon, "inspect", name).stdout)[0]["State"]
        assert st["Running"] is True
        ex = docker_cli(vm_daemon, "exec", name, "cat", "/proc/1/cmdline", timeout=BOOT)
        assert ex.returncode == 0 and ex.stdout.startswith(b"sh"), ex.stderr
        assert docker_cli(vm_daemon, "kill", name).returncode == 0
        assert docker_cli(vm_daemon, "wait", name, timeout=BOOT).stdout.strip() == b"137"
    finally:
        docker_cli(vm_daemon, "rm", "-f", name)
    assert not vm_leftovers(_root(vm_daemon))


def test_user_network_names_resolve_in_the_guest(vm_daemon: Daemon, name: str) -> None:
    """The embedded DNS (127.0.0.11 in the container's namespace) answers the guest: a VM
    container finds a plain container of its user-defined network by name, and reaches it."""
    net = f"{name}-net"
    web = f"{name}-web"
    assert docker_cli(vm_daemon, "network", "create", net).returncode == 0
    try:
        serve = "mkdir /w; echo from-container > /w/i; httpd -f -p 80 -h /w"
        p = docker_cli(vm_daemon, "run", "-d", "--name", web, "--network", net, "busybox", "sh",
                       "-c", serve)  # fmt: skip
        assert p.returncode == 0, p.stderr
        doc = json.loads(docker_cli(vm_daemon, "inspect", web).stdout)[0]
        ip = doc["NetworkSettings"]["Networks"][net]["IPAddress"]
        script = f"nslookup {web}; ping -c1 -W10 {web}; wget -qO- http://{web}/i"
        got = docker_cli(vm_daemon, "run", "--rm", "--runtime", "wharfie-vm", "--network", net,
                         "busybox", "sh", "-c", script, timeout=BOOT)  # fmt: skip
        out = got.stdout.decode()
        assert got.returncode == 0, (out, got.stderr)
        assert "Server:\t\t127.0.0.11" in out, out
        assert f"Address: {ip}" in out, out  # nslookup's answer
        assert f"PING {web} ({ip})" in out and "1 packets received" in out, out
        assert out.endswith("from-container\n"), out
    finally:
        docker_cli(vm_daemon, "rm", "-f", web)
        docker_cli(vm_daemon, "network", "rm", net)
    assert not vm_leftovers(_root(vm_daemon))


@pytest.mark.full
def test_update_of_a_running_vm(vm_daemon: Daemon, name: str) -> None:
    """The VM's RAM and vCPUs are fixed while it runs: a change is refused clearly and
    nothing changes; once stopped, the update applies to the next start."""
    d = vm_daemon
    p = docker_cli(d, "run", "-d", "--name", name, "--runtime", "wharfie-vm", "--memory", "256m",
                   "busybox", "sleep", "1000", timeout=BOOT)  # fmt: skip
    assert p.returncode == 0, p.stderr
    try:
        p = docker_cli(d, "exec", name, "grep", "MemTotal", "/proc/meminfo", timeout=BOOT)
        before = int(p.stdout.split()[1])
        for flags in (["--memory", "300m"], ["--cpus", "2"]):
            p = docker_cli(d, "update", *flags, name)
            err = p.stderr.decode()
            assert p.returncode == 1 and "keeps the memory (256 MiB) and vCPUs (1)" in err, err
            assert "Stop the container, update it, and start it again" in err
        mem = docker_cli(d, "inspect", "-f", "{{.HostConfig.Memory}}", name).stdout.strip()
        assert mem == str(256 << 20).encode()  # unchanged
        assert docker_cli(d, "update", "--cpu-shares", "512", name).returncode == 0
        assert docker_cli(d, "stop", "-t", "1", name, timeout=60).returncode == 0
        assert docker_cli(d, "update", "--memory", "300m", name).returncode == 0
        mem = docker_cli(d, "inspect", "-f", "{{.HostConfig.Memory}}", name).stdout.strip()
        assert mem == str(300 << 20).encode()
        assert docker_cli(d, "start", name, timeout=BOOT).returncode == 0
        p = docker_cli(d, "exec", name, "grep", "MemTotal", "/proc/meminfo", timeout=BOOT)
        after = int(p.stdout.split()[1])
        assert 40 * 1024 <= after - before <= 44 * 1024, (before, after)  # 44 MiB more RAM
    finally:
        docker_cli(d, "rm", "-f", name, timeout=60)
    assert not vm_leftovers(_root(d))
