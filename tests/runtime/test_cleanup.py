"""Clean-up: whatever the way a container ends, `delete` leaves no mount, cgroup, state dir
or process behind. (The fixture re-checks all of this after `delete -f` for every test;
here the checks run right after the test's own delete, without the grace period.)

Observed with runc 1.1.5: `delete -f` of a running (or paused) container exits 0 and
removes <root>/<id> and every /sys/fs/cgroup/*/wharfie-test/<id>; `delete` of a running
container without -f exits 1: "cannot delete container <id> that is not stopped: running";
`delete` of a created container succeeds (and kills its init); after the init is
SIGKILLed from the host, `state` says stopped and `delete` cleans up.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from support.oci_runtime import Container, find_leaks

pytestmark = pytest.mark.root


def assert_clean(ctr: Container, grace: float = 1.0) -> None:
    deadline = time.monotonic() + grace
    leaks = find_leaks(ctr)
    while leaks and time.monotonic() < deadline:
        time.sleep(0.05)
        leaks = find_leaks(ctr)
    assert leaks == []
    assert ctr.status() is None


def start_sleeper(ctr: Container) -> int:
    ctr.add_tmpfs("/tmp")
    ctr.shared_dir()
    ctr.sh("sleep 1000 & exec sleep 1000")
    ctr.run_detached().check()
    assert ctr.status() == "running"
    return ctr.init_pid()


def test_delete_force_of_a_running_container(ctr: Container) -> None:
    start_sleeper(ctr)
    ctr.delete("-f").check()
    assert_clean(ctr)


def test_delete_without_force_refuses_a_running_container(ctr: Container) -> None:
    start_sleeper(ctr)
    res = ctr.delete().fails()
    assert re.search(r"stopped|running", res.stderr), res.describe()
    assert ctr.status() == "running"


def test_delete_force_of_a_paused_container(ctr: Container) -> None:
    start_sleeper(ctr)
    ctr.rt("pause", ctr.id).check()
    ctr.delete("-f").check()
    assert_clean(ctr)


def test_delete_of_a_stopped_container(ctr: Container) -> None:
    ctr.set_args("true")
    ctr.create().check()
    ctr.start().check()
    assert ctr.wait_status("stopped") == "stopped"
    ctr.delete().check()
    assert_clean(ctr)


def test_delete_of_a_created_container(ctr: Container) -> None:
    ctr.set_args("true")
    ctr.create().check()
    assert ctr.pids, "create did not report an init pid"
    ctr.delete().check()
    assert_clean(ctr)  # includes: the waiting init process is gone


def test_delete_after_the_init_was_killed_from_outside(ctr: Container) -> None:
    pid = start_sleeper(ctr)
    os.kill(pid, signal.SIGKILL)  # a crash: the runtime is not involved
    assert ctr.wait_status("stopped") == "stopped"
    ctr.delete().check()
    assert_clean(ctr)


def test_delete_force_after_the_init_was_killed_from_outside(ctr: Container) -> None:
    pid = start_sleeper(ctr)
    os.kill(pid, signal.SIGKILL)
    ctr.delete("-f").check()
    assert_clean(ctr)


def test_foreground_run_cleans_up_on_exit(ctr: Container) -> None:
    ctr.add_tmpfs("/tmp")
    ctr.sh("sleep 1000 & exit 0")
    ctr.run().check()
    assert_clean(ctr)


def test_delete_cleans_up_after_the_runtime_was_killed_during_create(ctr: Container) -> None:
    """A runtime SIGKILLed half-way through `create` (here: by its own prestart hook, whose
    parent it is) leaves a state dir and cgroups; `delete -f` must remove all of it."""
    if ctr.rt.name == "runc":
        pytest.skip("runc 1.1 writes no state before the container exists and leaks the cgroup")
    ctr.spec["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID"]}]}
    ctr.set_args("true")
    res = ctr.create()
    assert res.returncode == -signal.SIGKILL
    assert find_leaks(ctr), "the killed create should have left its cgroup or state behind"
    ctr.delete("-f").check()
    assert_clean(ctr)


def test_delete_kills_leftovers_of_a_container_without_pid_namespace(ctr: Container) -> None:
    """Without its own pid namespace, a container's background processes outlive its init;
    `delete` of the stopped container must still kill them and remove the cgroup."""
    ctr.spec["linux"]["namespaces"] = [
        ns for ns in ctr.spec["linux"]["namespaces"] if ns["type"] != "pid"
    ]
    ctr.sh("sleep 1000 >/dev/null 2>&1 </dev/null & exit 0")
    ctr.run_detached().check()
    assert ctr.wait_status("stopped") == "stopped"
    ctr.delete().check()
    assert_clean(ctr)
