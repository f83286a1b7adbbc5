"""Differential: runc 1.1's command surface, statuses and errors, against wharfie-runtime.

Observed with runc 1.1.5: an unknown command exits 3 ("No help topic for 'x'"), a failed
`exec` 255, every other error 1 (unknown flags, wrong argument counts, a missing
container, "invalid format option", "invalid log-format: x", a missing CRIU: "CRIU
version check failed: exec: \"criu\": executable file not found in $PATH"). `help`,
`h`, `--help` and `-h` exit 0. Ours must match the status, and print its error as one
line, never a traceback.
"""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import MakeBoth
from support.oci_runtime import Container, Runtime


def _runtimes(both: MakeBoth) -> dict[str, Runtime]:
    runtimes: dict[str, Runtime] = both.runtimes  # type: ignore[attr-defined]
    return runtimes


def _options(help_text: str) -> set[str]:
    """Flag names in an OPTIONS / GLOBAL OPTIONS section of urfave/cli style help."""
    flags: set[str] = set()
    in_options = False
    for line in help_text.splitlines():
        if line.endswith("OPTIONS:"):
            in_options = True
            continue
        if in_options and re.match(r"^   -", line):  # runc's update help has text between
            names = line.strip().split("  ")[0]
            flags |= {n.split()[0] for n in names.split(", ")}
    return flags


def _commands(help_text: str) -> set[str]:
    section = help_text.split("COMMANDS:")[1].split("GLOBAL OPTIONS:")[0]
    return {line.split()[0].rstrip(",") for line in section.splitlines() if line.strip()}


def _assert_one_line_error(res_text: str, argv: list[str]) -> None:
    assert "Traceback" not in res_text, f"{argv}: traceback\n{res_text}"
    lines = [line for line in res_text.splitlines() if line.strip()]
    assert len(lines) == 1, f"{argv}: expected one line on stderr, got\n{res_text}"


def test_global_help_same_commands_and_flags(both: MakeBoth) -> None:
    rts = _runtimes(both)
    runc, ours = rts["runc"]("--help").check(), rts["wharfie"]("--help").check()
    assert _commands(ours.stdout) == _commands(runc.stdout)
    assert _options(ours.stdout) == _options(runc.stdout)
    for argv in ([], ["help"], ["h"], ["-h"]):
        assert rts["wharfie"](*argv).returncode == rts["runc"](*argv).returncode == 0, argv


def test_every_command_help_same_flags(both: MakeBoth) -> None:
    rts = _runtimes(both)
    commands = _commands(rts["runc"]("--help").stdout) - {"help"}
    assert commands
    for cmd in sorted(commands):
        runc = rts["runc"](cmd, "--help").check()
        for argv in ([cmd, "--help"], [cmd, "-h"], ["help", cmd], ["h", cmd]):
            ours = rts["wharfie"](*argv)
            assert ours.returncode == 0, ours.describe()
            assert _options(ours.stdout) == _options(runc.stdout), argv


# argv with no container: (argv, what runc says, as a regex on its message)
NO_CONTAINER = [
    (["bogus"], "No help topic for 'bogus'"),
    (["help", "bogus"], "No help topic for 'bogus'"),
    (["--bogus", "list"], "flag provided but not defined: -bogus"),
    (["list", "--bogus"], "flag provided but not defined: -bogus"),
    (["list", "extra"], '"list" requires exactly 0 argument'),
    (["list", "-f", "bogus"], "invalid format option"),
    (["--log-format", "bogus", "list"], "invalid log-format: bogus"),
    (["spec", "--bogus"], "flag provided but not defined: -bogus"),
    (["create"], None),
    (["run"], None),
    (["state"], None),
    (["kill"], None),
    (["exec"], None),
    (["state", "nope"], "container does not exist"),
    (["start", "nope"], "container does not exist"),
    (["kill", "nope"], "container does not exist"),
    (["kill", "nope", "BOGUS"], "container does not exist"),
    (["delete", "nope"], "container does not exist"),
    (["exec", "nope", "true"], "container does not exist"),
    (["ps", "nope"], "container does not exist"),
    (["pause", "nope"], "container does not exist"),
    (["resume", "nope"], "container does not exist"),
    (["events", "nope"], "container does not exist"),
    (["update", "nope"], "container does not exist"),
    (["checkpoint", "nope"], "container does not exist"),
]


