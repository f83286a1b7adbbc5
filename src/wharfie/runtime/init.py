"""The container's side of `create`: the two forked stages that become its init.

The runtime process forks stage 1, which joins and unshares namespaces (the
user namespace first, so the others belong to it) and forks stage 2. Stage 2 is
the container's first process, pid 1 in a new pid namespace: it builds the
root filesystem, reports READY, blocks opening the exec fifo until `start`,
then drops privileges and execs the user's program.

These functions run in freshly forked, single-threaded children and never
return: they end in execve or os._exit. Failures before READY are reported to
the runtime over the sync channel in runc's wording where runc has one.
"""

from __future__ import annotations

import os

from wharfie import syscalls as sc
from wharfie.runtime import process, rootfs, sync
from wharfie.runtime.spawn import CgroupEntry, join_namespaces

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from wharfie.runtime.seccomp import Filter


class InitPlan:
    """Everything the init stages need, computed by the runtime before fork."""

    __slots__ = (
        "autostart",
        "await_cgroup",
        "caps",
        "cgroup",
        "cgroup_mounts",
        "console_fd",
        "domainname",
        "fifo_fd",
        "hook_roundtrip",
        "hooks",
        "hostname",
        "idmap_fds",
        "join",
        "linux",
        "mount_setup",
        "mounts",
        "new_netns",
        "new_userns",
        "no_pivot",
        "preserve_fds",
        "proc",
        "readonly",
        "rootfs",
        "seccomp",
        "unshare_flags",
        "userns",
    )

    def __init__(self) -> None:
        self.rootfs = ""
        self.readonly = False
        self.mounts: list[dict[str, Any]] = []
        self.linux: dict[str, Any] = {}
        self.proc: dict[str, Any] = {}
        self.hostname: str | None = None
        self.domainname: str | None = None
        self.join: list[tuple[str, int]] = []
        self.unshare_flags = 0
        self.new_userns = False
        self.userns = False
        self.idmap_fds: dict[int, int] = {}  # mounts index -> detached idmapped mount
        self.mount_setup = False  # a mount namespace, new or joined: set up the rootfs
        self.new_netns = False
        self.no_pivot = False
        self.preserve_fds = 0
        self.fifo_fd = -1
        self.console_fd = -1
        self.seccomp: Filter | None = None
        self.caps: process.Caps | None = None
        self.cgroup = CgroupEntry({})
        self.await_cgroup = False
        # `run`: go on from READY to the user's process without waiting on the exec fifo
        # (there is none); a failure on the way is reported over the sync channel
        self.autostart = False
        self.cgroup_mounts: rootfs.CgroupMountInfo | None = None
        self.hooks: dict[str, list[dict[str, Any]]] = {}
        self.hook_roundtrip = False


def _report(ch: sync.Channel, exc: BaseException) -> NoReturn:
    try:
        ch.send(sync.ERROR, str(exc) or type(exc).__name__)
    finally:
        os._exit(1)


def stage1(ch: sync.Channel, plan: InitPlan) -> NoReturn:
    """Join/unshare namespaces, fork the container's init, report its pid."""
    try:
        plan.cgroup.join_self()  # before a cgroup namespace is made: it is rooted here
        join_namespaces(plan.join)
        if plan.new_userns:
            sc.unshare(sc.CLONE_NEWUSER)
            ch.send(sync.USERNS)
            ch.recv()  # GO: uid/gid maps written
            _become_root()
        if plan.unshare_flags:
            sc.unshare(plan.unshare_flags)
        pid = os.fork()
        if pid == 0:
            stage2(ch, plan)
        ch.send(sync.PID, str(pid))
    except BaseException as exc:
        _report(ch, exc)
    os._exit(0)


def direct(ch: sync.Channel, plan: InitPlan) -> NoReturn:
    """The init when clone3 already made its namespaces: join the v1 cgroups, then stage 2."""
    try:
        plan.cgroup.join_self()  # before the cgroup namespace: it is rooted where we are
        if plan.unshare_flags & sc.CLONE_NEWCGROUP:
            sc.unshare(sc.CLONE_NEWCGROUP)
    except BaseException as exc:
        _report(ch, exc)
    stage2(ch, plan)


def _become_root() -> None:
    try:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError as exc:
        raise OSError(exc.errno, f"becoming root in the user namespace: {exc.strerror}") from exc


