"""`exec`: another process in a running container, in all its namespaces and its cgroup.

The process is born in the container's pid namespace and cgroup (see `run`),
joins the container's other namespaces (those that differ from ours, the user
namespace first), takes the process spec's identity and privileges, and execs.
The sync pipe is close-on-exec: EOF without an error message means the exec
succeeded.
"""

from __future__ import annotations

import os

from wharfie import syscalls as sc
from wharfie.errors import FailedPrecondition, InvalidArgument
from wharfie.runtime import lifecycle, process, state, sync
from wharfie.runtime.spawn import CgroupEntry, join_namespaces
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
    __slots__ = (
        "console_fd",
        "detach",
        "ignore_paused",
        "pid_file",
        "preserve_fds",
        "sub_cgroups",
    )

    def __init__(self, detach: bool = False, pid_file: str | None = None, console_fd: int = -1):
        self.detach = detach
        self.pid_file = pid_file
        self.console_fd = console_fd
        self.preserve_fds = 0
        self.ignore_paused = False
        # exec --cgroup: controller ("" = every hierarchy) -> sub-cgroup of the container's
        self.sub_cgroups: dict[str, str] = {}


def parse_sub_cgroups(values: list[str]) -> dict[str, str]:
    """runc's `--cgroup [<controller>[,<controller>]:]<path>` values."""
    out: dict[str, str] = {}
    for value in values:
        ctrls, sep, path = value.rpartition(":")
        if not path:
            raise InvalidArgument(f"invalid --cgroup argument: {value}")
        for ctrl in ctrls.split(",") if sep else [""]:
            if ctrl in out:
                raise InvalidArgument(f"invalid --cgroup argument: {value} (duplicated)")
            out[ctrl] = path
    return out


def sub_cgroup_paths(paths: dict[str, str], subs: dict[str, str]) -> dict[str, str]:
    """The container's cgroup paths with --cgroup's sub-cgroups; they must exist."""
    if not subs:
        return paths
    known = {c for key in paths for c in key.split(",") if key}
    for ctrl in subs:
        if ctrl and ctrl not in known and not (ctrl == "unified" and "" in paths):
            raise InvalidArgument(f"unknown controller {ctrl} in SubCgroupPaths")
    out = {}
    for key, path in paths.items():
        names = key.split(",") if key else ["unified"]
        sub = next((subs[c] for c in names if c in subs), subs.get(""))
        if sub is not None:
            path = os.path.join(path, sub.lstrip("/"))
            if os.path.normpath(path) != path or not os.path.isdir(path):
                raise InvalidArgument(f"--cgroup: {path}: no such cgroup directory")
        out[key] = path
    return out


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


def check_running(st: State, ignore_paused: bool = False) -> None:
    status = lifecycle.current_status(st)
    if status == "stopped":
        raise FailedPrecondition("cannot exec in a stopped container")
    if status == "paused" and not ignore_paused:
        raise FailedPrecondition(
            "cannot exec in a paused container (use --ignore-paused to override)"
        )


# Namespaces that setns() applies to the caller's future children, not to the caller.
FOR_CHILDREN = (sc.CLONE_NEWPID, sc.CLONE_NEWTIME)


def run(st: State, proc: dict[str, Any], opts: ExecOptions) -> int:
    """Start `proc` in the container; returns its pid.

    The runtime joins the container's pid (and time) namespace itself, which only
    decides where its next child is born, then clones that child straight into the
    container's cgroup; the child joins the other namespaces. No helper process ever
    shows up in the container.
    """
    check_running(st, opts.ignore_paused)
    cgroup_paths = sub_cgroup_paths(st.data["cgroup_paths"], opts.sub_cgroups)
    join = namespaces_to_join(st.pid)
    seccomp = None
    linux = st.config.get("linux") or {}
    if linux.get("seccomp"):
        from wharfie.runtime.seccomp import compile_filter

        cache = os.path.join(os.path.dirname(st.dir), state.SECCOMP_CACHE)
        seccomp = compile_filter(linux["seccomp"], cache_dir=cache)
    listener = -1
    if seccomp is not None and seccomp.notify:
        from wharfie.runtime.seccomp_notify import attach_listener

        listener = attach_listener(seccomp, linux["seccomp"], st.oci_state("running"))
    process.close_on_exec_from(3 + opts.preserve_fds)
    join_namespaces(j for j in join if j[1] in FOR_CHILDREN)
    entry = CgroupEntry(cgroup_paths)
    parent, child = sync.pair()
    pid = entry.fork()
    if pid == 0:
        parent.close()
        _child(child, entry, [j for j in join if j[1] not in FOR_CHILDREN], proc, seccomp, opts)
    child.close()
    if listener >= 0:
        os.close(listener)  # the child holds it
    try:
        _await_exec(parent, pid)
    finally:
        parent.close()
    return pid


def _await_exec(ch: sync.Channel, pid: int) -> None:
    """The sync pipe is close-on-exec: EOF means the exec worked, a message why it did not."""
    try:
        _, reason = ch.recv()
    except sync.PeerGone:
        return
    os.waitpid(pid, 0)
    raise FailedPrecondition(reason)


def _child(
    ch: sync.Channel,
    entry: CgroupEntry,
    join: list[tuple[str, int]],
    proc: dict[str, Any],
    seccomp: Filter | None,
    opts: ExecOptions,
) -> NoReturn:
    try:
        if seccomp is not None and seccomp.notify:  # our host pid, for the seccomp agent
            seccomp.listener_state["pid"] = int(os.readlink("/proc/self"))
        entry.join_self()
        join_namespaces(join)
    except BaseException as exc:
        ch.send(sync.ERROR, str(exc))
        os._exit(127)
    in_userns = any(flag == sc.CLONE_NEWUSER for _, flag in join)
    _setup_and_exec(ch, proc, seccomp, in_userns, opts)


def _setup_and_exec(
    ch: sync.Channel,
    proc: dict[str, Any],
    seccomp: Filter | None,
    in_userns: bool,
    opts: ExecOptions,
) -> NoReturn:
    try:
        if proc.get("terminal"):
            from wharfie.runtime import console

            os.setsid()
            console.setup_exec_tty(opts.console_fd, proc.get("consoleSize"))
        process.set_rlimits(proc.get("rlimits"))
        cwd = proc.get("cwd") or "/"
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise process.ProcessError(f"chdir to cwd ({cwd!r}) failed: {exc.strerror}") from exc
        path = process.lookup_executable(proc["args"][0], proc.get("env") or [], cwd)
        process.finalize(proc, seccomp, in_userns)
        process.exec_process(path, proc, opts.preserve_fds)
    except BaseException as exc:
        ch.send(sync.ERROR, str(exc))
    os._exit(127)