@pytest.mark.parametrize(("argv", "message"), NO_CONTAINER, ids=lambda v: str(v))
def test_bad_command_lines(both: MakeBoth, argv: list[str], message: str | None) -> None:
    rts = _runtimes(both)
    runc, ours = rts["runc"](*argv), rts["wharfie"](*argv)
    assert runc.returncode != 0
    assert ours.returncode == runc.returncode, f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    _assert_one_line_error(ours.stderr, argv)
    if message:
        assert message in runc.stderr.replace('\\"', '"')
        assert message in ours.stderr


def _bad_bundle(ctr: Container, kind: str) -> None:
    if kind == "no-config":
        (ctr.bundle / "config.json").unlink()
    elif kind == "bad-json":
        (ctr.bundle / "config.json").write_text('{"ociVersion": ')
    elif kind == "no-args":
        ctr.spec["process"]["args"] = []
    elif kind == "missing-binary":
        ctr.set_args("/bin/nonexistent")
    elif kind == "not-executable":
        ctr.set_args("/etc/passwd")
    elif kind == "failing-hook":
        ctr.spec["hooks"] = {"prestart": [{"path": "/bin/false"}]}
    elif kind == "missing-hook":
        ctr.spec["hooks"] = {"createRuntime": [{"path": "/nonexistent/hook"}]}
    elif kind == "bad-uid-type":
        ctr.spec["process"]["user"]["uid"] = "zero"


BUNDLES = [
    "no-config",
    "bad-json",
    "no-args",
    "missing-binary",
    "not-executable",
    "failing-hook",
    "missing-hook",
    "bad-uid-type",
]


@pytest.mark.parametrize("kind", BUNDLES)
def test_bad_bundles_fail_like_runc(both: MakeBoth, kind: str) -> None:
    results = {}
    for name, c in both("true").items():
        if kind not in ("no-config", "bad-json"):
            _bad_bundle(c, kind)
            c.write_spec()
        else:
            _bad_bundle(c, kind)
        results[name] = c.rt("run", "--bundle", str(c.bundle), c.id)
    runc, ours = results["runc"], results["wharfie"]
    assert runc.returncode != 0
    assert ours.returncode == runc.returncode, f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    _assert_one_line_error(ours.stderr, ours.argv)


def _running(both: MakeBoth) -> dict[str, Container]:
    pair = both("sleep", "1000")
    for c in pair.values():
        c.run_detached().check()
    return pair


def test_errors_on_a_running_container(both: MakeBoth, tmp_path: Path) -> None:
    pair = _running(both)
    cases = [
        ["kill", "{id}", "BOGUS"],
        ["ps", "-f", "bogus", "{id}"],
        ["update", "--memory", "bogus", "{id}"],
        ["update", "--pids-limit", "x", "{id}"],
        ["update", "-r", str(tmp_path / "nonexistent.json"), "{id}"],
        ["events", "--interval", "bogus", "{id}"],
        ["exec", "--cgroup", "bogus:sub", "{id}", "true"],
        ["exec", "{id}", "/nonexistent"],
        ["checkpoint", "{id}"],
        ["--criu", "/nonexistent/criu", "checkpoint", "{id}"],
        ["create", "--bundle", str(pair["runc"].bundle), "{id}"],
        ["delete", "{id}"],
        ["start", "{id}"],
    ]
    for case in cases:
        got = {}
        for name, c in pair.items():
            argv = [a.replace("{id}", c.id) for a in case]
            got[name] = c.rt(*argv)
        runc, ours = got["runc"], got["wharfie"]
        assert runc.returncode != 0, runc.describe()
        assert ours.returncode == runc.returncode, (
            f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
        )
        _assert_one_line_error(ours.stderr, case)
        if case[0] == "kill":
            assert 'unknown signal "BOGUS"' in ours.stderr
        if "checkpoint" in case:
            assert "CRIU version check failed" in ours.stderr


