"""Container lifecycle as the runtime's commands see it: create, start, kill, delete, pause.

`create` validates config.json, claims the state directory, prepares the
cgroup, forks the init stages (see init.py) and waits until the container's
init is parked on the exec fifo. Anything that fails on the way is undone:
the init is killed, the cgroup and state directory removed.
"""

from __future__ import annotations

import os

from wharfie import cgroups
from wharfie import syscalls as sc
from wharfie.errors import FailedPrecondition, InvalidArgument, NotFound
from wharfie.oci import jsonio, runtime_spec
from wharfie.runtime import init, process, state, sync
from wharfie.runtime.spawn import CgroupEntry
from wharfie.runtime.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_STATE_VERSION = "1.0.2-dev"
NS_FLAGS = {
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": sc.CLONE_NEWTIME,
}
# setns order: the user namespace first, mount last but one (it changes path lookup), cgroup last
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "time", "mount", "cgroup")


class CreateOptions:
    __slots__ = (
        "autostart",
        "bundle",
        "console_fd",
        "console_socket",
        "keep",
        "local_console",
        "no_pivot",
        "pid_file",
        "preserve_fds",
        "root",
        "start_channel",
        "subreaper",
        "warn",
    )

    def __init__(
        self,
        root: str,
        bundle: str,
        console_socket: str | None = None,
        pid_file: str | None = None,
        no_pivot: bool = False,
    ) -> None:
        self.root = root
        self.bundle = os.path.abspath(bundle)
        self.console_socket = console_socket
        self.pid_file = pid_file
        self.no_pivot = no_pivot
        self.keep = False  # run --keep: leave the stopped container for `delete`
        self.subreaper = True  # run --no-subreaper clears it
        # foreground `run` without --console-socket: create() makes a private socket
        # pair and leaves the runtime's end here, to proxy the pty through our stdio
        self.local_console = False
        self.preserve_fds = 0
        self.console_fd = -1
        # `run`: the init goes on to exec as soon as it is READY, without an exec fifo;
        # create() then leaves the sync channel here for finish_start()
        self.autostart = False
        self.start_channel: sync.Channel | None = None
        self.warn: list[str] = []


def load_spec(bundle: str) -> dict[str, Any]:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise NotFound(f"JSON specification file {path} not found") from None
    try:
        spec = jsonio.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"{path}: {exc}") from exc
    runtime_spec.validate(spec)
    return spec  # type: ignore[no-any-return]


def rootfs_path(bundle: str, spec: dict[str, Any]) -> str:
    path = os.path.join(bundle, spec["root"]["path"])
    if not os.path.isdir(path):
        raise NotFound(f"rootfs ({path!r}) does not exist")
    return os.path.realpath(path)


def _namespaces(plan: init.InitPlan, linux: dict[str, Any]) -> None:
    by_type = {ns["type"]: ns.get("path") for ns in linux.get("namespaces") or ()}
    for kind in JOIN_ORDER:
        if kind not in by_type:
            continue
        path = by_type[kind]
        if path:
            plan.join.append((path, NS_FLAGS[kind]))
        elif kind == "user":
            plan.new_userns = True
        else:
            plan.unshare_flags |= NS_FLAGS[kind]
    plan.userns = "user" in by_type
    # a mount namespace joined by path gets the rootfs set up in it too, as runc does
    plan.mount_setup = "mount" in by_type
    plan.new_netns = "network" in by_type and not by_type["network"]


def _check_without_mountns(plan: init.InitPlan, linux: dict[str, Any]) -> None:
    """Without a mount namespace in the config (the caller's is inherited) the init only
    chroots into the rootfs: what needs mounting is refused, never skipped."""
    asked = [
        name
        for name, value in (
            ("mounts", plan.mounts),
            ("linux.maskedPaths", linux.get("maskedPaths")),
            ("linux.readonlyPaths", linux.get("readonlyPaths")),
            ("root.readonly", plan.readonly),
        )
        if value
    ]
    if asked:
        raise InvalidArgument(
            "linux.namespaces: the container has no mount namespace of its own, so "
            f"{', '.join(asked)} cannot be applied; "
            'add {"type": "mount"} or leave them out'
        )


