"""Container lifecycle: create, start, the exit path, stop, kill, remove, and friends.

Ordering rules that keep a crash harmless (wharfied can be killed at any line):
* create writes the directories first and the database row last: a directory
  without a row is garbage that start-up recovery removes;
* start records "running" only after the monitor has the process; recovery asks
  the monitor what really runs;
* the exit path releases what start took (runtime state, network, rootfs mount)
  before it reports the exit, and every release step is idempotent.

Every state change goes through `lifecycle_state.transition` (which also refuses illegal
moves and emits the lifecycle events); the service takes what it uses in its constructor,
each as a small protocol declared here (what it asks of images, volumes, networking, links,
health, the rootfs) or a shared piece (index, monitor link, runtimes, paths, spawner).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wharfie import snapshots
from wharfie.engine import (
    filters,
    mounts,
    names,
    present,
    restart,
    rtsched,
    spec,
    users,
    validate,
)
from wharfie.engine.index import ContainerIndex
from wharfie.engine.lifecycle_state import (
    EventSink,
    Move,
    State,
    allowed,
    check,
    notify,
    transition,
)
from wharfie.engine.model import Container, now_rfc3339
from wharfie.engine.monitorlink import RuntimeClient
from wharfie.engine.net import modes as netmodes
from wharfie.engine.paths import Paths
from wharfie.engine.runtimes import Runtimes
from wharfie.engine.storageopt import check as check_storage_opt
from wharfie.engine.tasks import Spawner
from wharfie.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, WharfieError
from wharfie.images import ImageRecord
from wharfie.monitor.client import StartRequest

log = logging.getLogger("wharfie.engine")
KILL_WAIT = 10.0  # seconds a SIGKILL waits for the exit before the call returns

TINI = "/usr/bin/tini-static"


@dataclass(frozen=True)
class ContainersConfig:
    """The daemon settings the container service reads (engine.core.Config's)."""

    data_root: str
    default_runtime: str = "wharfie-runtime"
    cgroup_parent: str = "/wharfie"
    create_defaults: validate.CreateDefaults = field(default_factory=validate.CreateDefaults)
    init: bool = False  # the daemon's --init: for containers whose HostConfig.Init is null
    cpu_rt_period: int = 0
    cpu_rt_runtime: int = 0


class ContainerRecords(Protocol):
    """The store's container rows (updates go through the index's save)."""

    def insert_container(self, cid: str, name: str, doc: dict[str, Any]) -> None: ...

    def delete_container(self, cid: str) -> None: ...


class ImageSource(Protocol):
    def resolve(self, ref: str) -> ImageRecord: ...

    def layer_dirs(self, image: ImageRecord) -> list[str]: ...

    def gc_layers(self, keep: set[str]) -> Any: ...


class ContainerVolumes(Protocol):
    def points_of(self, c: Container) -> list[dict[str, Any]]: ...

    def attach(self, cid: str, points: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    async def mount(self, c: Container, rootfs: str) -> None: ...

    def unmount(self, c: Container) -> None: ...

    async def detach(self, c: Container, remove_anonymous: bool) -> None: ...


class Rootfs(Protocol):
    def mount(self, cid: str, image: ImageRecord) -> str: ...

    def unmount(self, cid: str) -> None: ...


class HealthWatch(Protocol):
    def watch(self, c: Container) -> None: ...

    def stop(self, c: Container) -> None: ...


class ContainerNetworking(Protocol):
    """What the container lifecycle asks of networking, at each step."""

    def check_create(self, host_config: dict[str, Any], networking: dict[str, Any]) -> None: ...

    def on_create(self, doc: dict[str, Any], networking: dict[str, Any]) -> None: ...

    def empty_settings(self, mode: str) -> dict[str, Any]: ...  # mode -> NetworkSettings

    async def join_cluster(self, c: Container) -> None: ...  # attachable cluster networks

    def prepare(self, c: Container) -> tuple[str | None, dict[str, str]]: ...  # netns, /etc

    def release(self, c: Container) -> None: ...


class ContainerLinks(Protocol):
    """What the container lifecycle asks of legacy links."""

    def environment(self, c: Container) -> list[str]: ...  # Env with the links' variables

    def forget(self, child_id: str, child_name: str) -> None: ...  # a removed container

    def renamed(self, c: Container) -> None: ...  # c has a new name


def cgroups_path(c: Container, default_parent: str) -> str:
    """The container's cgroupsPath, as given to its runtime."""
    parent = c.host_config.get("CgroupParent") or default_parent
    return f"{parent.rstrip('/')}/{c.id}"


class Containers:
    def __init__(
        self,
        *,
        index: ContainerIndex,
        store: ContainerRecords,
        events: EventSink,
        runtime: RuntimeClient,
        runtimes: Runtimes,
        images: ImageSource,
        volumes: ContainerVolumes,
        net: ContainerNetworking,
        links: ContainerLinks,
        health: HealthWatch,
        paths: Paths,
        rootfs: Rootfs,
        config: ContainersConfig,
        tasks: Spawner,
        oom_killed: Callable[[Container], bool],
    ) -> None:
        self.index = index
        self.store = store
        self.events = events
        self.rt = runtime
        self.runtimes = runtimes
        self.images = images
        self.volumes = volumes
        self.net = net
        self.links = links
        self.health = health
        self.paths = paths
        self.rootfs = rootfs
        self.config = config
        self.tasks = tasks
        self.oom_killed = oom_killed  # asks the container's runtime (engine/streams.py)

    # ------------------------------------------------------------------ create
    async def create(self, body: Any, name: str, api_version: tuple[int, int]) -> dict[str, Any]:
        cfg = validate.container_create(
            body,
            api_version=api_version,
            defaults=self.config.create_defaults,
        )
        config, host_config = cfg.config, cfg.host_config
        if not config.get("Image"):
            raise InvalidArgument("config cannot be empty in order to create a container")
        try:
            image = self.images.resolve(str(config["Image"]))
        except NotFound:
            filters.check_image_reference(str(config["Image"]))  # malformed: 400, as moby's
            raise
        self.net.check_create(host_config, cfg.networking)
        rtsched.check(host_config)
        self.runtimes.check(host_config.get("Runtime") or self.config.default_runtime)
        host_config["Runtime"] = host_config.get("Runtime") or self.config.default_runtime
        mounts.check(host_config)
        name = names.validate(name) if name else names.generate(set(self.index.names))
        self._check_name_free(name)
        check_storage_opt(host_config.get("StorageOpt"), self.config.data_root)
        cid = secrets.token_hex(32)
        doc = self._document(cid, name, config, host_config, image)
        self.net.on_create(doc, cfg.networking)
        points = self._mount_points(cid, config, host_config, image)
        doc["Mounts"], doc["_w"]["mounts"] = mounts.public(points), points
        await asyncio.to_thread(self._make_dirs, cid)
        c = Container.from_stored(doc)
        try:
            self.store.insert_container(cid, name, doc)
        except sqlite3.IntegrityError:
            shutil.rmtree(self.paths.container_dir(cid), ignore_errors=True)
            await self.volumes.detach(c, remove_anonymous=True)
            self._check_name_free(name)
            raise
        c.runtime_released = True  # the runtime has never seen it
        self.index.add(c)
        transition(c, Move.CREATE, self.events)
        runtime = str(host_config["Runtime"])
        return {"Id": cid, "Warnings": await asyncio.to_thread(self.runtimes.warnings, runtime)}

    def _mount_points(
        self, cid: str, config: dict[str, Any], host_config: dict[str, Any], image: Any
    ) -> list[dict[str, Any]]:
        sources = []
        for spec_ in host_config.get("VolumesFrom") or []:
            ref, writable = mounts.parse_volumes_from(spec_)
            sources.append((self.volumes.points_of(self.index.find(ref)), writable))
        img_volumes = (image.config.get("config") or {}).get("Volumes")
        points = mounts.plan(config, host_config, img_volumes, sources)
        return self.volumes.attach(cid, points)

    def _check_name_free(self, name: str) -> None:
        other = self.index.names.get(name)
        if other is not None:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container '
                f'"{other}". You have to remove (or rename) that container to be able to '
                "reuse that name."
            )

    def _make_dirs(self, cid: str) -> None:
        cdir = self.paths.container_dir(cid)
        os.makedirs(cdir, mode=0o710)
        snapshots.prepare_rw(cdir)

    def _document(
        self,
        cid: str,
        name: str,
        config: dict[str, Any],
        host_config: dict[str, Any],
        image: Any,
    ) -> dict[str, Any]:
        """The new container's full document (the stored shape): netsetup and links add
        to it before `Container.from_stored` types it."""
        img_cfg = image.config.get("config") or {}
        path_args = spec.command(config, img_cfg)
        mode = netmodes.mode_of(str(host_config.get("NetworkMode") or "bridge"))
        if host_config.get("NetworkMode") in (None, "", "default"):
            host_config["NetworkMode"] = "bridge"
        cdir = self.paths.container_dir(cid)
        full_config = _merged_config(config, img_cfg)
        net_mode = str(host_config.get("NetworkMode") or "")
        if (
            not full_config.get("Hostname")
            and net_mode != "host"
            and not net_mode.startswith("container:")
        ):
            full_config["Hostname"] = cid[:12]  # as moby: inspect shows the hostname it gets
        return {
            "Id": cid,
            "Created": now_rfc3339(),
            "Path": path_args[0],
            "Args": path_args[1:],
            "State": State().to_doc(),
            "Image": image.id,
            "ResolvConfPath": "",
            "HostnamePath": "",
            "HostsPath": "",
            "LogPath": os.path.join(cdir, f"{cid}-json.log"),
            "Name": "/" + name,
            "RestartCount": 0,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": None,
            "HostConfig": host_config,
            "GraphDriver": {
                "Name": "overlay2",
                "Data": {
                    "LowerDir": ":".join(self.images.layer_dirs(image)),
                    "UpperDir": os.path.join(cdir, "rw", "upper"),
                    "WorkDir": os.path.join(cdir, "rw", "work"),
                    "MergedDir": self.paths.rootfs(cid),
                },
            },
            "SizeRw": None,
            "SizeRootFs": None,
            "Mounts": [],
            "Config": full_config,
            "NetworkSettings": self.net.empty_settings(mode),
            "_w": {"runtime": host_config.get("Runtime") or self.config.default_runtime},
        }

    # ------------------------------------------------------------------- start
    async def start(self, ref: str, restore: str | None = None) -> bool:
        """Returns False when the container was already running (HTTP 304). `restore`: a
        checkpoint directory the runtime resumes the container from (checkpoints.py)."""
        c = self.index.find(ref)
        async with c.lock:
            if c.running and not c.paused:
                return False
            check(c, Move.START)
            c.manual_stop = False
            await self._start_locked(c, restore)
            return True

    async def _start_locked(self, c: Container, restore: str | None = None) -> None:
        check(c, Move.START)
        try:
            pid = await self._launch(c, restore)
        except WharfieError as exc:
            await self._start_failed(c, exc)
            raise
        try:
            transition(c, Move.START, self.events, pid=pid)
        except Conflict:  # removed meanwhile: give back what the launch took
            await self.release(c)
            raise
        self.index.save(c)
        self.health.watch(c)

    async def _launch(self, c: Container, restore: str | None = None) -> int:
        image = self.images.resolve(c.image_id)
        rootfs = self.mount_rootfs(c, image)
        try:
            await self.volumes.mount(c, rootfs)
            uid, gid, groups = users.resolve_user(rootfs, str(c.config.get("User") or ""))
            home = users.user_home(rootfs, uid)
            await self.net.join_cluster(c)
            netns, etc_files = self.net.prepare(c)
            rtsched.prepare_parents(
                self.cgroups_path(c),
                c.host_config,
                self.config.cpu_rt_period,
                self.config.cpu_rt_runtime,
            )
            runtime_spec = spec.runtime_spec(
                spec.SpecInputs(
                    container_id=c.id,
                    config={**c.config, "Env": self.links.environment(c)},
                    host_config=c.host_config,
                    image_config=image.config.get("config") or {},
                    rootfs=rootfs,
                    hostname=netmodes.hostname_of(c),
                    user=(uid, gid, groups),
                    home=home,
                    etc_files=etc_files,
                    network=netmodes.mode_of(c.network_mode),
                    netns_path=netns,
                    cgroups_path=self.cgroups_path(c),
                    init_path=TINI if _wants_init(c.host_config, self.config.init) else None,
                    mounts=self._spec_mounts(c),
                )
            )
            _write_json(os.path.join(self.paths.bundle_dir(c.id), "config.json"), runtime_spec)
            c.runtime_released = False
            return await self.rt.start(self._start_request(c, restore))
        except BaseException:
            await self.release(c)
            raise

    def _spec_mounts(self, c: Container) -> list[dict[str, Any]] | None:
        if "mounts" not in c.private:  # created before mount points were recorded
            return None
        points = self.volumes.points_of(c)
        mounts.prepare_binds(points)
        return mounts.spec_mounts(points)

    def _start_request(self, c: Container, restore: str | None = None) -> StartRequest:
        log_cfg = c.host_config.get("LogConfig") or {}
        max_size, max_file = validate.parse_log_opts(log_cfg.get("Config") or {})
        size = c.host_config.get("ConsoleSize") or [0, 0]
        return StartRequest(
            id=c.id,
            bundle=self.paths.bundle_dir(c.id),
            runtime=self.runtimes.ref(c.runtime or None),
            tty=c.tty,
            open_stdin=bool(c.config.get("OpenStdin")),
            stdin_once=bool(c.config.get("StdinOnce")),
            log_path=None if log_cfg.get("Type") == "none" else str(c.doc["LogPath"]),
            log_max_size=max(max_size, 0),
            log_max_file=max(max_file, 1),
            console_size=(int(size[0]), int(size[1])) if size and size[0] else None,
            restore=restore,
        )

    async def _start_failed(self, c: Container, exc: WharfieError) -> None:
        msg = str(exc)
        code = (
            127
            if ("executable file not found" in msg or "no such file" in msg)
            else (126 if "permission denied" in msg else 128)
        )
        transition(c, Move.START_FAILED, self.events, code=code, error=msg)
        self.index.save(c)
        c.resolve_waiters(c.exit_waiters)
        if c.host_config.get("AutoRemove"):
            self.tasks.spawn(self.remove(c.id, force=True, volumes=True))

    def cgroups_path(self, c: Container) -> str:
        return cgroups_path(c, self.config.cgroup_parent)

    def mount_rootfs(self, c: Container, image: ImageRecord) -> str:
        return self.rootfs.mount(c.id, image)

    def unmount_rootfs(self, c: Container) -> None:
        self.rootfs.unmount(c.id)

    async def release(self, c: Container) -> None:
        """Give back what start took: runtime state, network, rootfs mount. Idempotent; the
        runtime's delete is made once per start (a removal after the exit path's release
        forks no runtime)."""
        if self.rt.connected and not c.runtime_released:
            ref = self.runtimes.ref(c.runtime or None)
            rc, _, err = await self.rt.runtime(ref, ["delete", "--force", c.id])
            if rc == 0 or "not exist" in err:
                c.runtime_released = True
            else:
                log.warning("runtime delete %s: %s", c.id[:12], err.strip())
        try:
            self.net.release(c)
        finally:
            self.volumes.unmount(c)
            if c.mount_users == 0:
                self.unmount_rootfs(c)

    # -------------------------------------------------------------------- exit
    async def on_exit(self, cid: str, code: int, finished: float | str | None) -> None:
        """The monitor saw the container's init exit (`finished`: unix seconds)."""
        if isinstance(finished, (int, float)):
            finished = present.rfc3339nano(float(finished))
        c = self.index.get(cid)
        if c is None:
            return
        oom = self._oom_killed(c) if code == 137 and c.running else False
        await self.release(c)  # idempotent: given back whatever the state says
        if not allowed(c, Move.EXIT):  # not running, or another exit path came first
            log.info("exit of %s, which is %s: nothing to record", cid[:12], c.state.status)
            return
        transition(c, Move.EXIT, self.events, code=code, oom=oom, finished=finished)
        self.health.stop(c)
        self.index.save(c)
        if self.rt.connected:
            await self.rt.forget(cid)
        c.resolve_waiters(c.exit_waiters)
        if restart.should_restart(c):
            c.restart_task = self.tasks.spawn(self._restart_later(c))
        elif c.host_config.get("AutoRemove") and not c.removing:
            await self.remove(cid, force=True, volumes=True)

    def _oom_killed(self, c: Container) -> bool:
        return self.oom_killed(c)

    async def _restart_later(self, c: Container) -> None:
        if not allowed(c, Move.RESTARTING):  # started or removed since it exited
            return
        delay = restart.backoff(c)
        transition(c, Move.RESTARTING, self.events)
        self.index.save(c)
        await asyncio.sleep(delay)
        async with c.lock:
            if c.running or c.removing or c.manual_stop or self.index.get(c.id) is not c:
                if allowed(c, Move.RESTART_CANCELLED):
                    transition(c, Move.RESTART_CANCELLED, self.events)
                return
            c.restart_count += 1
            notify(c, "restart", self.events)
            try:
                await self._start_locked(c)
            except WharfieError as exc:
                log.warning("restart of %s failed: %s", c.name, exc)

    # --------------------------------------------------------- stop and signals
    async def stop(self, ref: str, timeout: int | None, signal: str | None) -> bool:
        """Returns False when the container was not running (HTTP 304)."""
        c = self.index.find(ref)
        c.manual_stop = True
        if c.restart_task is not None:
            c.restart_task.cancel()
            if allowed(c, Move.RESTART_CANCELLED):
                transition(c, Move.RESTART_CANCELLED, self.events)
        if not c.running:
            self.index.save(c)
            return False
        await self._stop(c, timeout, signal)
        return True

    async def _stop(self, c: Container, timeout: int | None, signal: str | None) -> None:
        if timeout is None:
            stop_timeout = c.config.get("StopTimeout")
            timeout = 10 if stop_timeout is None else int(stop_timeout)
        signame = signal or c.config.get("StopSignal") or "SIGTERM"
        waiter = self.exit_future(c)
        if c.paused:
            await self.unpause(c.id)
        if timeout != 0:
            await self._signal(c, validate.signal_number(str(signame)))
            if timeout < 0:
                await asyncio.shield(waiter)
                return
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
                return
            except TimeoutError:
                log.info("container %s did not stop in %ss: killing it", c.id[:12], timeout)
        await self._signal(c, 9)
        await asyncio.shield(waiter)
        notify(c, "stop", self.events)

    def exit_future(self, c: Container) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if not c.running:
            fut.set_result({"StatusCode": c.state.exit_code, "Error": None})
        else:
            c.exit_waiters.append(fut)
        return fut

    async def _signal(self, c: Container, signum: int) -> None:
        try:
            await self.rt.signal(c.id, signum)
        except NotFound:
            pass  # it exited meanwhile: the exit event follows

    async def kill(self, ref: str, signal: str) -> None:
        signum = validate.signal_number(signal or "KILL")
        try:
            validate.platform_signal(str(signum))
        except InvalidArgument as exc:
            raise InvalidArgument(f"Cannot kill container: {ref}: {exc}") from None
        c = self.index.find(ref)
        if not c.running:
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        if signum in (9, 15):
            c.manual_stop = True
        if c.paused and signum != 9:
            raise Conflict(
                f"Cannot kill container: {ref}: Container {c.id} is paused. "
                "Unpause the container before stopping or killing"
            )
        waiter = self.exit_future(c) if signum == 9 else None
        await self._signal(c, signum)
        notify(c, "kill", self.events, signal=str(signum))
        if waiter is not None:  # as moby's Kill: SIGKILL returns once the container is down
            try:
                await asyncio.wait_for(asyncio.shield(waiter), KILL_WAIT)
            except TimeoutError:
                log.warning("container %s did not exit %ss after SIGKILL", c.id[:12], KILL_WAIT)

    async def restart(self, ref: str, timeout: int | None, signal: str | None) -> None:
        c = self.index.find(ref)
        if c.running:
            await self._stop(c, timeout, signal)
        async with c.lock:
            c.manual_stop = False
            if not c.running:
                await self._start_locked(c)
        notify(c, "restart", self.events)

    async def pause(self, ref: str) -> None:
        c = self.index.find(ref)
        check(c, Move.PAUSE)
        await self._runtime(c, ["pause", c.id])
        transition(c, Move.PAUSE, self.events)
        self.index.save(c)

    async def unpause(self, ref: str) -> None:
        c = self.index.find(ref)
        check(c, Move.UNPAUSE)
        await self._runtime(c, ["resume", c.id])
        transition(c, Move.UNPAUSE, self.events)
        self.index.save(c)

    async def _runtime_update(self, c: Container, resources: dict[str, Any]) -> None:
        """The runtime changes the cgroup limits (`update -r`, as runc), so runc, crun and
        wharfie-runtime each apply them to the cgroups they made, on any cgroup layout."""
        path = os.path.join(self.paths.bundle_dir(c.id), "update.json")
        _write_json(path, resources)
        try:
            await self._runtime(c, ["update", "-r", path, c.id])
        finally:
            os.unlink(path)

    async def pids(self, c: Container) -> list[int]:
        """The container's processes as its runtime reports them (`ps --format json`)."""
        from wharfie.oci import jsonio

        out = await self._runtime(c, ["ps", "--format", "json", c.id])
        try:
            pids = jsonio.loads(out or "[]")
        except ValueError as exc:
            raise FailedPrecondition(f"runtime ps of {c.id[:12]}: not JSON: {out[:200]!r}") from exc
        if not isinstance(pids, list) or not all(isinstance(p, int) for p in pids):
            raise FailedPrecondition(f"runtime ps of {c.id[:12]}: not pids: {out[:200]!r}")
        return pids

    async def _runtime(self, c: Container, args: list[str]) -> str:
        ref = self.runtimes.ref(c.runtime or None)
        rc, out, err = await self.rt.runtime(ref, args)
        if rc != 0:
            raise FailedPrecondition(f"{ref.name} {args[0]} failed: {err.strip() or rc}")
        return out

    # ------------------------------------------------------------------ remove
    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None:
        c = self.index.find(ref)
        if c.removing and force:  # as a second `rm -f`: wait for the first
            await self.removed_future(c)
            return
        # refused if it runs (without force) or a removal is in progress, in dockerd's words
        transition(c, Move.REMOVE_FORCED if force else Move.REMOVE, self.events, ref=ref)
        if c.restart_task is not None:
            c.restart_task.cancel()
        try:
            if c.running:
                c.manual_stop = True
                waiter = self.exit_future(c)
                if c.paused:
                    await self._runtime(c, ["resume", c.id])
                await self._signal(c, 9)
                await asyncio.shield(waiter)
            async with c.lock:
                await self.release(c)
                # the record goes first: a daemon killed before the files are gone leaves only
                # a directory no record names, which recovery removes (the other order left a
                # record without its directory)
                self.store.delete_container(c.id)
                self.index.drop(c)
                await asyncio.to_thread(self._remove_files, c)
                self.links.forget(c.id, c.name)
                await self.volumes.detach(c, remove_anonymous=volumes)
                if not self._image_exists(c.image_id):
                    await asyncio.to_thread(self.images.gc_layers, self._lowers_in_use())
        except BaseException:
            transition(c, Move.REMOVE_FAILED, self.events)
            raise
        self.health.stop(c)
        transition(c, Move.DESTROY, self.events)
        c.resolve_waiters(c.exit_waiters)
        c.resolve_waiters(c.remove_waiters)

    def _image_exists(self, image_id: str) -> bool:
        try:
            self.images.resolve(image_id)
            return True
        except NotFound:
            return False

    def _lowers_in_use(self) -> set[str]:
        """Layer dirs of every remaining container (a force-removed image's layers stay
        until its last container goes)."""
        dirs: set[str] = set()
        for other in self.index.all():
            lower = other.doc.get("GraphDriver", {}).get("Data", {}).get("LowerDir") or ""
            dirs.update(d for d in lower.split(":") if d)
        return dirs

    def _remove_files(self, c: Container) -> None:
        for path in (self.paths.bundle_dir(c.id), self.paths.container_dir(c.id)):
            if os.path.exists(path):
                shutil.rmtree(path)

    def removed_future(self, c: Container) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        c.remove_waiters.append(fut)
        return fut

    # -------------------------------------------------------------------- misc
    async def wait(self, ref: str, condition: str) -> asyncio.Future[dict[str, Any]]:
        c = self.index.find(ref)
        loop = asyncio.get_running_loop()
        if condition in ("", "not-running"):
            return self.exit_future(c)
        if condition == "next-exit":
            fut: asyncio.Future[dict[str, Any]] = loop.create_future()
            c.exit_waiters.append(fut)
            return fut
        if condition == "removed":
            return self.removed_future(c)
        raise InvalidArgument(f"invalid condition: {condition!r}")

    def rename(self, ref: str, new: str) -> None:
        c = self.index.find(ref)
        if not new:
            raise InvalidArgument("Neither old nor new names may be empty")
        if new.lstrip("/") == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        try:  # as moby's reserveName, under the prefix its rename gives
            new = names.validate("/" + new.lstrip("/"))
            self._check_name_free(new)
        except WharfieError as exc:
            raise type(exc)(f"Error when allocating new name: {exc}") from None
        old = c.name
        self.index.rename(c, new)
        self.index.save(c)
        self.links.renamed(c)
        notify(c, "rename", self.events, oldName="/" + old)

    async def update(self, ref: str, body: Any) -> dict[str, Any]:
        c = self.index.find(ref)
        if not isinstance(body, dict):
            raise InvalidArgument(
                "json: cannot unmarshal into Go value of type container.UpdateConfig"
            )
        fields = (
            "Memory",
            "MemorySwap",
            "MemoryReservation",
            "NanoCpus",
            "CpuShares",
            "CpuPeriod",
            "CpuQuota",
            "CpusetCpus",
            "PidsLimit",
            "BlkioWeight",
        )
        changes = {k: body[k] for k in fields if body.get(k) not in (None, 0, "")}
        if body.get("RestartPolicy") and body["RestartPolicy"].get("Name") is not None:
            if c.host_config.get("AutoRemove") and body["RestartPolicy"]["Name"] not in ("", "no"):
                raise InvalidArgument(
                    "Restart policy cannot be updated because AutoRemove is enabled for the "
                    "container"
                )
            policy = body["RestartPolicy"]
            c.host_config["RestartPolicy"] = {
                "Name": policy.get("Name") or "no",
                "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0),
            }
        merged = {**c.host_config, **changes}
        validate.container_create({"Image": "x", "HostConfig": merged})
        if c.running and changes:
            await self._runtime_update(c, spec.resources(merged, update=True))
        c.host_config.update(changes)
        self.index.save(c)
        notify(c, "update", self.events)
        return {"Warnings": None}


def _merged_config(config: dict[str, Any], img: dict[str, Any]) -> dict[str, Any]:
    """What inspect shows as Config: the request with the image's defaults filled in."""
    out = dict(config)
    if not out.get("Env"):  # as moby's merge: the image's, which may be none (null)
        out["Env"] = list(img["Env"]) if img.get("Env") else None
    else:
        keys = {e.split("=", 1)[0] for e in out["Env"]}
        out["Env"] = [e for e in (img.get("Env") or []) if e.split("=", 1)[0] not in keys] + list(
            out["Env"]
        )
    if out.get("Cmd") is None and out.get("Entrypoint") is None:
        out["Cmd"] = img.get("Cmd")
    if out.get("Entrypoint") is None:
        out["Entrypoint"] = img.get("Entrypoint")
    for key in ("WorkingDir", "User", "StopSignal"):
        if not out.get(key) and img.get(key):
            out[key] = img[key]
    labels = dict(img.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels
    if out.get("Healthcheck") is None and img.get("Healthcheck"):
        out["Healthcheck"] = img["Healthcheck"]
    return out


def _write_json(path: str, obj: Any) -> None:
    from wharfie.oci import jsonio

    with open(path, "w") as f:
        f.write(jsonio.dumps(obj))


def _wants_init(host: dict[str, Any], daemon_init: bool) -> bool:
    """HostConfig.Init, or the daemon's --init when it is null (as moby, at start)."""
    own = host.get("Init")
    return bool(own) if own is not None else daemon_init
