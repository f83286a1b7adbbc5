"""Start-up: re-adopt what still runs, finish what happened while we were away, and
remove what belongs to nobody.

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
from typing import TYPE_CHECKING, Any

from wharfie import network
from wharfie.engine import links, restart
from wharfie.engine.model import Container
from wharfie.errors import WharfieError

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

log = logging.getLogger("wharfie.engine")


async def recover(engine: Engine) -> None:
    for doc in engine.store.load_containers():
        engine.add(Container(doc))
    links.restored(engine)
    hello = await engine.need_monitor().hello()
    known = {s["id"]: s for s in hello.get("containers", [])}
    for c in list(engine.containers.values()):
        await _reconcile(engine, c, known.get(c.id))
    _remove_orphans(engine)
    engine.volumes.recover()
    for c in list(engine.containers.values()):
        if not c.running and restart.restart_on_daemon_start(c):
            try:
                await engine.ctr.start(c.id)
            except WharfieError as exc:
                log.warning("restarting %s at start-up failed: %s", c.name, exc)


async def _reconcile(engine: Engine, c: Container, status: dict[str, Any] | None) -> None:
    if status is not None and status.get("status") == "running":
        if not c.running:  # the daemon died between the monitor's start and our save
            c.set_running(int(status["pid"]))
        c.state["Pid"] = int(status["pid"])
        _reconcile_paused(engine, c)
        engine.save(c)
        engine.health.watch(c)
        return
    if status is not None and status.get("status") == "exited":
        c.state.update(Running=True)
        await engine.ctr.on_exit(c.id, int(status.get("exit_code") or 0), None)
        return
    if c.running or c.state.get("Restarting") or os.path.ismount(_rootfs(engine, c)):
        log.info("container %s is gone (monitor lost it): marking it exited", c.id[:12])
        await engine.ctr.release(c)
        c.set_exited(255, False)
        engine.save(c)
    if c.host_config.get("AutoRemove") and c.id in engine.containers:
        await engine.ctr.remove(c.id, force=True, volumes=True)


def monitor_lost(engine: Engine) -> None:
    """The monitor's connection dropped: it died. Say so at once (events, `info`); the
    monitor client reconnects to the one its warden forks, and `monitor_back` follows."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    log.error("the container monitor died at %s: re-adopting its containers", when)
    engine.warnings[:] = [w for w in engine.warnings if "container monitor" not in w]
    engine.warnings.append(
        f"WARNING: the container monitor died at {when}; "
        "a new one re-adopted the running containers"
    )
    engine.events.emit("daemon", "monitor-died", engine.daemon_id, {"name": socket.gethostname()})


async def monitor_back(engine: Engine, hello: dict[str, Any]) -> None:
    """A new monitor answers: finish what ended meanwhile; never kill what still runs."""
    known = {s["id"]: s for s in hello.get("containers", [])}
    adopted = 0
    for c in list(engine.containers.values()):
        status = known.get(c.id)
        if not c.running or status is None:
            if c.running:  # started by nobody we can ask: leave it, do not kill it
                log.warning("container %s is unknown to the new monitor", c.id[:12])
            continue
        if status.get("status") == "running":
            adopted += 1
            c.state["Pid"] = int(status["pid"])
            _reconcile_paused(engine, c)  # a pause or resume may have died with it
            engine.save(c)
        elif status.get("status") == "exited":
            await engine.ctr.on_exit(c.id, int(status.get("exit_code") or 0), None)
    log.info("the new monitor re-adopted %d running containers", adopted)
    engine.events.emit(
        "daemon", "monitor-restarted", engine.daemon_id,
        {"name": socket.gethostname(), "containers": str(adopted)},
    )  # fmt: skip


def _reconcile_paused(engine: Engine, c: Container) -> None:
    """Paused or not is what the freezer says: a kill between the runtime's pause (or
    resume, e.g. around a commit) and saving the state left the two apart."""
    from wharfie import cgroups

    try:
        frozen = cgroups.for_container(engine.ctr.cgroups_path(c), c.id).frozen()
    except (OSError, WharfieError) as exc:
        log.warning("reading the freezer of %s: %s", c.id[:12], exc)
        return
    if frozen != c.paused:
        log.info("container %s is %s: recording it", c.id[:12], "paused" if frozen else "running")
        c.state.update(Paused=frozen, Status="paused" if frozen else "running")


def _rootfs(engine: Engine, c: Container) -> str:
    return os.path.join(engine.bundle_dir(c.id), "rootfs")


def _remove_orphans(engine: Engine) -> None:
    """Directories, mounts and netns files of containers the database does not know."""
    known = set(engine.containers)
    for parent in (
        os.path.join(engine.config.exec_root, "containers"),
        os.path.join(engine.config.data_root, "containers"),
    ):
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
    netns_dir = os.path.join(engine.config.exec_root, "netns")
    for cid in _listdir(netns_dir):
        c = engine.containers.get(cid)
        if c is None or not c.running:
            network.delete_netns(os.path.join(netns_dir, cid))
    running = {c.id for c in engine.containers.values() if c.running}
    for link in engine.bridge.stale_links(running):
        engine.bridge.remove_link(link)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