def _hooks(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {k: v for k, v in (spec.get("hooks") or {}).items() if v}


def build_plan(opts: CreateOptions, spec: dict[str, Any], rootfs: str, cg: Any) -> init.InitPlan:
    linux = spec.get("linux") or {}
    plan = init.InitPlan()
    plan.rootfs = rootfs
    plan.readonly = bool(spec["root"].get("readonly"))
    plan.mounts = spec.get("mounts") or []
    plan.linux = linux
    plan.proc = spec["process"]
    plan.hostname = spec.get("hostname")
    plan.domainname = spec.get("domainname")
    plan.no_pivot = opts.no_pivot
    plan.preserve_fds = opts.preserve_fds
    _namespaces(plan, linux)
    if not plan.mount_setup:
        _check_without_mountns(plan, linux)
    plan.hooks = _hooks(spec)
    plan.hook_roundtrip = any(
        k in plan.hooks for k in ("prestart", "createRuntime", "createContainer", "startContainer")
    )
    plan.caps = process.Caps(plan.proc.get("capabilities"))
    if plan.caps.unknown:
        opts.warn.append(f"ignoring unknown or unavailable capabilities: {plan.caps.unknown}")
    if any(m.get("type") == "cgroup" for m in plan.mounts):
        from wharfie.runtime.rootfs import CgroupMountInfo

        own_ns = bool(plan.unshare_flags & sc.CLONE_NEWCGROUP)
        plan.cgroup_mounts = CgroupMountInfo(cg.hierarchies(), own_ns)
    if linux.get("seccomp"):
        from wharfie.runtime.seccomp import compile_filter

        cache = os.path.join(opts.root, state.SECCOMP_CACHE)
        plan.seccomp = compile_filter(linux["seccomp"], cache_dir=cache)
    _preload(plan)
    for key, what in (("apparmorProfile", "AppArmor"), ("selinuxLabel", "SELinux")):
        if plan.proc.get(key):
            opts.warn.append(f"{what} is not enabled on this host: ignoring process.{key}")
    return plan


def _preload(plan: init.InitPlan) -> None:
    """Import now what the init stages will need: after pivot_root (or inside a user
    namespace) the Python standard library may no longer be reachable from the child."""
    if plan.proc.get("terminal"):
        from wharfie.runtime import console  # noqa: F401
    if plan.hooks:
        from wharfie.runtime import hooks  # noqa: F401


class _Undo:
    """What a failed create must take back, in reverse order."""

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.cg: Any = None
        self.foreign: set[int] = set()  # processes already in the cgroup before create
        self.dir: str | None = None
        self.fds: list[int] = []

    def close_fds(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def run(self) -> None:
        for pid in self.pids:
            _kill_and_reap(pid)
        self.close_fds()
        if self.cg is not None:
            _empty_cgroup(self.cg, self.foreign)
            if not self.foreign:  # not ours to remove while others' processes live in it
                self.cg.destroy()
        if self.dir is not None:
            state.remove_dir(self.dir)


def _empty_cgroup(cg: Any, foreign: set[int]) -> None:
    """SIGKILL whatever a failed create left in the cgroup (a process the init or stage 1
    had forked, not in undo.pids; never the `foreign` ones that were there before us) and
    wait for it to go, so the cgroup can be removed."""
    import time

    deadline = time.monotonic() + 5
    while (pids := [p for p in cg.pids() if p not in foreign]) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        time.sleep(0.002)


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        _wait_gone(pid)


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while state.proc_start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.002)


def create(opts: CreateOptions, cid: str) -> State:
    spec = load_spec(opts.bundle)
    state.validate_id(cid)
    rootfs = rootfs_path(opts.bundle, spec)  # before claiming the id: a bad rootfs leaves nothing
    undo = _Undo()
    undo.dir = state.new_dir(opts.root, cid)
    try:
        return _create(opts, cid, spec, rootfs, undo)
    except BaseException as exc:
        if opts.start_channel is not None:
            opts.start_channel.close()
            opts.start_channel = None
        try:
            undo.run()
        except Exception as cleanup:  # report the failure, not only the failed clean-up
            raise FailedPrecondition(f"{exc}; and cleaning up after it: {cleanup}") from exc
        raise


def _create(opts: CreateOptions, cid: str, spec: dict[str, Any], rootfs: str, undo: _Undo) -> State:
    linux = spec.get("linux") or {}
    cg = cgroups.for_container(linux.get("cgroupsPath"), cid)
    if cg.frozen():  # a process born in it would stop, unkillable, before it could report
        raise FailedPrecondition("container's cgroup unexpectedly frozen")
    undo.cg = cg
    undo.foreign = set(cg.pids())
    if undo.foreign:  # runc 1.1 warns and goes on (1.2 refuses)
        opts.warn.append(f"container's cgroup is not empty: {len(undo.foreign)} process(es) found")
    cg.create()
    plan = build_plan(opts, spec, rootfs, cg)
    plan.cgroup = CgroupEntry(cg.paths)
    if any(o in ("idmap", "ridmap") for m in plan.mounts for o in m.get("options") or ()):
        from wharfie.runtime import idmap

        plan.idmap_fds = idmap.prepare(plan.mounts, linux)
        undo.fds.extend(plan.idmap_fds.values())
    if plan.seccomp is not None and plan.seccomp.notify:
        from wharfie.runtime.seccomp_notify import attach_listener

        seccomp_state = {
            "ociVersion": OCI_STATE_VERSION,
            "id": cid,
            "status": "creating",
            "bundle": opts.bundle,
            "annotations": spec.get("annotations") or {},
        }
        undo.fds.append(attach_listener(plan.seccomp, linux["seccomp"], seccomp_state))
    # Resources are applied while the init builds its rootfs (it waits for CGROUP_READY
    # before going further); with a new user namespace stage 1 owns the first messages,
    # so they are applied before the fork instead.
    plan.await_cgroup = not plan.new_userns
    if not plan.await_cgroup:
        opts.warn.extend(cg.set(linux.get("resources") or {}))
    sdir = undo.dir
    assert sdir is not None
    # Only an init that clone3 makes directly is started without the fifo: it waits for
    # CGROUP_READY, so its start time is read while it is certainly alive (see _spawn).
    plan.autostart = opts.autostart and not plan.join and not plan.new_userns
    if not plan.autostart:
        fifo = os.path.join(sdir, state.FIFO)
        os.mkfifo(fifo, 0o622)
        os.chmod(fifo, 0o622)  # not cut by our umask
        os.chown(fifo, *_host_root(linux))
        plan.fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        undo.fds.append(plan.fifo_fd)
    if plan.proc.get("terminal"):
        from wharfie.runtime import console

        if opts.console_socket:
            plan.console_fd = console.connect(opts.console_socket)
        elif opts.local_console:
            opts.console_fd, plan.console_fd = console.socketpair()
        else:
            raise InvalidArgument("process.terminal is set but no --console-socket was given")
        undo.fds.append(plan.console_fd)
    process.close_on_exec_from(3 + opts.preserve_fds)
    st = State(sdir, _initial_state(opts, cid, spec, plan, cg))
    if undo.foreign:
        st.data["foreign_pids"] = sorted(undo.foreign)
    st.save()  # a runtime killed from here on leaves enough for `delete` to clean up
    pid = _spawn(plan, st, undo, spec, opts)
    if st.data["pid"] != pid:  # stage 1 made the init: its pid came with READY
        st.data["pid"] = pid
        st.data["start_time"] = state.proc_start_time(pid)
        if st.data["start_time"] is None:  # it is parked on the fifo: gone means killed
            raise FailedPrecondition("container init exited during setup")
        st.save()
    undo.close_fds()
    if opts.pid_file and not (plan.autostart and opts.start_channel is not None):
        write_pid_file(opts.pid_file, pid)
    return st


def _initial_state(
    opts: CreateOptions, cid: str, spec: dict[str, Any], plan: init.InitPlan, cg: Any
) -> dict[str, Any]:
    return {
        "id": cid,
        "pid": 0,
        "bundle": opts.bundle,
        "rootfs": plan.rootfs,
        "created": state.rfc3339_now(),
        "config": spec,
        "cgroup_paths": cg.paths,
    }


def _spawn(
    plan: init.InitPlan, st: State, undo: _Undo, spec: dict[str, Any], opts: CreateOptions
) -> int:
    """Fork the container's init; returns its pid once it is READY.

    Without a user namespace or namespaces joined by path, clone3 makes the init
    directly in its new namespaces and cgroup; otherwise stage 1 prepares them first.
    A directly made init waits for CGROUP_READY before anything else: its pid and start
    time are recorded (and saved) meanwhile, off the init's critical path.
    """
    direct = not plan.join and not plan.new_userns
    flags = plan.unshare_flags & ~sc.CLONE_NEWCGROUP if direct else 0
    parent, child = sync.pair()
    pid = plan.cgroup.fork(flags)
    direct = direct and plan.cgroup.cloned
    if pid == 0:
        parent.close()
        if direct:
            init.direct(child, plan)
        init.stage1(child, plan)
    child.close()
    undo.pids.append(pid)
    keep = False
    try:
        started = state.proc_start_time(pid) if direct and plan.await_cgroup else None
        if started is not None and plan.autostart and opts.pid_file:
            write_pid_file(opts.pid_file, pid)  # before the process can run, as with `create`
        if plan.await_cgroup:
            opts.warn.extend(undo.cg.set((spec.get("linux") or {}).get("resources") or {}))
            try:
                parent.send(sync.CGROUP_READY)
            except sync.PeerGone:
                pass  # the init failed already; _drive reads its reason from the pipe
        if started is not None:
            st.data["pid"], st.data["start_time"] = pid, started
            st.save()
        pid = _drive(parent, pid if direct else 0, 0 if direct else pid, plan, st, undo, spec)
        if plan.autostart and direct:
            opts.start_channel, keep = parent, True
        return pid
    finally:
        if not keep:
            parent.close()


def _drive(
    ch: sync.Channel,
    pid: int,
    stage1: int,
    plan: init.InitPlan,
    st: State,
    undo: _Undo,
    spec: dict[str, Any],
) -> int:
    """Answer the init (and stage 1, if any) until the container is READY; returns its pid.

    The init and stage 1 write to the same channel: the init's READY can come before stage 1
    has said the init's pid (a container joining a network namespace by path takes the
    stage-1 path). Then the pid is still awaited; returning 0 failed the start as "container
    init exited during setup"."""
    pending_hooks = False
    ready = False
    while True:
        try:
            tag, payload = ch.recv()
        except sync.PeerGone:
            raise FailedPrecondition("container init exited during setup") from None
        if tag == sync.ERROR:
            raise FailedPrecondition(payload)
        if tag == sync.USERNS:
            _write_id_maps(stage1, spec["linux"])
            ch.send(sync.GO)
        elif tag == sync.PID:
            pid = int(payload)
            undo.pids.insert(0, pid)
            os.waitpid(stage1, 0)
            undo.pids.remove(stage1)
            if ready:
                return pid
        elif tag == sync.HOOKS:
            pending_hooks = True
        elif tag == sync.READY:
            if pid:
                return pid
            ready = True
        if pending_hooks and pid:
            pending_hooks = False
            ch.send(sync.GO, _create_hooks(st, pid, plan))


def _create_hooks(st: State, pid: int, plan: init.InitPlan) -> str:
    from wharfie.runtime import hooks

    st.data["pid"] = pid
    state_json = jsonio.dumps(st.oci_state("creating"))
    for kind in ("prestart", "createRuntime"):
        if plan.hooks.get(kind):
            hooks.run_all(kind, plan.hooks[kind], state_json)
    return state_json


def _host_root(linux: dict[str, Any]) -> tuple[int, int]:
    """The host uid and gid of the container's root (0, 0 without a user namespace)."""
    ids = []
    for kind in ("uid", "gid"):
        host = 0
        for m in linux.get(f"{kind}Mappings") or ():
            if m["containerID"] <= 0 < m["containerID"] + m["size"]:
                host = m["hostID"] - m["containerID"]
        ids.append(host)
    return ids[0], ids[1]


def _write_id_maps(pid: int, linux: dict[str, Any]) -> None:
    for kind in ("uid", "gid"):
        maps = linux.get(f"{kind}Mappings") or []
        text = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{kind}_map", "w") as f:
                f.write(text)
        except OSError as exc:
            raise FailedPrecondition(
                f"writing {kind}_map {text.strip()!r}: {exc.strerror}"
            ) from exc


def write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)