def test_exec_into_paused_container_fails_like_runc(both: MakeBoth) -> None:
    pair = _running(both)
    got = {}
    for name, c in pair.items():
        c.rt("pause", c.id).check()
        got[name] = c.exec("true")
        c.rt("resume", c.id).check()
    assert got["wharfie"].returncode == got["runc"].returncode == 255
    want = "cannot exec in a paused container (use --ignore-paused to override)"
    assert want in got["runc"].stderr
    assert want in got["wharfie"].stderr


def test_list_and_ps_formats(both: MakeBoth) -> None:
    pair = _running(both)
    for c in pair.values():
        quiet = c.rt("list", "-q").check().stdout.split()
        assert quiet == [c.id]
        listed = json.loads(c.rt("list", "-f", "json").check().stdout)
        assert [s["id"] for s in listed] == [c.id]
        assert listed[0]["status"] == "running"
        table = c.rt("list").check().stdout.splitlines()
        assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        pids = json.loads(c.rt("ps", "-f", "json", c.id).check().stdout)
        assert pids == [c.init_pid()]
        ps = c.rt("ps", c.id).check().stdout.splitlines()
        assert ps[0].split()[:3] == ["UID", "PID", "PPID"] and len(ps) == 2
        ps = c.rt("ps", c.id, "-o", "pid,comm").check().stdout.splitlines()
        assert ps[0].split() == ["PID", "COMMAND"] and ps[1].split()[1] == "sleep"


def _cg(c: Container, controller: str, name: str) -> str:
    return (Path("/sys/fs/cgroup") / controller / c.cgroup_path.lstrip("/") / name).read_text()


def test_update_flags_and_resources_file(both: MakeBoth, tmp_path: Path) -> None:
    if not Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        pytest.skip("reads v1 memory/pids files; this host is not hybrid or v1")
    pair = _running(both)
    res_file = tmp_path / "resources.json"
    res_file.write_text(json.dumps({"memory": {"limit": 64 << 20}, "pids": {"limit": 77}}))
    for c in pair.values():
        c.rt("update", "--pids-limit", "50", "--memory", "32m", c.id).check()
        assert _cg(c, "pids", "pids.max").strip() == "50"
        assert int(_cg(c, "memory", "memory.limit_in_bytes")) == 32 << 20
        c.rt("update", "-r", str(res_file), c.id).check()
        assert _cg(c, "pids", "pids.max").strip() == "77"
        assert int(_cg(c, "memory", "memory.limit_in_bytes")) == 64 << 20
        c.rt("update", "--cpu-share", "512", "--cpu-quota", "50000", c.id).check()
        assert _cg(c, "cpu", "cpu.shares").strip() == "512"
        assert _cg(c, "cpu", "cpu.cfs_quota_us").strip() == "50000"


def test_events_stats(both: MakeBoth) -> None:
    pair = _running(both)
    data: dict[str, Any] = {}
    for c in pair.values():
        out = c.rt("events", "--stats", c.id).check().stdout
        event = json.loads(out)
        assert event["type"] == "stats" and event["id"] == c.id
        assert event["data"]["cpu"]["usage"]["total"] > 0
        assert event["data"]["memory"]["usage"]["usage"] > 0
        assert event["data"]["pids"]["current"] == 1
        data[c.rt.name] = event["data"]
    if "runc" in data and "wharfie" in data:  # our field names are runc's (a subset: no
        ours, theirs = data["wharfie"], data["runc"]  # cpuset, hugetlb, swap, kernel memory)
        assert set(ours) <= set(theirs)
        for section in ("cpu", "memory", "pids"):
            assert set(ours[section]) <= set(theirs[section]), section
        assert set(ours["cpu"]["usage"]) == set(theirs["cpu"]["usage"])
        assert set(ours["memory"]["usage"]) == set(theirs["memory"]["usage"])


def test_events_stream(both: MakeBoth) -> None:
    """Both print a stats event per interval; ours also stops when the container does
    (runc 1.1's loop goes on printing nothing until it is killed)."""
    pair = both("sleep", "1")
    for c in pair.values():
        c.run_detached().check()
        events = c.rt.spawn("events", "--interval", "200ms", c.id)
        try:
            if c.rt.name == "wharfie":
                res = events.wait(timeout=15)
                assert res.returncode == 0, res.describe()
            else:
                time.sleep(0.8)
        finally:
            events.stop()
        lines = [json.loads(line) for line in events.out_path.read_text().splitlines()]
        assert lines and all(e["type"] == "stats" and e["id"] == c.id for e in lines)


