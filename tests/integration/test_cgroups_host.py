"""The cgroup drivers on this host's real cgroupfs (root, hybrid layout).

Every test uses a throwaway cgroup "/wharfie-cgtest-<random>", kills only the processes
it started, destroys the cgroup in a fixture and fails if any directory is left in any
hierarchy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharfie.cgroups import Cgroup, for_container, from_paths
from wharfie.cgroups._mounts import host_layout
from wharfie.errors import FailedPrecondition, Unavailable

pytestmark = pytest.mark.root

# devices.list of a `runc run` container (runc 1.1.5, `runc spec` rules) on this host.
RUNC_DEVICES_LIST = [
    "b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm",
]  # fmt: skip

ROOT = Path("/sys/fs/cgroup")
MIB = 1 << 20
TESTS = Path(__file__).resolve().parents[1]


def unsupported() -> str | None:
    if os.geteuid() != 0:
        return "needs root: creates cgroups and moves processes into them"
    try:
        kind = host_layout(str(ROOT)).kind
    except Unavailable as err:
        return f"no usable cgroup layout: {err}"
    if kind != "hybrid":
        return f"written for the hybrid layout (v1 + cgroup2 at unified); this host is {kind}"
    for ctrl in ("memory", "pids", "cpu", "cpuset", "devices", "freezer"):
        if not (ROOT / ctrl).is_dir():
            return f"no v1 {ctrl} hierarchy at {ROOT / ctrl}"
    return None


@pytest.fixture(autouse=True)
def _host_supported() -> None:
    reason = unsupported()
    if reason:
        pytest.skip(reason)


def leftovers(name: str) -> list[str]:
    """Directories called `name` anywhere in any hierarchy."""
    found = []
    for top, dirs, _ in os.walk(ROOT):
        found += [os.path.join(top, d) for d in dirs if d == name]
    return found


class Procs:
    """Processes this test started; the only ones it ever kills."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        p = subprocess.Popen(list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.started.append(p)
        return p

    def kill_all(self) -> None:
        for p in self.started:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            for stream in (p.stdin, p.stdout):
                if stream:
                    stream.close()


@pytest.fixture
def procs() -> Iterator[Procs]:
    ps = Procs()
    try:
        yield ps
    finally:
        ps.kill_all()


@pytest.fixture
def name() -> str:
    return f"wharfie-cgtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cg(name: str, procs: Procs) -> Iterator[Cgroup]:
    cgroup = for_container(f"/{name}", "unused-id")
    try:
        yield cgroup
    finally:
        procs.kill_all()
        cgroup.destroy()
        assert leftovers(name) == []


def wait_in_cgroup(cg: Cgroup, pid: int) -> None:
    for path in cg.paths.values():
        assert str(pid) in Path(path, "cgroup.procs").read_text().split(), path


def test_hybrid_lifecycle(cg: Cgroup, procs: Procs, name: str) -> None:
    assert type(cg).__name__ == "HybridCgroup"
    assert cg.paths[""] == f"/sys/fs/cgroup/unified/{name}"
    cg.create()
    cg.create()
    p = procs.start("sleep", "30")
    cg.add_proc(p.pid)
    wait_in_cgroup(cg, p.pid)
    host_view = Path(f"/proc/{p.pid}/cgroup").read_text().splitlines()
    assert all(line.endswith(f":/{name}") for line in host_view), host_view

    resources = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 64 * MIB, "swap": 96 * MIB, "swappiness": 10},
        "pids": {"limit": 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "blockIO": {"weight": 500},
    }
    warnings = cg.set(resources)  # plus runc's default devices

    def read(hierarchy: str, filename: str) -> str:
        return Path(cg.paths[hierarchy], filename).read_text().strip()

    assert read("memory", "memory.limit_in_bytes") == str(64 * MIB)
    assert read("memory", "memory.memsw.limit_in_bytes") == str(96 * MIB)
    assert read("memory", "memory.swappiness") == "10"
    assert read("pids", "pids.max") == "20"
    assert read("cpu", "cpu.shares") == "512"
    assert read("cpu", "cpu.cfs_quota_us") == "50000"
    assert read("cpu", "cpu.cfs_period_us") == "100000"
    assert read("cpuset", "cpuset.cpus") == "0"
    assert read("cpuset", "cpuset.mems") == "0"
    assert read("devices", "devices.list").splitlines() == RUNC_DEVICES_LIST
    bfq = Path(cg.paths["blkio"], "blkio.bfq.weight")
    if Path(cg.paths["blkio"], "blkio.weight").exists():
        assert read("blkio", "blkio.weight") == "500"
    elif bfq.exists():
        assert bfq.read_text().split()[-1] == "500"
    else:
        assert any("blockIO.weight: ignored" in w for w in warnings), warnings
    assert all("blockIO.weight" in w for w in warnings), warnings

    assert cg.pids() == [p.pid]
    stats = cg.stats()
    assert stats["pids"] == {"current": 1, "limit": 20}
    assert stats["memory"]["limit"] == 64 * MIB
    assert stats["cpu"]["usage_ns"] >= 0
    assert not cg.oom_killed()

    cg.freeze()
    assert read("freezer", "freezer.state") == "FROZEN"
    assert cg.frozen()
    cg.thaw()
    assert read("freezer", "freezer.state") == "THAWED"
    assert not cg.frozen()
    assert p.poll() is None  # still sleeping

    p.kill()
    p.wait(timeout=10)
    cg.destroy()
    assert leftovers(name) == []
    cg.destroy()  # idempotent


