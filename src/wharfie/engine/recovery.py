"""Start-up: re-adopt what still runs, finish what happened while we were away, and
remove what belongs to nobody. Also what follows a monitor that died and came back.

Ground truth is the monitor (which processes run, which exited and how) and the
kernel (mounts, netns files); the database says what should exist. After a
`kill -9` in the middle of a create or start, this leaves either a complete
container (created, running or exited) or nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from typing import Any, Protocol

from wharfie import network
from wharfie.engine import restart
from wharfie.engine.index import ContainerIndex
from wharfie.engine.lifecycle_state import EventSink, Move, allowed, transition
from wharfie.engine.model import Container
from wharfie.engine.monitorlink import RuntimeClient
from wharfie.engine.paths import Paths
from wharfie.errors import WharfieError

log = logging.getLogger("wharfie.engine")


class StoredContainers(Protocol):
    def load_containers(self) -> list[dict[str, Any]]: ...


class Lifecycle(Protocol):
    """What recovery asks of the container service."""

    async def start(self, ref: str) -> bool: ...

    async def on_exit(self, cid: str, code: int, finished: float | str | None) -> None: ...

    async def release(self, c: Container) -> None: ...

    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None: ...

    def cgroups_path(self, c: Container) -> str: ...


class HealthWatch(Protocol):
    def watch(self, c: Container) -> None: ...


class VolumeRecovery(Protocol):
    def recover(self) -> None: ...


class ExecExits(Protocol):
    """The exec sessions, to record the exits a dead monitor could not report."""

    def still_running(self, eid: str) -> bool: ...
    def on_exit(self, eid: str, code: int) -> None: ...


class RestoredLinks(Protocol):
    def restored(self) -> None: ...  # drop the links to containers that are gone


class BridgeLinks(Protocol):
    def stale_links(self, running: set[str]) -> list[str]: ...

    def remove_link(self, name: str) -> None: ...


class Recovery:
    def __init__(
        self,
        *,
        index: ContainerIndex,
        store: StoredContainers,
        runtime: RuntimeClient,
        lifecycle: Lifecycle,
        health: HealthWatch,
        volumes: VolumeRecovery,
        bridge: BridgeLinks,
        links: RestoredLinks,
        paths: Paths,
        events: EventSink,
        warnings: list[str],
        daemon_id: str,
        execs: ExecExits,
    ) -> None:
        self.index = index
        self.execs = execs
        self.store = store
        self.rt = runtime
        self.lifecycle = lifecycle
        self.health = health
        self.volumes = volumes
        self.bridge = bridge
        self.links = links
        self.paths = paths
        self.events = events
        self.warnings = warnings  # the engine's list, shown by `info`
        self.daemon_id = daemon_id

    async def recover(self) -> None:
        for doc in self.store.load_containers():
            self.index.add(Container.from_stored(doc))
        self.links.restored()
        hello = await self.rt.hello()
        known = {s["id"]: s for s in hello.get("containers", [])}
        for c in self.index.all():
            await self._reconcile(c, known.get(c.id))
        self._remove_orphans()
        self.volumes.recover()
        for c in self.index.all():
            if not c.running and restart.restart_on_daemon_start(c):
                try:
                    await self.lifecycle.start(c.id)
                except WharfieError as exc:
                    log.warning("restarting %s at start-up failed: %s", c.name, exc)

    async def _reconcile(self, c: Container, status: dict[str, Any] | None) -> None:
        if status is not None and status.get("status") == "running":
            # not running: the daemon died between the monitor's start and our save
            transition(c, Move.ADOPT, self.events, pid=int(status["pid"]))
            self._reconcile_paused(c)
            self.index.save(c)
            self.health.watch(c)
            return
        if status is not None and status.get("status") == "exited":
            if not c.running and allowed(c, Move.ADOPT):  # it ran and ended before we saved
                transition(c, Move.ADOPT, self.events, pid=0)
            await self.lifecycle.on_exit(c.id, int(status.get("exit_code") or 0), None)
            return
        if c.running or c.state.restarting or self.paths.rootfs_mounted(c.id):
            log.info("container %s is gone (monitor lost it): marking it exited", c.id[:12])
            await self.lifecycle.release(c)
            if allowed(c, Move.LOST):
                transition(c, Move.LOST, self.events)
                self.index.save(c)
        if c.host_config.get("AutoRemove") and self.index.get(c.id) is c:
            await self.lifecycle.remove(c.id, force=True, volumes=True)

    def monitor_lost(self) -> None:
        """The monitor's connection dropped: it died. Say so at once (events, `info`); the
        monitor client reconnects to the one its warden forks, and `monitor_back` follows."""
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log.error("the container monitor died at %s: re-adopting its containers", when)
        self.warnings[:] = [w for w in self.warnings if "container monitor" not in w]
        self.warnings.append(
            f"WARNING: the container monitor died at {when}; "
            "a new one re-adopted the running containers"
        )
        self.events.emit("daemon", "monitor-died", self.daemon_id, {"name": socket.gethostname()})

    async def monitor_back(self, hello: dict[str, Any]) -> None:
        """A new monitor answers: finish what ended meanwhile; never kill what still runs."""
        known = {s["id"]: s for s in hello.get("containers", [])}
        adopted = 0
        for c in self.index.all():
            status = known.get(c.id)
            if not c.running or status is None:
                if c.running:  # started by nobody we can ask: leave it, do not kill it
                    log.warning("container %s is unknown to the new monitor", c.id[:12])
                continue
            if status.get("status") == "running":
                adopted += 1
                if allowed(c, Move.ADOPT):
                    transition(c, Move.ADOPT, self.events, pid=int(status["pid"]))
                self._reconcile_paused(c)  # a pause or resume may have died with it
                self.index.save(c)
            elif status.get("status") == "exited":
                await self.lifecycle.on_exit(c.id, int(status.get("exit_code") or 0), None)
        for ex in hello.get("execs", []):  # execs re-adopted too: those that ended meanwhile
            eid = str(ex.get("exec_id"))
            if not self.execs.still_running(eid):  # unknown here, or its exit is recorded
                continue
            if ex.get("status") == "exited" and ex.get("exit_code") is not None:
                self.execs.on_exit(eid, int(ex["exit_code"]))
        log.info("the new monitor re-adopted %d running containers", adopted)
        self.events.emit(
            "daemon", "monitor-restarted", self.daemon_id,
            {"name": socket.gethostname(), "containers": str(adopted)},
        )  # fmt: skip

    def _reconcile_paused(self, c: Container) -> None:
        """Paused or not is what the freezer says: a kill between the runtime's pause (or
        resume, e.g. around a commit) and saving the state left the two apart."""
        from wharfie import cgroups

        try:
            frozen = cgroups.for_container(self.lifecycle.cgroups_path(c), c.id).frozen()
        except (OSError, WharfieError) as exc:
            log.warning("reading the freezer of %s: %s", c.id[:12], exc)
            return
        move = Move.FROZEN if frozen else Move.THAWED
        if frozen != c.paused and allowed(c, move):
            log.info(
                "container %s is %s: recording it", c.id[:12], "paused" if frozen else "running"
            )
            transition(c, move, self.events)

    def _remove_orphans(self) -> None:
        """Directories, mounts and netns files of containers the database does not know."""
        known = {c.id for c in self.index.all()}
        for parent in (self.paths.bundles_root(), self.paths.containers_root()):
            for cid in _listdir(parent):
                if cid in known:
                    continue
                path = os.path.join(parent, cid)
                rootfs = os.path.join(path, "rootfs")
                if os.path.ismount(rootfs):
                    from wharfie import snapshots

                    snapshots.unmount(rootfs)
                log.info("removing leftover %s", path)
                shutil.rmtree(path, ignore_errors=True)
        netns_dir = self.paths.netns_root()
        for cid in _listdir(netns_dir):
            c = self.index.get(cid)
            if c is None or not c.running:
                network.delete_netns(os.path.join(netns_dir, cid))
        running = {c.id for c in self.index.all() if c.running}
        for link in self.bridge.stale_links(running):
            self.bridge.remove_link(link)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
