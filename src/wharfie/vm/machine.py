"""The VM's host side, as the shim sets it up: share or disk, network, virtiofsd, QEMU.

* the share, in the shim's private mount namespace (`<state>/share`: the rootfs and every
  bind mount of the spec, read-only ones bound read-only), so nothing mounted can leak onto
  the host: the mounts die with the shim and its virtiofsd;
* or, for a checkpointable VM, the ext4 disk made from that share (`disk.py`), or the disk
  of the checkpoint being restored;
* inside the container's network namespace, a tap wired to eth0 (`net.py`);
* virtiofsd and QEMU (both die with the shim: PR_SET_PDEATHSIG), and the agent's socket.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

from wharfie import syscalls
from wharfie.vm import disk, net, proto, qemu, snapshot
from wharfie.vm.state import State, proc_of

PR_SET_PDEATHSIG = 1


@dataclass
class Plan:
    """What `create` decided (lifecycle.plan_for): the VM, the agent's records, the shares."""

    vm: qemu.VMConfig
    records: list[str]
    shares: list[proto.Share]
    rootfs: str
    root_readonly: bool
    netns: str | None
    tty: bool
    console_socket: str | None
    start_now: bool
    cgroups_path: str | None = None
    restore: str | None = None  # a checkpoint directory: resume that VM instead of booting


class MachineError(Exception):
    pass


