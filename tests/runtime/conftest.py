"""Fixtures for the black-box OCI runtime suite.

Point the suite at a runtime with WHARFIE_TEST_RUNTIME (see tests/support/oci_runtime.py):
unset/"wharfie" (the venv's wharfie-runtime), "runc", "crun" or a path. Every test gets
its own --root state dir, its own container ids and bundles (a copy of a busybox rootfs
template built once per session), and a teardown that runs `delete -f` and fails the test
(teardown error) if a mount, cgroup directory, state dir or process was left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.bundle import BUSYBOX, bundle_spec, busybox_rootfs, make_bundle
from support.oci_runtime import (
    CGROUP_PARENT,
    Container,
    MakeContainer,
    Runtime,
    RuntimeBinary,
    cleanup_and_check,
    new_container_id,
    resolve_runtime,
)


def pytest_report_header(config: pytest.Config) -> str:
    rb = resolve_runtime()
    return f"wharfie runtime suite: {rb.name} at {rb.path} ({rb.missing_reason or 'present'})"


@pytest.fixture(scope="session")
def runtime_binary() -> RuntimeBinary:
    if os.geteuid() != 0:
        pytest.skip("runtime tests need root (namespaces, mounts, cgroups)")
    rb = resolve_runtime()
    reason = rb.missing_reason
    if reason:
        pytest.skip(reason)
    if not BUSYBOX.exists():
        pytest.skip(f"{BUSYBOX} not found: install Debian's busybox-static")
    return rb


@pytest.fixture(scope="session")
def rootfs_template(
    tmp_path_factory: pytest.TempPathFactory, runtime_binary: RuntimeBinary
) -> Path:
    """One busybox rootfs per session, shared by the xdist workers under a file lock."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    template = base / "busybox-rootfs"
    with open(base / "busybox-rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / ".complete").exists():
            shutil.rmtree(template, ignore_errors=True)
            busybox_rootfs(template)
            (template / ".complete").touch()
    return template


@pytest.fixture
def rt(runtime_binary: RuntimeBinary, tmp_path: Path) -> Runtime:
    """The runtime under test, bound to this test's own --root."""
    return Runtime(runtime_binary, tmp_path / "state", tmp_path / "io")


@pytest.fixture
def make_container(rt: Runtime, rootfs_template: Path, tmp_path: Path) -> Iterator[MakeContainer]:
    """Factory: a fresh bundle + unique id; every container made is deleted and leak-checked.

    `make_container(*args, world_traversable=False)`: `args` is the process argv
    (default `sh`); with `world_traversable` the bundle lives in a 0755 directory under
    /tmp (user-namespace tests: the mapped root must be able to reach the rootfs).
    """
    made: list[Container] = []
    extra_dirs: list[Path] = []

    def make(*args: str, world_traversable: bool = False) -> Container:
        cid = new_container_id()
        if world_traversable:
            base = Path(tempfile.mkdtemp(prefix="wt-", dir="/tmp"))
            base.chmod(0o755)
            extra_dirs.append(base)
        else:
            base = tmp_path
        spec = bundle_spec(list(args) or ["sh"], terminal=False)
        spec["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"
        bundle = make_bundle(base / f"bundle-{len(made)}", rootfs_template, spec)
        ctr = Container(rt, cid, bundle, spec)
        made.append(ctr)
        return ctr

    yield make

    leaks: list[str] = []
    for ctr in made:
        leaks += [f"{ctr.id}: {leak}" for leak in cleanup_and_check(ctr)]
    for d in extra_dirs:
        with contextlib.suppress(OSError):
            shutil.rmtree(d)
    if leaks:
        pytest.fail("runtime left things behind:\n" + "\n".join(leaks), pytrace=False)


@pytest.fixture
def ctr(make_container: MakeContainer) -> Container:
    """One fresh container (process `sh`, terminal false, cgroupsPath /wharfie-test/<id>)."""
    return make_container()


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory under /tmp (unix socket paths must stay under 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="wt-sock-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


# --- differential tests: the same scenario against runc and wharfie-runtime ------------


@pytest.fixture(scope="session")
def runc_binary() -> RuntimeBinary:
    if os.geteuid() != 0:
        pytest.skip("runtime tests need root (namespaces, mounts, cgroups)")
    rb = resolve_runtime("runc")
    if rb.missing_reason:
        pytest.skip(f"differential test needs runc: {rb.missing_reason}")
    return rb


@pytest.fixture
def both(runc_binary: RuntimeBinary, rootfs_template: Path, tmp_path: Path) -> Iterator[MakeBoth]:
    """Factory: `both(*args)` -> {"runc": Container, "wharfie": Container}, same spec.

    Each runtime gets its own --root, bundle and container id; everything made is deleted
    and leak-checked afterwards. Tests change `c.spec` on both and compare the results.
    """
    yield from _pairs("runc", runc_binary, rootfs_template, tmp_path)


@pytest.fixture
def with_crun(rootfs_template: Path, tmp_path: Path) -> Iterator[MakeBoth]:
    """As `both`, with crun as the reference: {"crun": Container, "wharfie": Container}
    (for what runc 1.1 does not do, e.g. idmapped mounts)."""
    if os.geteuid() != 0:
        pytest.skip("runtime tests need root (namespaces, mounts, cgroups)")
    rb = resolve_runtime("crun")
    if rb.missing_reason:
        pytest.skip(f"differential test needs crun: {rb.missing_reason}")
    yield from _pairs("crun", rb, rootfs_template, tmp_path)


def _pairs(
    ref_name: str, ref_binary: RuntimeBinary, rootfs_template: Path, tmp_path: Path
) -> Iterator[MakeBoth]:
    ours = resolve_runtime("wharfie")
    runtimes = {
        ref_name: Runtime(ref_binary, tmp_path / f"state-{ref_name}", tmp_path / f"io-{ref_name}"),
        "wharfie": Runtime(ours, tmp_path / "state-wharfie", tmp_path / "io-wharfie"),
    }
    made: list[Container] = []
    extra_dirs: list[Path] = []

    def make(*args: str, world_traversable: bool = False) -> dict[str, Container]:
        pair = {}
        base = tmp_path
        if world_traversable:  # a mapped root in a user namespace must reach the rootfs
            base = Path(tempfile.mkdtemp(prefix="wt-", dir="/tmp"))
            base.chmod(0o755)
            extra_dirs.append(base)
        for name, rt in runtimes.items():
            cid = new_container_id()
            spec = bundle_spec(list(args) or ["sh"], terminal=False)
            spec["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"
            bundle = make_bundle(base / f"bundle-{name}-{len(made)}", rootfs_template, spec)
            ctr = Container(rt, cid, bundle, spec)
            made.append(ctr)
            pair[name] = ctr
        return pair

    make.runtimes = runtimes  # type: ignore[attr-defined]
    yield make

    leaks: list[str] = []
    for ctr in made:
        leaks += [f"{ctr.rt.name} {ctr.id}: {leak}" for leak in cleanup_and_check(ctr)]
    for d in extra_dirs:
        with contextlib.suppress(OSError):
            shutil.rmtree(d)
    if leaks:
        pytest.fail("runtime left things behind:\n" + "\n".join(leaks), pytrace=False)


MakeBoth = Callable[..., dict[str, Container]]
