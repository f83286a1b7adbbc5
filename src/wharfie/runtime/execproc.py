"""`exec`: another process in a running container, in all its namespaces and its cgroup.

Stage 1 joins the container's namespaces (those that differ from ours, the
user namespace first); stage 2, forked inside the container's pid namespace,
takes the process spec's identity and privileges and execs. The sync pipe is
close-on-exec: EOF without an error message means the exec succeeded.
"""

from __future__ import annotations

import os

from wharfie import syscalls as sc
from wharfie.errors import FailedPrecondition
from wharfie.runtime import lifecycle, process, state, sync
from wharfie.runtime.spawn import CgroupEntry
from wharfie.runtime.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from wharfie.runtime.seccomp import Filter

PROC_NS = (  # /proc/<pid>/ns name, flag, in join order
    ("user", sc.CLONE_NEWUSER),
    ("ipc", sc.CLONE_NEWIPC),
    ("uts", sc.CLONE_NEWUTS),
    ("net", sc.CLONE_NEWNET),
    ("pid", sc.CLONE_NEWPID),
    ("time", sc.CLONE_NEWTIME),
    ("mnt", sc.CLONE_NEWNS),
    ("cgroup", sc.CLONE_NEWCGROUP),
)


class ExecOptions:
    __slots__ = ("console_fd", "detach", "pid_file")

    def __init__(self, detach: bool = False, pid_file: str | None = None, console_fd: int = -1):
        self.detach = detach
        self.pid_file = pid_file
        self.console_fd = console_fd


def namespaces_to_join(pid: int) -> list[tuple[str, int]]:
    out = []
    for name, flag in PROC_NS:
        theirs = f"/proc/{pid}/ns/{name}"
        try:
            if os.stat(theirs).st_ino != os.stat(f"/proc/self/ns/{name}").st_ino:
                out.append((theirs, flag))
        except FileNotFoundError:
            continue
    return out


def check_running(st: State) -> None:
    status = lifecycle.current_status(st)
    if status == "stopped":
        raise FailedPrecondition("cannot exec in a stopped container")
    if status == "paused":
        raise FailedPrecondition("cannot exec in a paused container")
    if status == "created":
        raise FailedPrecondition("cannot exec in a created container: start it first")


def run(st: State, proc: dict[str, Any], opts: ExecOptions) -> int:
    """Start `proc` in the container; returns its pid."""
    check_running(st)
    join = namespaces_to_join(st.pid)
    in_userns = any(name.endswith("/user") for name, _ in join)
    seccomp = None
    linux = st.config.get("linux") or {}
    if linux.get("seccomp"):
        from wharfie.runtime.seccomp import compile_filter

        cache = os.path.join(os.path.dirname(st.dir), state.SECCOMP_CACHE)
        seccomp = compile_filter(linux["seccomp"], cache_dir=cache)
    entry = CgroupEntry(st.data["cgroup_paths"])
    parent, child = sync.pair()
    pid1 = entry.fork()
    if pid1 == 0:
        parent.close()
        _stage1(child, entry, join, proc, seccomp, in_userns, opts.console_fd)
    child.close()
    try:
        return _drive(parent, pid1, st)
    finally:
        parent.close()


def _drive(ch: sync.Channel, pid1: int, st: State) -> int:
    pid = 0
    try:
        while True:
            tag, payload = ch.recv()
            if tag == sync.ERROR:
                raise FailedPrecondition(payload)
            if tag == sync.PID:
                pid = int(payload)
    except sync.PeerGone:
        pass
    except BaseException:
        _kill(pid1)
        raise
    finally:
        os.waitpid(pid1, 0)
    if not pid:
        raise FailedPrecondition("exec: the process exited during setup")
    return pid


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def _stage1(
    ch: sync.Channel,
    entry: CgroupEntry,
    join: list[tuple[str, int]],
    proc: dict[str, Any],
    seccomp: Filter | None,
    in_userns: bool,
    console_fd: int,
) -> NoReturn:
    try:
        entry.join_self()
        fds = [(os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag) for path, flag in join]
        for fd, flag in fds:
            sc.setns(fd, flag)
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            _stage2(ch, proc, seccomp, in_userns, console_fd)
        ch.send(sync.PID, str(pid))
    except BaseException as exc:
        ch.send(sync.ERROR, str(exc))
        os._exit(1)
    os._exit(0)


def _stage2(
    ch: sync.Channel, proc: dict[str, Any], seccomp: Filter | None, in_userns: bool, console_fd: int
) -> NoReturn:
    try:
        if proc.get("terminal"):
            from wharfie.runtime import console

            os.setsid()
            console.setup_exec_tty(console_fd, proc.get("consoleSize"))
        process.set_rlimits(proc.get("rlimits"))
        cwd = proc.get("cwd") or "/"
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise process.ProcessError(f"chdir to cwd ({cwd!r}) failed: {exc.strerror}") from exc
        path = process.lookup_executable(proc["args"][0], proc.get("env") or [], cwd)
        process.finalize(proc, seccomp, in_userns)
        process.exec_process(path, proc)
    except BaseException as exc:
        ch.send(sync.ERROR, str(exc))
    os._exit(127)
