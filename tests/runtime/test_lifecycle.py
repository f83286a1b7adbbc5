"""Lifecycle commands: create/start/state/list/ps/kill/pause/resume/run/spec/features.

Observed with runc 1.1.5:
  `state` after create: {"ociVersion": "1.0.2-dev", "id", "pid": <init pid>, "status":
  "created", "bundle", "rootfs": "<bundle>/rootfs", "created": RFC 3339 with ns, "owner": ""};
  running after start; stopped (pid 0) after the process exits.
  `list` prints a table "ID PID STATUS BUNDLE CREATED OWNER"; `list --format json` a JSON
  array of the same state objects (owner "root" there).
  `ps ID` prints ps(1) output for the container's pids ("UID PID PPID C STIME TTY TIME
  CMD"); `ps --format json ID` prints a JSON array of host pids, e.g. [8166].
  `kill ID` sends TERM (an init `sleep` without a handler ignores it: pid-1 semantics);
  `kill ID KILL` and `kill ID 9` kill; `kill --all ID TERM` reaches non-init processes.
  `pause` -> status "paused", freezer.state FROZEN; `resume` -> running, THAWED.
  `run` exits with the process' exit code, 137 when the init is SIGKILLed; `run` removes
  the container when it exits ("container does not exist" afterwards).
  `spec` writes config.json; again -> exit 1, "File config.json exists. Remove it first".
  `features` prints JSON with ociVersionMin/ociVersionMax, hooks, mountOptions, linux...
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from support.oci_runtime import Container, MakeContainer, Runtime, cgroup_file, proc_alive

pytestmark = pytest.mark.root

STATE_KEYS = {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}


def parse_rfc3339(value: str) -> datetime:
    # Go prints nanoseconds; Python parses at most microseconds.
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", value)
    assert m, f"not RFC 3339: {value!r}"
    frac = (m[2] or ".0")[:7]
    return datetime.fromisoformat(m[1] + frac + m[3].replace("Z", "+00:00"))


def test_create_start_stopped_states(ctr: Container) -> None:
    ctr.shared_dir()
    ctr.sh("echo ran > /shared/ran; read line < /shared/fifo; exit 3")
    os.mkfifo(ctr.bundle / "shared" / "fifo")
    ctr.create().check()
    state = ctr.state()
    assert state["status"] == "created"
    assert state["pid"] > 0 and os.path.exists(f"/proc/{state['pid']}")
    time.sleep(0.1)
    assert not (ctr.bundle / "shared" / "ran").exists(), "process ran before start"
    ctr.start().check()
    assert ctr.state()["status"] == "running"
    deadline = time.monotonic() + 5
    while not (ctr.bundle / "shared" / "ran").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (ctr.bundle / "shared" / "ran").exists()
    (ctr.bundle / "shared" / "fifo").write_text("go\n")
    assert ctr.wait_status("stopped") == "stopped"
    ctr.delete().check()
    assert ctr.status() is None


def test_state_json_fields(ctr: Container) -> None:
    ctr.set_args("sleep", "1000")
    before = datetime.now().astimezone()
    ctr.create().check()
    state = ctr.state()
    assert set(state) >= STATE_KEYS, state
    assert state["id"] == ctr.id
    assert state["status"] == "created"
    assert isinstance(state["pid"], int) and state["pid"] > 0
    assert Path(state["bundle"]).resolve() == ctr.bundle.resolve()
    # runc reports an absolute path; accept one relative to the bundle too.
    assert (ctr.bundle / state["rootfs"]).resolve() == ctr.rootfs.resolve(), state
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[\w.]+)?", state["ociVersion"]), state
    created = parse_rfc3339(state["created"])
    assert abs((created - before).total_seconds()) < 60
    assert isinstance(state["owner"], str)


def test_list_shows_the_container(ctr: Container) -> None:
    ctr.set_args("sleep", "1000")
    ctr.run_detached().check()
    table = ctr.rt("list").check().stdout.splitlines()
    assert table[0].split()[1:3] == ["PID", "STATUS"], table  # runc "ID", crun "NAME"
    row = next(line.split() for line in table[1:] if line.split()[0] == ctr.id)
    assert row[1] == str(ctr.init_pid())
    assert row[2] == "running"
    listed = json.loads(ctr.rt("list", "--format", "json").check().stdout)
    mine = [c for c in listed if c["id"] == ctr.id]
    assert len(mine) == 1
    assert mine[0]["status"] == "running"
    assert mine[0]["pid"] == ctr.init_pid()


def test_list_empty_root(rt: Runtime) -> None:
    res = rt("list", "--format", "json").check()
    assert json.loads(res.stdout or "null") in (None, [])


def test_ps(ctr: Container) -> None:
    ctr.set_args("sleep", "1000")
    ctr.run_detached().check()
    pid = ctr.init_pid()
    table = ctr.rt("ps", ctr.id).check().stdout.splitlines()
    assert "PID" in table[0].split(), table  # runc: ps(1) output for the container's pids
    pid_col = table[0].split().index("PID")
    assert [int(line.split()[pid_col]) for line in table[1:]] == [pid]
    if "CMD" in table[0].split():  # runc's ps(1) table; crun prints only a PID column
        assert "sleep" in table[1]
    assert json.loads(ctr.rt("ps", "--format", "json", ctr.id).check().stdout) == [pid]


def term_trap_container(ctr: Container) -> Path:
    shared = ctr.shared_dir()
    ctr.sh(
        "trap 'echo got-term > /shared/term; exit 0' TERM; "
        "echo ready > /shared/ready; while true; do usleep 20000; done"
    )
    ctr.run_detached().check()
    wait_for(shared / "ready")
    return shared


def wait_for(path: Path, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return path.exists()


def test_kill_default_signal_is_term(ctr: Container) -> None:
    shared = term_trap_container(ctr)
    ctr.kill().check()
    assert wait_for(shared / "term"), "TERM not delivered"
    assert ctr.wait_status("stopped") == "stopped"


def test_kill_by_name_with_sig_prefix(ctr: Container) -> None:
    shared = term_trap_container(ctr)
    ctr.kill("SIGTERM").check()
    assert wait_for(shared / "term")


@pytest.mark.parametrize("sig", ["KILL", "9", "SIGKILL"])
def test_kill_kill(ctr: Container, sig: str) -> None:
    ctr.set_args("sleep", "1000")
    ctr.run_detached().check()
    pid = ctr.init_pid()
    ctr.kill(sig).check()
    assert ctr.wait_status("stopped") == "stopped"
    assert not proc_alive(pid, "")


def test_kill_all_reaches_every_process(ctr: Container) -> None:
    shared = ctr.shared_dir()
    # The init (no TERM handler, pid 1) ignores TERM; its children do not.
    ctr.sh("sleep 1000 & sleep 1000 & wait; echo children-gone > /shared/gone; exec sleep 1000")
    ctr.run_detached().check()
    time.sleep(0.2)
    ctr.kill("TERM").check()
    time.sleep(0.3)
    assert not (shared / "gone").exists(), "TERM to the init alone should not end its children"
    assert ctr.status() == "running"
    ctr.kill("TERM", all_processes=True).check()
    assert wait_for(shared / "gone"), "kill --all did not reach the children"
    ctr.kill("KILL", all_processes=True).check()
    assert ctr.wait_status("stopped") == "stopped"


def test_pause_and_resume(ctr: Container) -> None:
    shared = ctr.shared_dir()
    ctr.sh("i=0; while true; do i=$((i+1)); echo $i >> /shared/ticks; usleep 50000; done")
    ctr.run_detached().check()
    ticks = shared / "ticks"
    assert wait_for(ticks)

    def count() -> int:
        return len(ticks.read_text().split())

    ctr.rt("pause", ctr.id).check()
    assert ctr.status() == "paused"
    freezer = cgroup_file("freezer", ctr.cgroup_path, "freezer.state", "cgroup.freeze")
    assert freezer.read_text().strip() in ("FROZEN", "1")
    paused_at = count()
    time.sleep(0.5)
    assert count() == paused_at, "the container advanced while paused"
    ctr.rt("resume", ctr.id).check()
    assert ctr.status() == "running"
    assert freezer.read_text().strip() in ("THAWED", "0")
    time.sleep(0.5)
    assert count() > paused_at + 2, "the container did not advance after resume"


def test_pause_of_a_stopped_container_fails(ctr: Container) -> None:
    ctr.set_args("true")
    ctr.create().check()
    ctr.start().check()
    assert ctr.wait_status("stopped") == "stopped"
    res = ctr.rt("pause", ctr.id).fails()
    assert re.search(r"not running|stopped", res.stderr), res.describe()


@pytest.mark.parametrize("code", [0, 3, 77])
def test_run_exits_with_the_process_exit_code(ctr: Container, code: int) -> None:
    ctr.sh(f"echo out; exit {code}")
    res = ctr.run()
    assert res.returncode == code, res.describe()
    assert res.stdout == "out\n"


def test_run_removes_the_container_when_it_exits(ctr: Container) -> None:
    ctr.set_args("true")
    ctr.run().check()
    ctr.rt("state", ctr.id).fails()
    assert not (ctr.rt.root / ctr.id).exists()


def test_run_whose_execve_fails_reports_it_and_leaves_nothing(ctr: Container) -> None:
    """The executable exists but execve refuses it (after the container is set up: `run`
    starts it without the exec fifo, the error comes back over the sync channel).
    runc 1.1.5: exit 1, "exec /bad: exec format error" (with -d it exits 0: its `start`
    does not wait for the execve); crun 1.8.1: exit 1, "... `/bad`: Exec format error"."""
    bad = ctr.rootfs / "bad"
    bad.write_bytes(b"\x7fELF not really")
    bad.chmod(0o755)
    ctr.set_args("/bad")
    res = ctr.run()
    assert res.returncode == 1, res.describe()
    assert "exec format error" in res.stderr.lower(), res.describe()  # crun: "Exec format"
    ctr.rt("state", ctr.id).fails()
    assert not (ctr.rt.root / ctr.id).exists()


def test_run_of_a_killed_process_exits_128_plus_signal(ctr: Container) -> None:
    shared = ctr.shared_dir()
    ctr.sh("echo ready > /shared/ready; exec sleep 1000")
    spawned = ctr.run_background()
    try:
        assert wait_for(shared / "ready", 10), "container did not start"
        ctr.kill("KILL").check()
        res = spawned.wait(15)
    finally:
        spawned.stop()
    assert res.returncode == 128 + 9, res.describe()


def test_run_detached_returns_while_running(ctr: Container) -> None:
    ctr.set_args("sleep", "1000")
    t0 = time.monotonic()
    ctr.run_detached().check()
    assert time.monotonic() - t0 < 10
    assert ctr.status() == "running"
    assert proc_alive(ctr.init_pid(), "")


@pytest.mark.parametrize("how", ["create", "run-d"])
def test_pid_file(ctr: Container, how: str) -> None:
    ctr.set_args("sleep", "1000")
    pid_file = ctr.bundle / "init.pid"
    if how == "create":
        ctr.create("--pid-file", str(pid_file)).check()
    else:
        ctr.run_detached("--pid-file", str(pid_file)).check()
    assert pid_file.read_text().strip() == str(ctr.init_pid())


def test_spec_writes_config_and_refuses_to_overwrite(rt: Runtime, tmp_path: Path) -> None:
    where = tmp_path / "specdir"
    where.mkdir()
    rt("spec", cwd=where).check()
    spec = json.loads((where / "config.json").read_text())
    assert spec["ociVersion"]
    assert spec["process"]["args"] == ["sh"]
    assert spec["root"]["path"] == "rootfs"
    assert {"type": "pid"} in spec["linux"]["namespaces"]
    before = (where / "config.json").read_text()
    res = rt("spec", cwd=where).fails()
    assert re.search(r"config\.json.* exists", res.stderr), res.describe()
    assert (where / "config.json").read_text() == before


def test_spec_output_is_runnable(make_container: MakeContainer, rt: Runtime) -> None:
    ctr = make_container()
    (ctr.bundle / "config.json").unlink()
    rt("spec", cwd=ctr.bundle).check()
    spec = json.loads((ctr.bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["sh", "-c", "echo spec-ok"]
    spec["linux"]["cgroupsPath"] = ctr.cgroup_path
    ctr.spec = spec
    assert ctr.run().check().stdout == "spec-ok\n"


def test_features_prints_json(rt: Runtime) -> None:
    res = rt("features").check()
    features = json.loads(res.stdout)
    assert features["ociVersionMin"] and features["ociVersionMax"]
    assert {"prestart", "poststop"} <= set(features.get("hooks", []))
    assert "linux" in features
