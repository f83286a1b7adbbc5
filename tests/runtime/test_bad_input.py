"""Bad input: every rejection exits non-zero, names the field or the cause on stderr, and
leaves nothing behind (no state dir, no cgroup, no mount: also checked by the fixture).

Observed with runc 1.1.5 (stderr, after `time=... level=error msg=`):
  no process ........ "runc create failed: process property must not be empty"
  no/empty args ..... "runc create failed: args must not be empty"
  no root ........... "runc create failed: root must be specified"
  no ociVersion ..... accepted (runc does not check it)
  malformed JSON .... "runc create failed: unexpected EOF"
  no config.json .... "runc create failed: JSON specification file config.json not found"
  "args": "sh" ...... "json: cannot unmarshal string into Go struct field Process.process.args
                      of type []string"
  "uid": "0" ........ "json: cannot unmarshal string into Go struct field User.process.user.uid
                      of type uint32"
  namespace "foo" ... "namespace {\"foo\" \"\"} does not exist"
  duplicate pid ns .. "malformed spec file: duplicated ns {\"pid\" \"\"}"
  type nosuchfs ..... "error mounting \"none\" to rootfs at \"/mnt\": mount none:/mnt (via
                      /proc/self/fd/6): no such device"
  missing bind src .. "error mounting \"/nonexistent/src\" to rootfs at \"/mnt\": stat
                      /nonexistent/src: no such file or directory"
  missing rootfs .... "invalid rootfs: stat /nonexistent/rootfs: no such file or directory"
  relative cwd ...... "Cwd must be an absolute path"
  RLIMIT_BOGUS ...... "wrong rlimit value: RLIMIT_BOGUS"
  missing binary .... (run) "exec: \"/nonexistent\": stat /nonexistent: no such file or
                      directory"
  missing bundle .... "chdir /nonexistent/bundle: no such file or directory"
  id "bad/id" ....... "invalid container ID format"; id "" -> "container id cannot be empty"
  create twice ...... "runc create failed: container with given ID already exists"
  start unknown ..... "container does not exist" (also state, kill, delete; exec -> exit 255
                      "exec failed: container does not exist"); `delete -f unknown` -> 0
  start running ..... "cannot start an already running container"
  start stopped ..... "cannot start a container that has stopped"
  kill stopped ...... "container not running"
  kill ID FOO ....... "unknown signal \"FOO\""
  Not rejected by runc 1.1.5 (so not tested): unknown capability names (a warning,
  "ignoring unknown or unavailable capabilities"), relative mount destinations (a warning).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from support.oci_runtime import Container, Runtime

pytestmark = pytest.mark.root


def assert_rejected(ctr: Container, res: Any, pattern: str) -> None:
    res.fails()
    assert re.search(pattern, res.stderr, re.I), f"stderr should match {pattern!r}\n" + (
        res.describe()
    )
    assert ctr.status() is None, "a rejected container is still known to the runtime"
    assert not (ctr.rt.root / ctr.id).exists()


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def apply(spec: dict[str, Any]) -> None:
        node = spec
        for p in parents:
            node = node[p]
        del node[last]

    return apply


def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def apply(spec: dict[str, Any]) -> None:
        node = spec
        for p in parents:
            node = node[p]
        node[last] = value

    return apply


def add_namespace(kind: str) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["linux"]["namespaces"].append({"type": kind})


def add_mount(mount: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["mounts"].append(mount)


BAD_SPECS = {
    "missing-process": (drop("process"), r"process"),
    "missing-args": (drop("process.args"), r"args"),
    "empty-args": (put("process.args", []), r"args"),
    "missing-root": (drop("root"), r"root"),
    "args-not-a-list": (put("process.args", "sh"), r"args"),
    "uid-not-a-number": (put("process.user.uid", "0"), r"uid"),
    "unknown-namespace": (add_namespace("foo"), r"foo|namespace"),
    "duplicate-namespace": (add_namespace("pid"), r"duplicat|pid"),
    "unknown-fs-type": (
        add_mount({"destination": "/mnt", "type": "nosuchfs", "source": "none"}),
        r"nosuchfs|no such device|/mnt",
    ),
    "missing-bind-source": (
        add_mount(
            {
                "destination": "/mnt",
                "type": "bind",
                "source": "/nonexistent/src",
                "options": ["rbind"],
            }
        ),
        r"/nonexistent/src",
    ),
    "missing-rootfs": (put("root.path", "/nonexistent/rootfs"), r"rootfs"),
    "relative-cwd": (put("process.cwd", "tmp"), r"cwd"),
    "memory-limit-not-a-number": (
        put("linux.resources.memory", {"limit": "64m"}),
        r"memory|limit|64m|unmarshal",
    ),
    "unknown-rlimit": (
        put("process.rlimits", [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
        r"RLIMIT_BOGUS|rlimit",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_rejected_by_create(ctr: Container, case: str) -> None:
    mutate, pattern = BAD_SPECS[case]
    ctr.shared_dir()
    ctr.sh("echo started > /shared/started")
    mutate(ctr.spec)
    res = ctr.create()
    assert_rejected(ctr, res, pattern)
    assert not (ctr.bundle / "shared" / "started").exists()


@pytest.mark.parametrize("case", ["missing-process", "unknown-namespace", "missing-rootfs"])
def test_bad_spec_is_rejected_by_run(ctr: Container, case: str) -> None:
    mutate, pattern = BAD_SPECS[case]
    mutate(ctr.spec)
    assert_rejected(ctr, ctr.run(), pattern)


def test_malformed_json(ctr: Container) -> None:
    ctr.write_spec()
    (ctr.bundle / "config.json").write_text('{"ociVersion": ')
    res = ctr.rt("create", "--bundle", str(ctr.bundle), ctr.id)
    assert_rejected(ctr, res, r"json|EOF|parse|decod|syntax|config")


def test_missing_config_json(ctr: Container) -> None:
    (ctr.bundle / "config.json").unlink()
    res = ctr.rt("create", "--bundle", str(ctr.bundle), ctr.id)
    assert_rejected(ctr, res, r"config\.json")


def test_missing_bundle_directory(ctr: Container) -> None:
    res = ctr.rt("create", "--bundle", str(ctr.bundle / "nope"), ctr.id)
    assert_rejected(ctr, res, r"nope|no such file|bundle")


def test_missing_executable(ctr: Container) -> None:
    ctr.set_args("/nonexistent")
    assert_rejected(ctr, ctr.run(), r"/nonexistent")


@pytest.mark.parametrize("bad_id", ["bad/id", "..", "a b"])
def test_invalid_container_id(ctr: Container, bad_id: str) -> None:
    ctr.write_spec()
    res = ctr.rt("create", "--bundle", str(ctr.bundle), bad_id)
    if res.returncode == 0:  # a lenient runtime made it: remove it before failing
        ctr.rt("delete", "-f", bad_id)
    res.fails()
    assert re.search(r"invalid|id", res.stderr, re.I), res.describe()
    leftovers = list(ctr.rt.root.iterdir()) if ctr.rt.root.exists() else []
    assert leftovers == []


def test_create_twice_with_the_same_id(ctr: Container) -> None:
    ctr.set_args("sleep", "1000")
    ctr.create().check()
    pid = ctr.init_pid()
    res = ctr.create().fails()
    assert re.search(r"already exists|exists", res.stderr), res.describe()
    state = ctr.state()
    assert state["status"] == "created" and state["pid"] == pid


@pytest.mark.parametrize("command", ["start", "state", "kill", "delete", "pause", "ps"])
def test_unknown_container_id(rt: Runtime, command: str) -> None:
    res = rt(command, "wt-no-such-container").fails()
    assert "does not exist" in res.stderr, res.describe()


def test_delete_force_of_an_unknown_id_succeeds(rt: Runtime) -> None:
    rt("delete", "-f", "wt-no-such-container").check()


def test_start_twice(ctr: Container) -> None:
    ctr.set_args("sleep", "1000")
    ctr.create().check()
    ctr.start().check()
    res = ctr.start().fails()
    assert re.search(r"already running|running", res.stderr), res.describe()


def test_start_a_stopped_container(ctr: Container) -> None:
    ctr.set_args("true")
    ctr.create().check()
    ctr.start().check()
    assert ctr.wait_status("stopped") == "stopped"
    res = ctr.start().fails()
    assert re.search(r"stopped|not created|not running", res.stderr), res.describe()


def test_kill_a_stopped_container(ctr: Container) -> None:
    ctr.set_args("true")
    ctr.create().check()
    ctr.start().check()
    assert ctr.wait_status("stopped") == "stopped"
    for sig in ([], ["KILL"]):
        res = ctr.kill(*sig).fails()
        assert "not running" in res.stderr, res.describe()


def test_kill_with_an_unknown_signal(ctr: Container) -> None:
    ctr.set_args("sleep", "1000")
    ctr.run_detached().check()
    res = ctr.kill("NOSUCHSIG").fails()
    assert re.search(r"signal", res.stderr, re.I), res.describe()
    assert ctr.status() == "running"