def _pdeathsig() -> None:
    syscalls.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Machine:
    def __init__(self, st: State, plan: Plan) -> None:
        self.st = st
        self.plan = plan
        self.paths = qemu.paths(st.dir)
        self.qemu: subprocess.Popen[bytes] | None = None
        self.vfsd: subprocess.Popen[bytes] | None = None
        self.gnet: net.GuestNet | None = None  # the address the guest has

    @property
    def vm(self) -> qemu.VMConfig:
        return self.plan.vm

    def start(self) -> socket.socket:
        """Everything up to a connected agent socket (a restored VM: loaded, still paused)."""
        syscalls.unshare(syscalls.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_SLAVE, None)
        os.makedirs(os.path.dirname(self.paths["agent"]), mode=0o700, exist_ok=True)
        if not self.plan.restore:
            self._share()
        if self.vm.fs == "disk":
            self._disk()
        tap_fd = self._network() if self.plan.netns else None
        if self.vm.fs == "virtiofs":
            self.vfsd = subprocess.Popen(
                qemu.virtiofsd_argv(qemu.virtiofsd_binary(), self.st.dir),
                stdin=subprocess.DEVNULL, stdout=self._log("virtiofsd.log"),
                stderr=subprocess.STDOUT, preexec_fn=_pdeathsig, start_new_session=False,
            )  # fmt: skip
            self._wait_for(self.paths["fs"], self.vfsd, "virtiofsd")
        self.qemu = subprocess.Popen(
            qemu.qemu_argv(qemu.qemu_binary(), self.vm),
            stdin=subprocess.DEVNULL, stdout=self._log("qemu.log"), stderr=subprocess.STDOUT,
            preexec_fn=_pdeathsig, pass_fds=(tap_fd,) if tap_fd is not None else (),
        )  # fmt: skip
        if tap_fd is not None:
            os.close(tap_fd)
        self.st.qemu = proc_of(self.qemu.pid)
        self.st.virtiofsd = proc_of(self.vfsd.pid) if self.vfsd is not None else None
        self.st.save()
        agent = self._connect_agent()
        if self.plan.restore:
            snapshot.wait_incoming(self.paths["qmp"], self.alive, lambda: self.tail("QEMU"))
        return agent

    def _share(self) -> None:
        share = self.paths["share"]
        os.makedirs(os.path.join(share, "rootfs"), exist_ok=True)
        self._bind(self.plan.rootfs, os.path.join(share, "rootfs"), self.plan.root_readonly)
        for s in self.plan.shares:
            target = os.path.join(share, s.name)
            if os.path.isdir(s.source):
                os.makedirs(target, exist_ok=True)
            else:
                open(target, "a").close()  # a mount point
            self._bind(s.source, target, s.readonly)

    def _disk(self) -> None:
        image = disk.image_path(self.st.bundle)
        if self.plan.restore:
            disk.copy(os.path.join(self.plan.restore, snapshot.DISK), image + ".tmp")
            os.replace(image + ".tmp", image)
        elif os.path.exists(image):  # started before: what it wrote is there
            disk.refresh(image, self.plan.shares)
        else:
            disk.build(self.paths["share"], image + ".tmp")
            os.replace(image + ".tmp", image)
        self.plan.vm = dataclasses.replace(self.vm, disk=image)

    def _network(self) -> int | None:
        assert self.plan.netns is not None
        fd = os.open(self.plan.netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(fd, syscalls.CLONE_NEWNET)  # the shim lives there from now on
        finally:
            os.close(fd)
        gnet = self.gnet = net.read_eth0()
        if gnet is None:
            return None
        tap_fd = net.open_tap()
        net.wire(gnet)
        self.plan.records.append(gnet.record())
        self.plan.vm = dataclasses.replace(self.vm, tap_fd=tap_fd, mac=self.vm.mac or gnet.mac)
        return tap_fd

    def _connect_agent(self) -> socket.socket:
        assert self.qemu is not None
        self._wait_for(self.paths["agent"], self.qemu, "QEMU")
        agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        until = time.monotonic() + 10
        while True:
            try:
                agent.connect(self.paths["agent"])
                break
            except ConnectionRefusedError:  # the socket exists, QEMU is not listening yet
                if time.monotonic() > until or self.qemu.poll() is not None:
                    agent.close()
                    raise MachineError(
                        f"QEMU does not accept connections: {self.tail('QEMU')}"
                    ) from None
                time.sleep(0.005)
        agent.setblocking(False)
        return agent

    def _bind(self, src: str, dst: str, ro: bool) -> None:
        syscalls.mount(src, dst, None, syscalls.MS_BIND | syscalls.MS_REC, None)
        if ro:
            syscalls.mount(
                None, dst, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY, None
            )

    def _log(self, name: str) -> int:
        return os.open(self.st.path(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC)

    def _wait_for(self, path: str, proc: subprocess.Popen[bytes], what: str) -> None:
        until = time.monotonic() + 10
        while not os.path.exists(path):
            if proc.poll() is not None:
                raise MachineError(
                    f"{what} exited with status {proc.returncode}: {self.tail(what)}"
                )
            if time.monotonic() > until:
                raise MachineError(f"{what} did not create {path} within 10 s")
            time.sleep(0.005)

    # -- while it runs ---------------------------------------------------------------------------
    def alive(self) -> bool:
        return self.qemu is not None and self.qemu.poll() is None

    def qmp(self, command: str) -> None:
        from wharfie.vm import hostio

        hostio.qmp(self.paths["qmp"], command)

    def tail(self, what: str) -> str:
        name = "qemu.log" if what == "QEMU" else "virtiofsd.log"
        try:
            with open(self.st.path(name), errors="replace") as f:
                lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
        except OSError:
            return ""
        return "; ".join(lines[-3:])

    def console_tail(self) -> str:
        try:
            with open(self.paths["console"], errors="replace") as f:
                lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
        except OSError:
            return "(no console output)"
        return " | ".join(lines[-3:]) or "(no console output)"

    def kill(self, grace: float = 0.0) -> None:
        """QEMU gets `grace` seconds to power off by itself, then both are killed."""
        for p in (self.qemu, self.vfsd):
            if p is None:
                continue
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            grace = 0.5

    def checkpoint(self, directory: str, tty: bool) -> None:
        """The stopped VM's state and disk into `directory` (snapshot.py's layout)."""
        vm = self.vm
        snapshot.migrate_to_file(self.paths["qmp"], os.path.join(directory, snapshot.MEMORY))
        assert vm.disk is not None
        disk.copy(vm.disk, os.path.join(directory, snapshot.DISK))
        snapshot.save_meta(directory, snapshot.Meta(
            container=self.st.id, kernel=os.path.basename(os.path.dirname(vm.kernel)),
            qemu=snapshot.qemu_version(qemu.qemu_binary()), memory_mib=vm.memory_mib,
            vcpus=vm.vcpus, accel=vm.accel, tsc_khz=vm.tsc_khz, tty=tty, mac=vm.mac or "",
            net=self.gnet.record() if self.gnet else "",
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ))  # fmt: skip