def test_freeze_stops_a_busy_process(cg: Cgroup, procs: Procs) -> None:
    cg.create()
    p = procs.start("sh", "-c", "while :; do :; done")
    cg.add_proc(p.pid)
    cg.freeze()

    def cpu_ticks() -> int:
        fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    before = cpu_ticks()
    time.sleep(0.3)
    assert cpu_ticks() == before
    cg.thaw()
    time.sleep(0.3)
    assert cpu_ticks() > before


def test_from_paths_after_a_crash_deletes_everything(name: str, procs: Procs) -> None:
    cg = for_container(f"/{name}", "x")
    try:
        cg.create()
        os.makedirs(cg.paths["memory"] + "/made-by-the-container/deeper")
        os.makedirs(cg.paths[""] + "/init.scope")
        saved = json.loads(json.dumps(cg.paths))
        again = from_paths(saved)
        assert type(again) is type(cg)
        assert again.hierarchies() == cg.hierarchies()
        assert again.pids() == []
        again.destroy()
        assert leftovers(name) == []
    finally:
        cg.destroy()


def test_memory_limit_below_usage_is_a_clear_error(cg: Cgroup, procs: Procs) -> None:
    if Path("/proc/swaps").read_text().strip().count("\n") > 0:
        pytest.skip("the host has swap: the kernel would swap out instead of refusing")
    cg.create()
    code = "import sys; sys.stdin.readline(); x = b'a' * (40 << 20); print('ok', flush=True); "
    code += "sys.stdin.readline()"
    p = procs.start(sys.executable, "-c", code)
    cg.add_proc(p.pid)
    assert p.stdin and p.stdout
    p.stdin.write("go\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "ok"
    with pytest.raises(FailedPrecondition, match=r"memory\.limit: 4194304 is below the current"):
        cg.set({"memory": {"limit": 4 * MIB}})


def test_oom_kill_is_reported(cg: Cgroup, procs: Procs) -> None:
    cg.create()
    cg.set({"memory": {"limit": 32 * MIB, "swap": 32 * MIB}})
    code = "import sys; sys.stdin.readline(); x = b'a' * (200 << 20)"
    p = procs.start(sys.executable, "-c", code)
    cg.add_proc(p.pid)
    assert p.stdin
    p.stdin.write("go\n")
    p.stdin.flush()
    assert p.wait(timeout=30) == -9
    assert cg.oom_killed()


def test_ebpf_device_filter_on_the_unified_hierarchy(cg: Cgroup, procs: Procs) -> None:
    """The hybrid host's cgroup2 hierarchy runs device programs too: check the real thing."""
    from wharfie.cgroups._bpf import attached_programs
    from wharfie.cgroups._v2 import apply_devices_v2

    cg.create()
    unified = cg.paths[""]
    rules = [
        {"allow": False},
        {"allow": True, "type": "c", "major": 1, "minor": 3},  # /dev/null
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},  # /dev/zero
    ]
    apply_devices_v2(unified, rules)
    apply_devices_v2(unified, rules)  # replacing keeps exactly one program
    assert len(attached_programs(unified)) == 1
    script = (
        "read x; head -c1 /dev/zero >/dev/null && echo zero-read;"
        " (echo x >/dev/zero) 2>/dev/null || echo zero-write-denied;"
        " (head -c1 /dev/urandom) >/dev/null 2>&1 || echo urandom-denied"
    )
    p = procs.start("sh", "-c", script)
    cg.add_proc(p.pid)
    out, _ = p.communicate("go\n", timeout=10)
    assert out.split() == ["zero-read", "zero-write-denied", "urandom-denied"]