def stage2(ch: sync.Channel, plan: InitPlan) -> NoReturn:
    """The container's init: set up, wait for `start`, exec."""
    state_json = ""
    fd_dir = -1
    try:
        os.setsid()
        os.umask(0)  # device nodes and mount points get exactly the modes asked for
        if plan.seccomp is not None and plan.seccomp.notify:
            # our pid as the host sees it, for the seccomp agent: /proc is still the host's
            plan.seccomp.listener_state["pid"] = int(os.readlink("/proc/self"))
        if plan.mount_setup:
            _setup_rootfs(plan, ch)
        else:
            _await_cgroup(plan, ch)
        if plan.hook_roundtrip:
            ch.send(sync.HOOKS)
            state_json = ch.recv()[1]
            _run_hooks(plan, "createContainer", state_json)
        if plan.mount_setup:
            _enter_rootfs(plan)
        else:
            # no /proc in the new root to reopen the fifo through: keep the host's
            fd_dir = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            os.chroot(plan.rootfs)
        _finish_environment(plan)
        path = _prepare_process(plan)
        ch.send(sync.READY)
    except BaseException as exc:
        _report(ch, exc)
    if plan.autostart:
        if fd_dir >= 0:
            os.close(fd_dir)
        fifo = -1
    else:
        ch.close()
        fifo = _wait_for_start(plan.fifo_fd, fd_dir)
    try:
        _run_hooks(plan, "startContainer", state_json)
        process.finalize(plan.proc, plan.seccomp, plan.userns, plan.caps)
        # closes the fifo, or the sync channel, (close-on-exec): start returns
        process.exec_process(path, plan.proc, plan.preserve_fds)
    except BaseException as exc:
        msg = f"{exc}"
        if not _tell_start(fifo, ch, msg):  # `start` prints it; else it must not be lost
            os.write(2, f"wharfie-runtime: {msg}\n".encode())
        os._exit(126 if "permission denied" in msg else 127)
    os._exit(127)


def _tell_start(fd: int, ch: sync.Channel, msg: str) -> bool:
    try:
        if fd < 0:
            ch.send(sync.ERROR, msg or "error")
        else:
            os.write(fd, msg.encode() or b"error")
    except (OSError, sync.PeerGone):
        return False  # start is gone
    return True


def _await_cgroup(plan: InitPlan, ch: sync.Channel) -> None:
    if plan.await_cgroup:
        ch.recv()  # CGROUP_READY: limits and device rules are in place


def _setup_rootfs(plan: InitPlan, ch: sync.Channel) -> None:
    rootfs.prepare_root(plan.rootfs, plan.linux.get("rootfsPropagation") or "")
    dev_is_tmpfs = False
    for i, m in enumerate(plan.mounts):
        rootfs.mount_one(plan.rootfs, m, plan.cgroup_mounts, plan.idmap_fds.get(i, -1))
        if m["destination"].rstrip("/") == "/dev" and m.get("type") != "bind":
            dev_is_tmpfs = True
    # mknod is subject to the devices cgroup, whose rules are rewritten (deny all, then
    # allow) while resources are applied: wait for them before making device nodes.
    _await_cgroup(plan, ch)
    if dev_is_tmpfs:
        rootfs.create_devices(plan.rootfs, plan.linux.get("devices") or [], plan.userns)
        rootfs.dev_symlinks(plan.rootfs)
    rootfs.make_cwd(plan.rootfs, plan.proc.get("cwd") or "/")


def _enter_rootfs(plan: InitPlan) -> None:
    if plan.no_pivot:
        rootfs.move_root(plan.rootfs)
    else:
        rootfs.pivot_root(plan.rootfs)
    prop = plan.linux.get("rootfsPropagation")
    if prop:
        from wharfie.runtime.mount_options import PROPAGATION

        sc.mount(None, "/", None, PROPAGATION[prop], None)


def _finish_environment(plan: InitPlan) -> None:
    linux = plan.linux
    if linux.get("sysctl"):
        rootfs.write_sysctls(linux["sysctl"])
    if plan.proc.get("terminal"):
        from wharfie.runtime import console

        console.setup_in_container(plan.console_fd, plan.proc.get("consoleSize"))
    if plan.mount_setup:
        rootfs.mask_paths(linux.get("maskedPaths") or [])
        rootfs.readonly_paths(linux.get("readonlyPaths") or [])
        if plan.readonly:
            rootfs.readonly_root()
    if plan.new_netns:
        sc.link_up("lo")
    if plan.hostname is not None:
        sc.sethostname(plan.hostname)
    if plan.domainname is not None:
        sc.setdomainname(plan.domainname)


def _prepare_process(plan: InitPlan) -> str:
    proc = plan.proc
    process.set_rlimits(proc.get("rlimits"))
    process.set_oom_score_adj(proc.get("oomScoreAdj"))
    cwd = proc.get("cwd") or "/"
    try:
        os.chdir(cwd)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise process.ProcessError(
            f"chdir to cwd ({cwd!r}) set in config.json failed: {reason}"
        ) from exc
    return process.lookup_executable(proc["args"][0], proc.get("env") or [], cwd)


def _wait_for_start(fifo_fd: int, fd_dir: int = -1) -> int:
    """Block until `start` opens the fifo; say "0" (released) and keep the fd for errors.

    The fd is close-on-exec, so a successful execve is what ends `start`'s read.
    """
    try:
        if fd_dir >= 0:
            fd = os.open(str(fifo_fd), os.O_WRONLY | os.O_CLOEXEC, dir_fd=fd_dir)
            os.close(fd_dir)
        else:
            fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(fd, b"0")
        os.close(fifo_fd)
    except OSError as exc:
        os.write(2, f"wharfie-runtime: waiting for start on the exec fifo: {exc}\n".encode())
        os._exit(127)
    return fd


def _run_hooks(plan: InitPlan, kind: str, state_json: str) -> None:
    hooks = plan.hooks.get(kind)
    if hooks:
        from wharfie.runtime import hooks as hookrun

        hookrun.run_all(kind, hooks, state_json)
