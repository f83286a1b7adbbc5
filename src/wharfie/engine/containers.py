"""Container lifecycle: create, start, the exit path, stop, kill, remove, and friends.

Ordering rules that keep a crash harmless (wharfied can be killed at any line):
* create writes the directories first and the database row last: a directory
  without a row is garbage that start-up recovery removes;
* start records "running" only after the monitor has the process; recovery asks
  the monitor what really runs;
* the exit path releases what start took (runtime state, network, rootfs mount)
  before it reports the exit, and every release step is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import sqlite3
from typing import TYPE_CHECKING, Any

from wharfie import cgroups, snapshots
from wharfie.engine import (
    filters,
    links,
    mounts,
    names,
    netsetup,
    present,
    restart,
    rtsched,
    spec,
    users,
    validate,
)
from wharfie.engine.containerfs import init_layer
from wharfie.engine.model import Container, initial_state, now_rfc3339
from wharfie.engine.storageopt import check as check_storage_opt
from wharfie.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, WharfieError
from wharfie.monitor.client import StartRequest

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

log = logging.getLogger("wharfie.engine")
KILL_WAIT = 10.0  # seconds a SIGKILL waits for the exit before the call returns

TINI = "/usr/bin/tini-static"


class Containers:
    def __init__(self, engine: Engine) -> None:
        self.e = engine

    # ------------------------------------------------------------------ create
    async def create(self, body: Any, name: str, api_version: tuple[int, int]) -> dict[str, Any]:
        cfg = validate.container_create(
            body,
            api_version=api_version,
            defaults=validate.CreateDefaults.of(self.e.config),
        )
        config, host_config = cfg.config, cfg.host_config
        if not config.get("Image"):
            raise InvalidArgument("config cannot be empty in order to create a container")
        try:
            image = self.e.images.resolve(str(config["Image"]))
        except NotFound:
            filters.check_image_reference(str(config["Image"]))  # malformed: 400, as moby's
            raise
        netsetup.check_create(self.e, host_config, cfg.networking)
        rtsched.check(host_config)
        self.e.check_runtime(host_config.get("Runtime") or self.e.config.default_runtime)
        host_config["Runtime"] = host_config.get("Runtime") or self.e.config.default_runtime
        mounts.check(host_config)
        name = self.e.validate_name(name) if name else names.generate(set(self.e.names))
        self._check_name_free(name)
        check_storage_opt(host_config.get("StorageOpt"), self.e.config.data_root)
        cid = secrets.token_hex(32)
        doc = self._document(cid, name, config, host_config, image)
        netsetup.on_create(self.e, doc, cfg.networking)
        points = self._mount_points(cid, config, host_config, image)
        doc["Mounts"], doc["_w"]["mounts"] = mounts.public(points), points
        await asyncio.to_thread(self._make_dirs, cid)
        c = Container(doc)
        try:
            self.e.store.insert_container(cid, name, doc)
        except sqlite3.IntegrityError:
            shutil.rmtree(self.e.container_dir(cid), ignore_errors=True)
            await self.e.volumes.detach(c, remove_anonymous=True)
            self._check_name_free(name)
            raise
        self.e.add(c)
        self.e.events.emit("container", "create", cid, c.event_attrs())
        runtime = str(host_config["Runtime"])
        return {"Id": cid, "Warnings": await asyncio.to_thread(self.e.runtime_warnings, runtime)}

    def _mount_points(
        self, cid: str, config: dict[str, Any], host_config: dict[str, Any], image: Any
    ) -> list[dict[str, Any]]:
        sources = []
        for spec_ in host_config.get("VolumesFrom") or []:
            ref, writable = mounts.parse_volumes_from(spec_)
            sources.append((self.e.volumes.points_of(self.e.find(ref)), writable))
        img_volumes = (image.config.get("config") or {}).get("Volumes")
        points = mounts.plan(config, host_config, img_volumes, sources)
        return self.e.volumes.attach(cid, points)

    def _check_name_free(self, name: str) -> None:
        other = self.e.names.get(name)
        if other is not None:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container '
                f'"{other}". You have to remove (or rename) that container to be able to '
                "reuse that name."
            )

    def _make_dirs(self, cid: str) -> None:
        cdir = self.e.container_dir(cid)
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
        img_cfg = image.config.get("config") or {}
        path_args = spec.command(config, img_cfg)
        mode = netsetup.mode_of(str(host_config.get("NetworkMode") or "bridge"))
        if host_config.get("NetworkMode") in (None, "", "default"):
            host_config["NetworkMode"] = "bridge"
        cdir = self.e.container_dir(cid)
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
            "State": initial_state(),
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
                    "LowerDir": ":".join(self.e.images.layer_dirs(image)),
                    "UpperDir": os.path.join(cdir, "rw", "upper"),
                    "WorkDir": os.path.join(cdir, "rw", "work"),
                    "MergedDir": os.path.join(self.e.bundle_dir(cid), "rootfs"),
                },
            },
            "SizeRw": None,
            "SizeRootFs": None,
            "Mounts": [],
            "Config": full_config,
            "NetworkSettings": netsetup.empty_settings(self.e, mode),
            "_w": {"runtime": host_config.get("Runtime") or self.e.config.default_runtime},
        }

    # ------------------------------------------------------------------- start
    async def start(self, ref: str) -> bool:
        """Returns False when the container was already running (HTTP 304)."""
        c = self.e.find(ref)
        async with c.lock:
            if c.paused:
                raise Conflict("cannot start a paused container, try unpause instead")
            if c.running:
                return False
            if c.removing:
                raise Conflict(f"container {c.id} is marked for removal and cannot be started")
            c.private["manual_stop"] = False
            await self._start_locked(c)
            return True

    async def _start_locked(self, c: Container) -> None:
        try:
            pid = await self._launch(c)
        except WharfieError as exc:
            await self._start_failed(c, exc)
            raise
        c.set_running(pid)
        self.e.save(c)
        self.e.events.emit("container", "start", c.id, c.event_attrs())
        self.e.health.watch(c)

    async def _launch(self, c: Container) -> int:
        image = self.e.images.resolve(str(c.doc["Image"]))
        rootfs = self.mount_rootfs(c, image)
        try:
            await self.e.volumes.mount(c, rootfs)
            uid, gid, groups = users.resolve_user(rootfs, str(c.config.get("User") or ""))
            home = users.user_home(rootfs, uid)
            netns, etc_files = netsetup.prepare(self.e, c)
            rtsched.prepare_parents(
                self.cgroups_path(c),
                c.host_config,
                self.e.config.cpu_rt_period,
                self.e.config.cpu_rt_runtime,
            )
            runtime_spec = spec.runtime_spec(
                spec.SpecInputs(
                    container_id=c.id,
                    config={**c.config, "Env": links.environment(self.e, c)},
                    host_config=c.host_config,
                    image_config=image.config.get("config") or {},
                    rootfs=rootfs,
                    hostname=netsetup.hostname_of(c),
                    user=(uid, gid, groups),
                    home=home,
                    etc_files=etc_files,
                    network=netsetup.mode_of(c.network_mode),
                    netns_path=netns,
                    cgroups_path=self.cgroups_path(c),
                    init_path=TINI if _wants_init(c.host_config, self.e.config.init) else None,
                    mounts=self._spec_mounts(c),
                )
            )
            _write_json(os.path.join(self.e.bundle_dir(c.id), "config.json"), runtime_spec)
            return await self.e.need_monitor().start(self._start_request(c))
        except BaseException:
            await self.release(c)
            raise

    def _spec_mounts(self, c: Container) -> list[dict[str, Any]] | None:
        if "mounts" not in c.private:  # created before mount points were recorded
            return None
        points = self.e.volumes.points_of(c)
        mounts.prepare_binds(points)
        return mounts.spec_mounts(points)

    def _start_request(self, c: Container) -> StartRequest:
        log_cfg = c.host_config.get("LogConfig") or {}
        max_size, max_file = validate.parse_log_opts(log_cfg.get("Config") or {})
        size = c.host_config.get("ConsoleSize") or [0, 0]
        return StartRequest(
            id=c.id,
            bundle=self.e.bundle_dir(c.id),
            runtime=self.e.runtime_ref(c.private.get("runtime")),
            tty=c.tty,
            open_stdin=bool(c.config.get("OpenStdin")),
            stdin_once=bool(c.config.get("StdinOnce")),
            log_path=None if log_cfg.get("Type") == "none" else str(c.doc["LogPath"]),
            log_max_size=max(max_size, 0),
            log_max_file=max(max_file, 1),
            console_size=(int(size[0]), int(size[1])) if size and size[0] else None,
        )

    async def _start_failed(self, c: Container, exc: WharfieError) -> None:
        msg = str(exc)
        code = (
            127
            if ("executable file not found" in msg or "no such file" in msg)
            else (126 if "permission denied" in msg else 128)
        )
        c.set_start_failed(code, msg)
        self.e.save(c)
        self.e.events.emit("container", "die", c.id, {**c.event_attrs(), "exitCode": str(code)})
        c.resolve_waiters(c.exit_waiters)
        if c.host_config.get("AutoRemove"):
            self.e.spawn(self.remove(c.id, force=True, volumes=True))

    def cgroups_path(self, c: Container) -> str:
        parent = c.host_config.get("CgroupParent") or self.e.config.cgroup_parent
        return f"{parent.rstrip('/')}/{c.id}"

    def mount_rootfs(self, c: Container, image: Any) -> str:
        bundle = self.e.bundle_dir(c.id)
        rootfs = os.path.join(bundle, "rootfs")
        os.makedirs(rootfs, mode=0o755, exist_ok=True)
        if not os.path.ismount(rootfs):
            upper, work = snapshots.prepare_rw(self.e.container_dir(c.id))
            lowers = [init_layer(self.e.config.data_root)]  # dockerd's "-init" layer
            lowers += self.e.images.layer_dirs(image)
            snapshots.mount(snapshots.overlay(lowers, upper, work), rootfs)
        return rootfs

    def unmount_rootfs(self, c: Container) -> None:
        rootfs = os.path.join(self.e.bundle_dir(c.id), "rootfs")
        if os.path.ismount(rootfs):
            snapshots.unmount(rootfs)

    async def release(self, c: Container) -> None:
        """Give back what start took: runtime state, network, rootfs mount. Idempotent."""
        ref = self.e.runtime_ref(c.private.get("runtime"))
        if self.e.monitor is not None:
            rc, _, err = await self.e.monitor.runtime(ref, ["delete", "--force", c.id])
            if rc != 0 and "does not exist" not in err and "not exist" not in err:
                log.warning("runtime delete %s: %s", c.id[:12], err.strip())
        try:
            netsetup.release(self.e, c)
        finally:
            self.e.volumes.unmount(c)
            if c.mount_users == 0:
                self.unmount_rootfs(c)

    # -------------------------------------------------------------------- exit
    async def on_exit(self, cid: str, code: int, finished: float | str | None) -> None:
        """The monitor saw the container's init exit (`finished`: unix seconds)."""
        if isinstance(finished, (int, float)):
            finished = present.rfc3339nano(float(finished))
        c = self.e.containers.get(cid)
        if c is None:
            return
        oom = self._oom_killed(c) if code == 137 else False
        await self.release(c)
        c.set_exited(code, oom, finished)
        self.e.health.stop(c)
        self.e.save(c)
        if self.e.monitor is not None:
            await self.e.monitor.forget(cid)
        attrs = c.event_attrs()
        if oom:
            self.e.events.emit("container", "oom", cid, attrs)
        self.e.events.emit("container", "die", cid, {**attrs, "exitCode": str(code)})
        c.resolve_waiters(c.exit_waiters)
        if restart.should_restart(c):
            c.restart_task = self.e.spawn(self._restart_later(c))
        elif c.host_config.get("AutoRemove") and not c.removing:
            await self.remove(cid, force=True, volumes=True)

    def _oom_killed(self, c: Container) -> bool:
        try:
            return cgroups.for_container(self.cgroups_path(c), c.id).oom_killed()
        except (OSError, WharfieError):
            return False

    async def _restart_later(self, c: Container) -> None:
        delay = restart.backoff(c)
        c.state.update(Restarting=True, Status="restarting")
        self.e.save(c)
        await asyncio.sleep(delay)
        async with c.lock:
            if (
                c.running
                or c.removing
                or c.private.get("manual_stop")
                or c.id not in self.e.containers
            ):
                c.state.update(Restarting=False)
                return
            c.doc["RestartCount"] = int(c.doc.get("RestartCount") or 0) + 1
            self.e.events.emit("container", "restart", c.id, c.event_attrs())
            try:
                await self._start_locked(c)
            except WharfieError as exc:
                log.warning("restart of %s failed: %s", c.name, exc)

    # --------------------------------------------------------- stop and signals
    async def stop(self, ref: str, timeout: int | None, signal: str | None) -> bool:
        """Returns False when the container was not running (HTTP 304)."""
        c = self.e.find(ref)
        c.private["manual_stop"] = True
        if c.restart_task is not None:
            c.restart_task.cancel()
            c.state.update(Restarting=False)
        if not c.running:
            self.e.save(c)
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
        self.e.events.emit("container", "stop", c.id, c.event_attrs())

    def exit_future(self, c: Container) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if not c.running:
            fut.set_result({"StatusCode": int(c.state["ExitCode"]), "Error": None})
        else:
            c.exit_waiters.append(fut)
        return fut

    async def _signal(self, c: Container, signum: int) -> None:
        try:
            await self.e.need_monitor().signal(c.id, signum)
        except NotFound:
            pass  # it exited meanwhile: the exit event follows

    async def kill(self, ref: str, signal: str) -> None:
        signum = validate.signal_number(signal or "KILL")
        try:
            validate.platform_signal(str(signum))
        except InvalidArgument as exc:
            raise InvalidArgument(f"Cannot kill container: {ref}: {exc}") from None
        c = self.e.find(ref)
        if not c.running:
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        if signum in (9, 15):
            c.private["manual_stop"] = True
        if c.paused and signum != 9:
            raise Conflict(
                f"Cannot kill container: {ref}: Container {c.id} is paused. "
                "Unpause the container before stopping or killing"
            )
        waiter = self.exit_future(c) if signum == 9 else None
        await self._signal(c, signum)
        self.e.events.emit("container", "kill", c.id, {**c.event_attrs(), "signal": str(signum)})
        if waiter is not None:  # as moby's Kill: SIGKILL returns once the container is down
            try:
                await asyncio.wait_for(asyncio.shield(waiter), KILL_WAIT)
            except TimeoutError:
                log.warning("container %s did not exit %ss after SIGKILL", c.id[:12], KILL_WAIT)

    async def restart(self, ref: str, timeout: int | None, signal: str | None) -> None:
        c = self.e.find(ref)
        if c.running:
            await self._stop(c, timeout, signal)
        async with c.lock:
            c.private["manual_stop"] = False
            if not c.running:
                await self._start_locked(c)
        self.e.events.emit("container", "restart", c.id, c.event_attrs())

    async def pause(self, ref: str) -> None:
        c = self.e.find(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.paused:
            raise Conflict(f"Container {c.id} is already paused")
        await self._runtime(c, ["pause", c.id])
        c.state.update(Paused=True, Status="paused")
        self.e.save(c)
        self.e.events.emit("container", "pause", c.id, c.event_attrs())

    async def unpause(self, ref: str) -> None:
        c = self.e.find(ref)
        if not c.paused:
            raise Conflict(f"Container {c.id} is not paused")
        await self._runtime(c, ["resume", c.id])
        c.state.update(Paused=False, Status="running")
        self.e.save(c)
        self.e.events.emit("container", "unpause", c.id, c.event_attrs())

    async def _runtime_update(self, c: Container, resources: dict[str, Any]) -> None:
        """The runtime changes the cgroup limits (`update -r`, as runc), so runc, crun and
        wharfie-runtime each apply them to the cgroups they made, on any cgroup layout."""
        path = os.path.join(self.e.bundle_dir(c.id), "update.json")
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
        ref = self.e.runtime_ref(c.private.get("runtime"))
        rc, out, err = await self.e.need_monitor().runtime(ref, args)
        if rc != 0:
            raise FailedPrecondition(f"{ref.name} {args[0]} failed: {err.strip() or rc}")
        return out

    # ------------------------------------------------------------------ remove
    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None:
        c = self.e.find(ref)
        if c.running and not force:
            raise Conflict(
                f'cannot remove container "/{c.name}": container is running: stop the '
                "container before removing or force remove"
            )
        if c.removing:
            if not force:
                raise Conflict(f"removal of container {c.id[:12]} is already in progress")
            await self.removed_future(c)
            return
        c.removing = True
        if c.restart_task is not None:
            c.restart_task.cancel()
        try:
            if c.running:
                c.private["manual_stop"] = True
                waiter = self.exit_future(c)
                if c.paused:
                    await self._runtime(c, ["resume", c.id])
                await self._signal(c, 9)
                await asyncio.shield(waiter)
            async with c.lock:
                await self.release(c)
                await asyncio.to_thread(self._remove_files, c)
                self.e.store.delete_container(c.id)
                self.e.drop(c)
                links.forget(self.e, c.id, c.name)
                await self.e.volumes.detach(c, remove_anonymous=volumes)
                if not self._image_exists(str(c.doc["Image"])):
                    await asyncio.to_thread(self.e.images.gc_layers, self._lowers_in_use())
        except BaseException:
            c.removing = False
            raise
        self.e.health.stop(c)
        self.e.events.emit("container", "destroy", c.id, c.event_attrs())
        c.resolve_waiters(c.exit_waiters)
        c.resolve_waiters(c.remove_waiters)

    def _image_exists(self, image_id: str) -> bool:
        try:
            self.e.images.resolve(image_id)
            return True
        except NotFound:
            return False

    def _lowers_in_use(self) -> set[str]:
        """Layer dirs of every remaining container (a force-removed image's layers stay
        until its last container goes)."""
        dirs: set[str] = set()
        for other in self.e.containers.values():
            lower = other.doc.get("GraphDriver", {}).get("Data", {}).get("LowerDir") or ""
            dirs.update(d for d in lower.split(":") if d)
        return dirs

    def _remove_files(self, c: Container) -> None:
        for path in (self.e.bundle_dir(c.id), self.e.container_dir(c.id)):
            if os.path.exists(path):
                shutil.rmtree(path)

    def removed_future(self, c: Container) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        c.remove_waiters.append(fut)
        return fut

    # -------------------------------------------------------------------- misc
    async def wait(self, ref: str, condition: str) -> asyncio.Future[dict[str, Any]]:
        c = self.e.find(ref)
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
        c = self.e.find(ref)
        if not new:
            raise InvalidArgument("Neither old nor new names may be empty")
        if new.lstrip("/") == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        try:  # as moby's reserveName, under the prefix its rename gives
            new = self.e.validate_name("/" + new.lstrip("/"))
            self._check_name_free(new)
        except WharfieError as exc:
            raise type(exc)(f"Error when allocating new name: {exc}") from None
        old = c.name
        del self.e.names[old]
        c.doc["Name"] = "/" + new
        self.e.names[new] = c.id
        self.e.save(c)
        links.renamed(self.e, c)
        self.e.events.emit("container", "rename", c.id, {**c.event_attrs(), "oldName": "/" + old})

    async def update(self, ref: str, body: Any) -> dict[str, Any]:
        c = self.e.find(ref)
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
        self.e.save(c)
        self.e.events.emit("container", "update", c.id, c.event_attrs())
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