def test_v2_driver_on_the_real_unified_mount(name: str, procs: Procs) -> None:
    """The cgroup2 mount at /sys/fs/cgroup/unified is a v2 root of its own: drive it with
    the pure v2 driver (no controllers there, but freezing, membership, the eBPF device
    filter and removal are real)."""
    from wharfie.cgroups._bpf import attached_programs

    cg = for_container(f"/{name}", "x", root=str(ROOT / "unified"))
    assert type(cg).__name__ == "V2Cgroup"
    assert cg.paths == {"": f"/sys/fs/cgroup/unified/{name}"}
    try:
        cg.create()
        assert cg.set({}) == []  # runc's default device rules, as an eBPF program
        assert len(attached_programs(cg.paths[""])) == 1
        p = procs.start("sh", "-c", "read x; echo x >/dev/null && echo null-ok; exec sleep 30")
        cg.add_proc(p.pid)
        assert p.stdin and p.stdout
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "null-ok"
        assert cg.pids() == [p.pid]
        cg.freeze()
        assert cg.frozen()
        assert "frozen 1" in Path(cg.paths[""], "cgroup.events").read_text()
        cg.thaw()
        assert not cg.frozen()
        assert cg.stats().get("cpu", {}).get("usage_ns", 0) >= 0
        procs.kill_all()
        assert cg.pids() == []
    finally:
        procs.kill_all()
        cg.destroy()
    assert leftovers(name) == []


# -- cgroupsPath: what runc does ---------------------------------------------------------


def runc_cgroup_lines(tmp_path: Path, cgroups_path: str | None, cid: str) -> dict[str, str]:
    sys.path.insert(0, str(TESTS))
    from support.bundle import bundle_spec, busybox_rootfs, write_spec

    bundle = tmp_path / "bundle"
    if not (bundle / "rootfs").exists():
        busybox_rootfs(bundle / "rootfs")
    spec = bundle_spec(["cat", "/proc/self/cgroup"])
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "cgroup"]
    linux.pop("cgroupsPath", None)
    if cgroups_path is not None:
        linux["cgroupsPath"] = cgroups_path
    write_spec(bundle, spec)
    runc = shutil.which("runc") or "/usr/sbin/runc"
    out = subprocess.run(
        [runc, "--root", str(tmp_path / "state"), "run", cid],
        cwd=bundle,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lines = {}
    for line in out.splitlines():
        _, controllers, path = line.split(":", 2)
        lines[controllers] = path
    return lines


@pytest.mark.parametrize("kind", ["default", "relative", "absolute"])
def test_cgroups_path_resolves_like_runc(tmp_path: Path, kind: str) -> None:
    """runc 1.1's cgroupfs driver and ours put a container in the same cgroups.

    default (no cgroupsPath): "<own cgroup>/<id>" per hierarchy; relative: "<own>/<path>";
    absolute: "<path>" -- /proc/self/cgroup inside a runc container (no cgroup namespace)
    against our Hierarchy.relpath for the same spec.
    """
    runc = shutil.which("runc") or "/usr/sbin/runc"
    if not os.access(runc, os.X_OK):
        pytest.skip("runc is not installed: nothing to compare with")
    if not Path("/bin/busybox").exists():
        pytest.skip("/bin/busybox (Debian's busybox-static) is needed for the runc bundle")
    cid = f"wharfie-cgtest-{uuid.uuid4().hex[:10]}"
    path = {"default": None, "relative": cid, "absolute": f"/{cid}"}[kind]
    ours = for_container(path, cid)
    try:
        theirs = runc_cgroup_lines(tmp_path, path, cid)
    finally:
        for h in ours.hierarchies():  # runc removes them on exit; make sure
            if os.path.isdir(h.path):
                os.rmdir(h.path)
    assert theirs == {h.options: h.relpath for h in ours.hierarchies()}
    assert leftovers(cid) == []