def test_events_oom_notification(make_container: object, rt: Runtime) -> None:
    if rt.name != "wharfie":
        pytest.skip("ours only: runc 1.1's events loop never ends on its own here")
    assert callable(make_container)
    c: Container = make_container("sleep", "1000")
    c.spec["linux"]["resources"]["memory"] = {"limit": 8 << 20, "swap": 8 << 20}
    c.run_detached().check()
    events = c.rt.spawn("events", "--interval", "100ms", c.id)
    try:
        deadline = time.monotonic() + 10
        while not events.out_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)  # listening: the first stats event is out
        c.exec("sh", "-c", "x=$(head -c 64m /dev/zero | tr '\\0' a); echo ${#x}")
        c.kill("KILL")
        res = events.wait(timeout=15)
    finally:
        events.stop()
    kinds = [json.loads(line)["type"] for line in res.stdout.splitlines()]
    assert "oom" in kinds, res.describe()


def test_run_keep_and_no_subreaper(both: MakeBoth) -> None:
    pair = both("sh", "-c", "exit 3")
    for c in pair.values():
        res = c.run("--keep")
        assert res.returncode == 3, res.describe()
        assert c.status() == "stopped"
        c.delete().check()
        assert c.status() is None
    pair = both("sh", "-c", "echo hi; exit 4")
    got = {name: c.run("--no-subreaper") for name, c in pair.items()}
    assert got["wharfie"].returncode == got["runc"].returncode, got["runc"].describe()
    assert got["wharfie"].stdout == got["runc"].stdout == "hi\n"


def test_exec_into_sub_cgroup(both: MakeBoth) -> None:
    if not Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        pytest.skip("uses the v1 memory hierarchy; this host is not hybrid or v1")
    pair = _running(both)
    for c in pair.values():
        sub = Path("/sys/fs/cgroup/memory") / c.cgroup_path.lstrip("/") / "sub"
        sub.mkdir()
        res = c.exec("--cgroup", "memory:sub", "--", "cat", "/proc/self/cgroup").check()
        line = next(x for x in res.stdout.splitlines() if ":memory:" in x)
        assert line.endswith("/sub"), res.stdout
        others = [x for x in res.stdout.splitlines() if ":pids:" in x]
        assert others and not others[0].endswith("/sub")


@pytest.mark.parametrize("path", ["plain", "slice"])
def test_systemd_cgroup_without_systemd(both: MakeBoth, path: str) -> None:
    if Path("/run/systemd/system").is_dir():
        pytest.skip("systemd runs here")
    got = {}
    for name, c in both("true").items():
        if path == "slice":
            c.spec["linux"]["cgroupsPath"] = f"system.slice:wt:{c.id}"
        c.write_spec()
        got[name] = c.rt("run", "--bundle", str(c.bundle), c.id, global_args=["--systemd-cgroup"])
    assert got["wharfie"].returncode == got["runc"].returncode == 1
    want = (
        "systemd not running on this host, cannot use systemd cgroups manager"
        if path == "slice"
        else 'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups'
    )
    assert want in got["runc"].stderr.replace('\\"', '"')
    assert want in got["wharfie"].stderr


def test_log_file_json(both: MakeBoth, tmp_path: Path) -> None:
    for name, rt in _runtimes(both).items():
        log = tmp_path / f"{name}.log"
        res = rt("state", "nope", global_args=["--log", str(log), "--log-format", "json"])
        assert res.returncode == 1
        entry = json.loads(log.read_text().splitlines()[-1])
        assert entry["level"] == "error" and "container does not exist" in entry["msg"]
        assert stat.S_ISREG(log.stat().st_mode)


