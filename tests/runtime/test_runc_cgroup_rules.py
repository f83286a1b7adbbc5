"""Differential: runc 1.1's cgroup rules, against wharfie-runtime.

Observed with runc 1.1.5 on the hybrid host: a container whose cgroup is already frozen
is refused ("container's cgroup unexpectedly frozen", status 1) instead of hanging; a
cgroup that already holds processes gets a warning ("container's cgroup is not empty: 1
process(es) found") and the container runs; `delete --force` removes sub-cgroups the
container made, with the processes in them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import MakeBoth
from support.oci_runtime import Container

FREEZER = Path("/sys/fs/cgroup/freezer")


def _freeze_dirs(c: Container) -> list[tuple[Path, str, str]]:
    rel = c.cgroup_path.lstrip("/")
    if (FREEZER / "cgroup.procs").exists():
        return [(FREEZER / rel, "freezer.state", "FROZEN")]
    unified = Path("/sys/fs/cgroup/unified")
    base = unified if (unified / "cgroup.controllers").exists() else Path("/sys/fs/cgroup")
    return [(base / rel, "cgroup.freeze", "1")]


def test_frozen_cgroup_is_refused(both: MakeBoth) -> None:
    got = {}
    for name, c in both("echo", "hi").items():
        for d, knob, value in _freeze_dirs(c):
            d.mkdir(parents=True)
            (d / knob).write_text(value)
        try:
            got[name] = c.run(timeout=20)
        finally:
            for d, knob, _ in _freeze_dirs(c):
                (d / knob).write_text("THAWED" if knob == "freezer.state" else "0")
            c.rt("delete", "-f", c.id)
            for d, _, _ in _freeze_dirs(c):
                with contextlib.suppress(OSError):
                    d.rmdir()
    assert got["runc"].returncode == got["wharfie"].returncode == 1
    want = "container's cgroup unexpectedly frozen"
    assert want in got["runc"].stderr and want in got["wharfie"].stderr
    assert got["wharfie"].stdout == ""


def _hierarchy_dirs(c: Container) -> list[Path]:
    rel = c.cgroup_path.lstrip("/")
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        return [root / rel]
    return [h / rel for h in sorted(root.iterdir()) if (h / "cgroup.procs").exists()]


def _fill_cpuset(d: Path) -> None:
    """A v1 cpuset takes no process before its cpus and mems are set (top down)."""
    chain = [p for p in [*reversed(d.parents), d] if (p / "cpuset.cpus").exists()]
    for parent, child in itertools.pairwise(chain):
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if not (child / knob).read_text().strip():
                (child / knob).write_text((parent / knob).read_text())


def test_non_empty_cgroup_warns_and_runs(both: MakeBoth) -> None:
    got = {}
    for name, c in both("echo", "hi").items():
        dirs = _hierarchy_dirs(c)
        squatter = subprocess.Popen(["sleep", "100"])
        try:
            for d in dirs:
                d.mkdir(parents=True)
                _fill_cpuset(d)
                (d / "cgroup.procs").write_text(str(squatter.pid))
            got[name] = c.run()
            assert squatter.poll() is None, f"{name} killed a process it does not own"
        finally:
            squatter.kill()
            squatter.wait()
            c.rt("delete", "-f", c.id)
            for d in dirs:
                with contextlib.suppress(OSError):
                    d.rmdir()
    assert got["runc"].returncode == got["wharfie"].returncode == 0
    assert got["runc"].stdout == got["wharfie"].stdout == "hi\n"
    want = "container's cgroup is not empty: 1 process(es) found"
    assert want in got["runc"].stderr and want in got["wharfie"].stderr


def test_delete_force_removes_sub_cgroups(both: MakeBoth) -> None:
    pair = both("sleep", "1000")
    sub_pids = {}
    for name, c in pair.items():
        c.run_detached().check()
        leaf = Path("/sys/fs/cgroup/pids") / c.cgroup_path.lstrip("/") / "sub" / "leaf"
        if not Path("/sys/fs/cgroup/pids/cgroup.procs").exists():
            unified = Path("/sys/fs/cgroup/unified")
            root = unified if (unified / "cgroup.controllers").exists() else Path("/sys/fs/cgroup")
            leaf = root / c.cgroup_path.lstrip("/") / "sub" / "leaf"
        leaf.mkdir(parents=True)
        c.exec("-d", "--", "sleep", "999").check()
        pids = [
            int(p) for p in c.rt("ps", "-f", "json", c.id).check().stdout.strip("[]\n").split(",")
        ]
        moved = max(pids)
        (leaf / "cgroup.procs").write_text(str(moved))
        sub_pids[name] = (moved, leaf)
    for name, c in pair.items():
        res = c.delete("--force")
        assert res.returncode == 0, res.describe()
        moved, leaf = sub_pids[name]
        deadline = time.monotonic() + 5
        while Path(f"/proc/{moved}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not leaf.exists(), f"{name}: {leaf} left behind"
        assert not leaf.parent.exists()
        if Path(f"/proc/{moved}").exists():
            os.kill(moved, signal.SIGKILL)
            pytest.fail(f"{name}: the process in the sub-cgroup survived delete --force")


def test_exec_joins_every_hierarchy(both: MakeBoth) -> None:
    """An exec'd process is in the init's cgroup in every hierarchy (v1 ones and cgroup2)."""
    pair = both("sleep", "1000")
    for c in pair.values():
        c.run_detached().check()
        init = c.init_pid()
        c.exec("-d", "--", "sleep", "999").check()
        pids = json.loads(c.rt("ps", "-f", "json", c.id).check().stdout)
        (other,) = [p for p in pids if p != init]
        want = Path(f"/proc/{init}/cgroup").read_text().splitlines()
        got = Path(f"/proc/{other}/cgroup").read_text().splitlines()
        assert len(want) > 1 and got == want, (c.rt.name, want, got)
