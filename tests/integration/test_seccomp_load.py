"""Seccomp filters loaded into the kernel, in forked children (root: fork, unshare, mount)."""

from __future__ import annotations

import ast
import ctypes
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wharfie.oci.seccomp_default import default_profile
from wharfie.runtime.seccomp import compile_filter

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (fork, unshare, mount probes)"),
]

PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWUTS = 0x04000000
SYS_CLONE3 = 435  # x86_64
SYS_MKDIR = 83  # x86_64

_libc = ctypes.CDLL(None, use_errno=True)


def no_new_privs() -> None:
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")


def libc_errno(rc: int) -> int:
    """0 when a libc call succeeded, its errno when it failed."""
    return 0 if rc >= 0 else ctypes.get_errno()


def in_child(
    seccomp: dict[str, Any], probe: Callable[[], object], cache_dir: str | None = None
) -> str:
    """Compile in the parent (as the runtime may), load in a forked child, run `probe` there
    and return what it reported (or the error that stopped it) through a pipe."""
    compiled = compile_filter(seccomp, cache_dir=cache_dir)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report, never return into pytest
        os.close(r)
        try:
            no_new_privs()
            compiled.load()
            report = repr(probe())
        except BaseException as e:
            report = f"error: {type(e).__name__}: {e}"
        os.write(w, report.encode())
        os._exit(0)
    os.close(w)
    compiled.release()
    with os.fdopen(r, "rb") as pipe:
        out = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    return out


def mkdir_errno(path: Path) -> int:
    try:
        os.mkdir(path)
    except OSError as e:
        return e.errno
    return 0


def errno_mkdir_spec(**rule: Any) -> dict[str, Any]:
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", **rule}],
    }


def test_errno_defaults_to_eperm(tmp_path: Path) -> None:
    out = in_child(errno_mkdir_spec(), lambda: mkdir_errno(tmp_path / "d"))
    assert out == str(errno.EPERM)
    assert not (tmp_path / "d").exists()


def test_errno_ret(tmp_path: Path) -> None:
    out = in_child(errno_mkdir_spec(errnoRet=38), lambda: mkdir_errno(tmp_path / "d"))
    assert out == str(errno.ENOSYS)


def test_arguments_select_the_calls(tmp_path: Path) -> None:
    """mkdir(path, 0700) or 0711 fails (split like runc: ORed), other modes work."""
    modes = [{"index": 1, "value": m, "op": "SCMP_CMP_EQ"} for m in (0o700, 0o711)]
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": modes}],
    }

    def probe() -> list[int]:
        return [
            libc_errno(_libc.syscall(SYS_MKDIR, str(tmp_path / f"m{mode:o}").encode(), mode))
            for mode in (0o700, 0o711, 0o755)
        ]

    assert in_child(seccomp, probe) == repr([errno.EPERM, errno.EPERM, 0])


def test_unfiltered_calls_keep_working(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("hello")
    out = in_child(errno_mkdir_spec(), lambda: (tmp_path / "f").read_text())
    assert out == repr("hello")


def seccomp_status() -> str:
    status = Path("/proc/self/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith("Seccomp:"))


def default_profile_probe(tmp_path: Path) -> Callable[[], dict[str, object]]:
    def probe() -> dict[str, object]:
        return {
            "seccomp": seccomp_status(),
            "unshare": libc_errno(_libc.unshare(CLONE_NEWUTS)),
            "mount": libc_errno(_libc.mount(b"none", str(tmp_path).encode(), b"tmpfs", 0, None)),
            "clone3": libc_errno(_libc.syscall(SYS_CLONE3, None, 0)),
            "getpid": os.getpid() > 1,
            "read": Path("/etc/hostname").read_bytes() == HOSTNAME,
            "mkdir": mkdir_errno(tmp_path / "allowed"),
        }

    return probe


HOSTNAME = Path("/etc/hostname").read_bytes()
BLOCKED = {"unshare": errno.EPERM, "mount": errno.EPERM, "clone3": errno.ENOSYS}
WORKING = {"seccomp": "2", "getpid": True, "read": True, "mkdir": 0}


@pytest.mark.parametrize("cached", [False, True], ids=["libseccomp", "cached-bpf"])
def test_docker_default_profile(tmp_path: Path, cached: bool) -> None:
    target = tmp_path / "x"
    target.mkdir()
    cache = str(tmp_path / "cache") if cached else None
    out = in_child(default_profile(), default_profile_probe(target), cache_dir=cache)
    assert ast.literal_eval(out) == WORKING | BLOCKED, out
    assert (target / "allowed").is_dir()


def test_docker_default_profile_with_cap_sys_admin(tmp_path: Path) -> None:
    """With CAP_SYS_ADMIN the namespace and mount syscalls reach the kernel (root: succeed)."""
    target = tmp_path / "m"
    target.mkdir()

    def probe() -> dict[str, object]:
        result = {
            "seccomp": seccomp_status(),
            "unshare": libc_errno(_libc.unshare(CLONE_NEWUTS | 0x00020000)),  # + CLONE_NEWNS
        }
        result["mount"] = libc_errno(_libc.mount(b"none", str(target).encode(), b"tmpfs", 0, None))
        return result

    out = in_child(default_profile(["CAP_SYS_ADMIN"]), probe)
    assert out == repr({"seccomp": "2", "unshare": 0, "mount": 0})


def test_clone_with_namespace_flags_is_refused_but_fork_works() -> None:
    def probe() -> list[int]:
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        forked = os.waitstatus_to_exitcode(status)
        # raw clone(CLONE_NEWUSER | SIGCHLD): the child, if any, exits at once
        child = _libc.syscall(56, 0x10000000 | 17, None, None, None, 0)
        if child == 0:
            os._exit(0)
        return [forked, libc_errno(child)]

    assert in_child(default_profile(), probe) == repr([7, errno.EPERM])


def test_root_loads_without_no_new_privs() -> None:
    """With CAP_SYS_ADMIN (root) a filter loads without no_new_privs, as runc relies on."""
    compiled = compile_filter(errno_mkdir_spec())
    pid = os.fork()
    if pid == 0:
        try:
            compiled.load()
            code = 0 if seccomp_status() == "2" else 2
        except BaseException:
            code = 1
        os._exit(code)
    compiled.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