def test_lifecycle_misuse_statuses(both: MakeBoth) -> None:
    """Commands in the wrong state: same status as runc, one line, no traceback."""
    pair = both("sleep", "1000")
    steps: list[tuple[str, list[str]]] = [
        ("create", ["create", "--bundle", "{bundle}", "{id}"]),
        ("exec-created", ["exec", "{id}", "true"]),
        ("pause-created", ["pause", "{id}"]),
        ("resume-created", ["resume", "{id}"]),
        ("delete-created", ["delete", "{id}"]),
    ]
    later: list[tuple[str, list[str]]] = [
        ("start-again", ["start", "{id}"]),
        ("resume-running", ["resume", "{id}"]),
        ("pause", ["pause", "{id}"]),
        ("pause-again", ["pause", "{id}"]),
        ("start-paused", ["start", "{id}"]),
        ("delete-paused", ["delete", "{id}"]),
        ("resume", ["resume", "{id}"]),
        ("kill", ["kill", "{id}", "KILL"]),
        ("wait", []),
        ("kill-stopped", ["kill", "{id}"]),
        ("pause-stopped", ["pause", "{id}"]),
        ("exec-stopped", ["exec", "{id}", "true"]),
        ("start-stopped", ["start", "{id}"]),
        ("ps-stopped", ["ps", "{id}"]),
        ("delete", ["delete", "{id}"]),
    ]
    for c in pair.values():
        c.write_spec()
    mismatches = []
    for label, argv in [*steps, ("start", ["start", "{id}"]), *later]:
        got = {}
        for name, c in pair.items():
            if not argv:
                c.wait_status("stopped")
                continue
            real = [a.replace("{id}", c.id).replace("{bundle}", str(c.bundle)) for a in argv]
            got[name] = c.rt(*real)
            if label == "create" and got[name].returncode == 0:
                c._remember_pid()
        if not got:
            continue
        runc, ours = got["runc"], got["wharfie"]
        assert "Traceback" not in ours.stderr, ours.describe()
        if ours.returncode != runc.returncode:
            mismatches.append(
                f"{label}: runc {runc.returncode} ours {ours.returncode}\n"
                f"  runc: {runc.stderr.strip()}\n  ours: {ours.stderr.strip()}"
            )
        elif ours.returncode != 0:
            _assert_one_line_error(ours.stderr, real)
    assert not mismatches, "\n".join(mismatches)


def test_update_paused_and_stopped(both: MakeBoth) -> None:
    pair = both("sleep", "1000")
    got = {}
    for name, c in pair.items():
        c.run_detached().check()
        c.rt("pause", c.id).check()
        paused = c.rt("update", "--pids-limit", "40", c.id)
        c.rt("resume", c.id).check()
        c.kill("KILL").check()
        c.wait_status("stopped")
        stopped = c.rt("update", "--pids-limit", "41", c.id)
        got[name] = (paused, stopped)
    for i, what in enumerate(("paused", "stopped")):
        runc, ours = got["runc"][i], got["wharfie"][i]
        assert ours.returncode == runc.returncode, (what, runc.describe(), ours.describe())
        assert "Traceback" not in ours.stderr
    assert got["wharfie"][0].returncode == 0


@pytest.mark.parametrize("value", ["1", "T", "FALSE", "Auto", "", "true", "yes", "bogus"])
def test_rootless_values_as_runc(both: MakeBoth, value: str) -> None:
    """--rootless is read as runc 1.1 reads it, when a container is made: "auto" in any
    case or "" is auto, else Go's strconv.ParseBool (1, t, TRUE, ...). As root, runc's
    rootless=true (ignore cgroup permission errors) changes nothing visible."""
    got = {}
    for name, c in both("true").items():
        c.write_spec()
        got[name] = c.rt("run", "--bundle", str(c.bundle), c.id, global_args=("--rootless", value))
        listing = c.rt("list", "-q", global_args=("--rootless", value))
        assert listing.returncode == 0, listing.describe()  # only run/create check it
    runc, ours = got["runc"], got["wharfie"]
    detail = f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    assert ours.returncode == runc.returncode, detail
    if runc.returncode:
        want = f'strconv.ParseBool: parsing \\"{value}\\": invalid syntax'
        assert want in runc.stderr, detail
        assert f'strconv.ParseBool: parsing "{value}": invalid syntax' in ours.stderr, detail
