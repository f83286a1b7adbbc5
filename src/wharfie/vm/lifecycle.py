"""The commands of `wharfie-vm`: create/run, start, state, kill, delete, pause, exec, ps.

Everything a container has lives under `<root>/<id>/` and in the shim's processes; a failed
create removes both before it reports, and `delete` removes both whatever state the shim left
(even after it was SIGKILLed), so nothing leaks: no QEMU, virtiofsd, mount or state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from wharfie.errors import FailedPrecondition, InvalidArgument
from wharfie.vm import accel, assets, disk, proto, qemu, snapshot
from wharfie.vm import state as vmstate
from wharfie.vm.cli import CLIError

OCI_VERSION = "1.1.0"
ANNOTATION_ACCEL = "org.wharfie.vm.accelerator"


def _control(st: vmstate.State, req: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    s.settimeout(timeout)
    try:
        s.connect(st.sock("shim.sock"))
        s.send(json.dumps(req).encode())
        data = s.recv(1 << 16)
    except OSError as exc:
        raise CLIError(f"wharfie-vm: talking to the shim of {st.id}: {exc}") from exc
    finally:
        s.close()
    if not data:
        raise CLIError(f"wharfie-vm: the shim of {st.id} closed the connection")
    reply: dict[str, Any] = json.loads(data)
    if "error" in reply:
        raise CLIError(str(reply["error"]))
    return reply


def _load(root: str, cid: str) -> vmstate.State:
    st = vmstate.load(root, cid)
    if st is None:
        raise CLIError("container does not exist")
    return st


def status_of(st: vmstate.State) -> tuple[str, int]:
    if st.shim is None or not st.shim.alive():
        return "stopped", 0
    try:
        reply = _control(st, {"op": "state"}, timeout=5.0)
    except CLIError:
        return "running", st.shim.pid  # alive but busy: it is running something
    return str(reply["status"]), st.shim.pid


def oci_state(root: str, cid: str) -> dict[str, Any]:
    st = _load(root, cid)
    status, pid = status_of(st)
    return {
        "ociVersion": OCI_VERSION, "id": st.id, "pid": pid, "status": status,
        "bundle": st.bundle, "rootfs": os.path.join(st.bundle, "rootfs"), "created": st.created,
        "annotations": {**st.annotations, ANNOTATION_ACCEL: st.accel},
    }  # fmt: skip


def features() -> dict[str, Any]:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [],
        "mountOptions": sorted(proto._FLAGS),
        "linux": {
            "namespaces": ["pid", "network", "ipc", "uts", "mount"],
            "capabilities": [],
            "cgroup": {"v1": False, "v2": False, "systemd": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": _accel_annotations(),
    }


def _accel_annotations() -> dict[str, str]:
    """The accelerator VMs get here; `org.wharfie.warning` is what the engine shows users."""
    verdict = accel.cached(assets.assets_dir())
    out = {"org.wharfie.vm": "each container runs in its own QEMU microVM"}
    if verdict is not None:
        out[ANNOTATION_ACCEL] = verdict.name
        out["org.wharfie.vm.accelerator.reason"] = verdict.reason
        if verdict.warning:
            out["org.wharfie.warning"] = verdict.warning
    return out


# -- create / run -------------------------------------------------------------------------------


def plan_for(spec: dict[str, Any], bundle: str, console_socket: str | None, start_now: bool,
             st_dir: str, acc: accel.Accel, kernel: assets.Kernel) -> Any:  # fmt: skip
    from wharfie.vm.machine import Plan

    proto.check_supported(spec)
    process = spec.get("process") or {}
    if process.get("terminal") and not console_socket:
        raise InvalidArgument(
            "cannot allocate tty if runc will detach without setting console socket"
        )
    mounts = proto.plan_mounts(spec.get("mounts") or [])
    records = proto.process_records(process)
    if spec.get("hostname"):
        records.append(f"hostname={spec['hostname']}")
    records += mounts.records
    root = spec.get("root") or {}
    rootfs = os.path.join(bundle, str(root.get("path") or "rootfs"))
    if not os.path.isdir(rootfs):
        raise InvalidArgument(f"root.path: {rootfs} is not a directory")
    netns = None
    for ns in (spec.get("linux") or {}).get("namespaces") or []:
        if ns.get("type") == "network" and ns.get("path"):
            netns = str(ns["path"])
    mib, vcpus = proto.resources(spec)
    fs = "disk" if disk.wanted(spec) else qemu.share_kind()
    if fs == "disk":
        disk.check_shares(mounts.shares)
    vm = qemu.VMConfig(
        kernel=kernel.vmlinux, initramfs=kernel.initramfs, state_dir=st_dir, memory_mib=mib,
        vcpus=vcpus, accel=acc.name, tsc_khz=qemu.tsc_khz(), fs=fs,
        root_readonly=fs == "disk" and bool((spec.get("root") or {}).get("readonly")),
    )  # fmt: skip
    return Plan(
        cgroups_path=(spec.get("linux") or {}).get("cgroupsPath"),
        vm=vm, records=records, shares=mounts.shares, rootfs=rootfs,
        root_readonly=bool(root.get("readonly")), netns=netns,
        tty=bool(process.get("terminal")), console_socket=console_socket, start_now=start_now,
    )  # fmt: skip


def create(
    root: str, cid: str, bundle: str, console_socket: str | None, pid_file: str | None,
    start_now: bool, detach: bool, log: Callable[[str, str], None], restore: str | None = None,
) -> int:  # fmt: skip
    """`create`/`run`, or `restore` (`restore` = the checkpoint directory: the VM resumes
    from it with the checkpoint's kernel, RAM and vCPUs, the bundle gives its namespaces)."""
    if not vmstate.valid_id(cid):
        raise CLIError(f"invalid container id format: {cid}")
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
    except FileNotFoundError:
        raise CLIError(f"open {bundle}/config.json: no such file or directory") from None
    except ValueError as exc:
        raise CLIError(f"config.json: {exc}") from exc
    meta = snapshot.load_meta(restore) if restore else None
    kernel = assets.find_kernel(meta.kernel if meta else None)
    binary = qemu.qemu_binary()
    if meta is not None and meta.qemu != snapshot.qemu_version(binary):
        raise CLIError(
            f"wharfie-vm: the checkpoint was taken with {meta.qemu}; this host has"
            f" {snapshot.qemu_version(binary)}: QEMU restores only its own version's state"
        )
    if qemu.share_kind() == "virtiofs":
        qemu.virtiofsd_binary()
    os.makedirs(root, mode=0o711, exist_ok=True)
    acc = accel.detect(kernel.vmlinux, kernel.initramfs, assets.assets_dir())
    if acc.warning:
        log("warning", acc.warning)
    d = os.path.join(root, cid)
    plan = plan_for(spec, bundle, console_socket, start_now, d, acc, kernel)
    if meta is not None:
        assert restore is not None
        plan = _restore_plan(plan, meta, restore)
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        raise CLIError("container with given ID already exists") from None
    st = vmstate.State(
        id=cid, bundle=bundle, dir=d, created=_rfc3339(), accel=acc.name,
        accel_reason=acc.reason, annotations=dict(spec.get("annotations") or {}),
        memory_mib=plan.vm.memory_mib, vcpus=plan.vm.vcpus,
    )  # fmt: skip
    try:
        st.save()
        pid, report = _fork_shim(st, plan)
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    if report != "ok":
        _reap(pid)
        _cleanup(st)
        raise CLIError(report.removeprefix("err ").strip() or "wharfie-vm: the shim failed")
    if pid_file:
        _write_atomic(pid_file, str(pid))
    if detach:
        return 0
    return _reap(pid)


def _restore_plan(plan: Any, meta: snapshot.Meta, directory: str) -> Any:
    """The VM must be the one that was saved: its RAM, vCPUs, accelerator, MAC and disk."""
    import dataclasses

    if meta.tty != plan.tty:
        have = "a terminal" if meta.tty else "no terminal"
        raise CLIError(f"wharfie-vm: the checkpoint's container had {have}; the bundle differs")
    vm = dataclasses.replace(
        plan.vm, memory_mib=meta.memory_mib, vcpus=meta.vcpus, accel=meta.accel,
        tsc_khz=meta.tsc_khz, fs="disk", mac=meta.mac or None,
        incoming=os.path.join(os.path.abspath(directory), snapshot.MEMORY),
    )  # fmt: skip
    return dataclasses.replace(plan, vm=vm, restore=os.path.abspath(directory), start_now=True)


def checkpoint(root: str, cid: str, image_path: str, leave_running: bool) -> None:
    st = _load(root, cid)
    status, _ = status_of(st)
    if status not in ("running", "paused"):
        raise CLIError(f"cannot checkpoint a container that is {status}")
    os.makedirs(image_path, exist_ok=True)
    _control(st, {"op": "checkpoint", "dir": os.path.abspath(image_path),
                  "leave_running": leave_running}, timeout=900)  # fmt: skip
    if not leave_running:  # the shim ends the VM and exits with 137; wait for that
        until = time.monotonic() + 30
        while st.shim is not None and st.shim.alive() and not _zombie(st.shim.pid):
            if time.monotonic() > until:
                break
            time.sleep(0.02)


def _fork_shim(st: vmstate.State, plan: Any) -> tuple[int, str]:
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.close(r)
            os.setsid()
            st.shim = vmstate.proc_of(os.getpid())
            st.cgroup = _join_cgroup(plan.cgroups_path, st.id)
            st.save()
            from wharfie.vm import shim

            code = shim.run(st, plan, w)
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while True:
        data = os.read(r, 4096)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    return pid, b"".join(chunks).decode(errors="replace").strip() or "err the shim died"


def _reap(pid: int) -> int:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 255
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def start(root: str, cid: str) -> None:
    st = _load(root, cid)
    status, _ = status_of(st)
    if status != "created":
        raise CLIError(f"cannot start a container that is {status}" if status != "stopped"
                       else "cannot start a container that has stopped")  # fmt: skip
    _control(st, {"op": "start"}, timeout=600)


# -- signals, pause ------------------------------------------------------------------------------


def kill(root: str, cid: str, sig: int, all_: bool) -> None:
    st = _load(root, cid)
    status, pid = status_of(st)
    if status == "stopped":
        raise CLIError("container not running")
    if sig == signal.SIGKILL:
        os.kill(pid, signal.SIGKILL)  # the VM dies with its shim
        return
    _control(st, {"op": "kill", "signal": sig, "all": all_})


def pause(root: str, cid: str, on: bool) -> None:
    st = _load(root, cid)
    status, _ = status_of(st)
    if on and status != "running":
        raise CLIError(
            f"container not running: {status}" if status != "paused" else "container already paused"
        )
    if not on and status != "paused":
        raise CLIError("container not paused")
    _control(st, {"op": "pause" if on else "resume"})


def update(root: str, cid: str, resources: dict[str, Any]) -> None:
    """`update -r`: the VM's RAM and vCPU count are fixed for its life (QEMU's microvm has
    no memory or CPU hotplug); a change of either is refused with what to do instead. The
    other limits are not applied to a VM container (docs/vm.md), at create as here."""
    st = _load(root, cid)
    status, _ = status_of(st)
    if status == "stopped":
        raise CLIError("container not running")
    mib, vcpus = proto.resources({"linux": {"resources": resources}})
    if st.memory_mib and (mib, vcpus) != (st.memory_mib, st.vcpus):
        raise CLIError(
            f"wharfie-vm: a running VM keeps the memory ({st.memory_mib} MiB) and vCPUs"
            f" ({st.vcpus}) it started with, and this update asks for {mib} MiB and"
            f" {vcpus} vCPU(s): QEMU's microvm has no memory or CPU hotplug. Stop the"
            " container, update it, and start it again"
        )


def pids(root: str, cid: str) -> list[int]:
    st = _load(root, cid)
    return [p.pid for p in (st.shim, st.qemu, st.virtiofsd) if p is not None and p.alive()]


# -- delete --------------------------------------------------------------------------------------


def delete(root: str, cid: str, force: bool) -> None:
    st = vmstate.load(root, cid)
    if st is None:
        if vmstate.valid_id(cid) and os.path.isdir(os.path.join(root, cid)):
            shutil.rmtree(os.path.join(root, cid), ignore_errors=True)  # a create that crashed
            return
        raise CLIError("container does not exist")
    status, _ = status_of(st)
    if status not in ("stopped", "created") and not force:
        raise CLIError(f"cannot delete container {cid} that is not stopped: {status}")
    _cleanup(st)


def _cleanup(st: vmstate.State) -> None:
    """Kill whatever of the container still runs, then remove its state directory."""
    procs = [p for p in (st.shim, st.qemu, st.virtiofsd) if p is not None]
    for p in procs:
        if p.alive():
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    until = time.monotonic() + 10
    while any(p.alive() and not _zombie(p.pid) for p in procs) and time.monotonic() < until:
        time.sleep(0.01)
    if st.cgroup:
        from wharfie import cgroups
        from wharfie.errors import WharfieError

        cg = cgroups.from_paths(st.cgroup)
        for _ in range(100):  # a zombie stays in the cgroup until its new parent reaps it
            try:
                cg.destroy()
                break
            except (WharfieError, OSError):
                time.sleep(0.02)
    shutil.rmtree(vmstate.sock_dir(st.dir), ignore_errors=True)
    shutil.rmtree(st.dir, ignore_errors=True)


def _join_cgroup(cgroups_path: str | None, cid: str) -> dict[str, str]:
    """Put the shim (so QEMU and virtiofsd too) in the container's cgroup, for accounting
    only: `docker stats` shows what the VM costs the host. No limits are set there: the
    guest's RAM is the memory limit already, and QEMU's overhead must not OOM the VM."""
    from wharfie import cgroups
    from wharfie.errors import WharfieError

    try:
        cg = cgroups.for_container(cgroups_path, cid)
        cg.create()
        cg.add_proc(os.getpid())
    except (WharfieError, OSError):
        return {}  # accounting is best effort; the VM runs without it
    return dict(cg.paths)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


# -- exec ----------------------------------------------------------------------------------------


def exec_(
    root: str, cid: str, process: dict[str, Any], console_socket: str | None,
    pid_file: str | None, detach: bool,
) -> int:  # fmt: skip
    st = _load(root, cid)
    status, _ = status_of(st)
    if status != "running":
        raise CLIError(f"cannot exec in a {status} container")
    proto.process_records(process)  # validate before forking
    if process.get("terminal") and not console_socket:
        raise CLIError("cannot allocate tty if runc will detach without setting console socket")
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.close(r)
            os.setsid()
            from wharfie.vm.execproxy import run_proxy

            code = run_proxy(st.sock("shim.sock"), process, console_socket, w)
        finally:
            os._exit(code)
    os.close(w)
    report = b""
    while chunk := os.read(r, 4096):
        report += chunk
    os.close(r)
    text = report.decode(errors="replace").strip()
    if text != "ok":
        _reap(pid)
        raise CLIError(text.removeprefix("err ").strip() or "wharfie-vm: exec failed")
    if pid_file:
        _write_atomic(pid_file, str(pid))
    if detach:
        return 0
    return _reap(pid)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


__all__ = ["FailedPrecondition", "create", "delete", "exec_", "kill", "oci_state", "start"]
