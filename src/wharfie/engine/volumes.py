"""Volume use cases: the /volumes endpoints, and a container's volumes over its life.

Records live with the driver (`<data-root>/volumes/<name>/opts.json`, see
wharfie.volumes.local): there is no table to keep in step with the directories.
References are derived: a volume is used by every container (running or not) whose
mount points name it, as moby's reference counting by container id does; only the
driver's mount count (who has it mounted now) is kept in memory.

Anonymous volumes carry the label `com.docker.volume.anonymous` (as moby 23+), which
is what `prune` (anonymous only by default, API >= 1.42) and `rm -v` go by.

Container life:
* create: `attach(cid, points)` creates the named/anonymous volumes of the points and
  fills in Name and Source;
* start: `mount(c, rootfs)` mounts each volume for the container (device volumes are
  mounted on first use) and copies the image content into new, empty volumes;
* exit/release: `unmount(c)`;
* remove: `detach(c, remove_anonymous)` (`rm -v`, AutoRemove) removes the container's
  anonymous volumes that no other container uses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from typing import Any

from wharfie import volumes as vol
from wharfie.engine import filters
from wharfie.engine import present_volume as show
from wharfie.engine.emitter import Events
from wharfie.engine.index import ContainerIndex
from wharfie.engine.model import Container
from wharfie.errors import Conflict, InvalidArgument, NotFound, WharfieError
from wharfie.images.filters import bool_filter

log = logging.getLogger("wharfie.engine")

ANON_LABEL = "com.docker.volume.anonymous"
FILTERS = ("dangling", "driver", "label", "name")
PRUNE_FILTERS = ("label", "label!", "all")


def points_of(c: Container) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = c.private.get("mounts") or []
    return points


class Volumes:
    """Built with the container index (who uses a volume), the event bus and the data root
    (where the local driver keeps its volumes)."""

    def __init__(self, index: ContainerIndex, events: Events, data_root: str) -> None:
        self.index = index
        self.events = events
        self.data_root = data_root
        self.drivers: dict[str, vol.Driver] = {}

    @staticmethod
    def points_of(c: Container) -> list[dict[str, Any]]:
        return points_of(c)

    def driver(self, name: str) -> vol.Driver:
        name = name or "local"
        d = self.drivers.get(name)
        if d is None:
            d = vol.driver(name, self.data_root)
            self.drivers[name] = d
        return d

    # ---------------------------------------------------------- references
    def users(self, name: str) -> list[str]:
        """Ids of the containers whose mount points name this volume."""
        return [
            c.id
            for c in self.index.all()
            if any(m["Type"] == "volume" and m.get("Name") == name for m in points_of(c))
        ]

    def _ref_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.index.all():
            for name in {m.get("Name") for m in points_of(c) if m["Type"] == "volume"}:
                if name:
                    counts[name] = counts.get(name, 0) + 1
        return counts

    @staticmethod
    def container_matches(c: Container, values: list[str]) -> bool:
        """`docker ps --filter volume=X`: a mount point whose volume name, source or
        destination is X (moby's filter)."""
        for m in c.doc.get("Mounts") or []:
            if {m.get("Name"), m.get("Source"), m.get("Destination")} & set(values):
                return True
        return False

    # ------------------------------------------------------------- the API
    def create(self, body: Any) -> dict[str, Any]:
        if body is not None and not isinstance(body, dict):
            raise InvalidArgument("invalid JSON: json: cannot unmarshal into Go value of "
                                  "type volume.CreateOptions")  # fmt: skip
        body = body or {}
        name = str(body.get("Name") or "")
        labels = _str_map(body.get("Labels"), "Labels")
        opts = _str_map(body.get("DriverOpts"), "DriverOpts")
        v = self.create_volume(name, str(body.get("Driver") or "local"), opts, labels)
        return self.present(v, self.driver(v.driver))

    def create_volume(
        self, name: str, driver: str, opts: dict[str, str], labels: dict[str, str]
    ) -> vol.Volume:
        if name:
            for other_driver in self.drivers.values():
                if other_driver.name != (driver or "local"):
                    try:
                        other_driver.get(name)
                    except NotFound:
                        continue
                    raise Conflict(f"volume name {name} already in use with driver "
                                   f"{other_driver.name}")  # fmt: skip
        d = self.driver(driver)
        existed = bool(name) and self._exists(d, name)
        v = d.create(name or secrets.token_hex(32), opts, labels)
        if not existed:
            self.events.emit("volume", "create", v.name, {"driver": d.name})
        return v

    def _exists(self, d: vol.Driver, name: str) -> bool:
        try:
            d.get(name)
            return True
        except NotFound:
            return False

    def get(self, name: str) -> tuple[vol.Volume, vol.Driver]:
        for d in self._all_drivers():
            try:
                return d.get(name), d
            except NotFound:
                continue
        raise NotFound(f"get {name}: no such volume")

    def _all_drivers(self) -> list[vol.Driver]:
        self.driver("local")
        return list(self.drivers.values())

    def inspect(self, name: str) -> dict[str, Any]:
        v, d = self.get(name)
        return self.present(v, d)

    def present(
        self, v: vol.Volume, d: vol.Driver, usage: dict[str, int] | None = None
    ) -> dict[str, Any]:
        return show.volume(v, d.name, usage)

    def list_volumes(self, raw_filters: str) -> dict[str, Any]:
        f = filters.parse(raw_filters)
        filters.validate(f, FILTERS)
        counts = self._ref_counts()
        rows = []
        for d in self._all_drivers():
            for v in d.volumes():
                if _matches(f, v, d.name, counts.get(v.name, 0)):
                    rows.append(self.present(v, d))
        return {"Volumes": rows, "Warnings": None}

    async def remove(self, name: str, force: bool) -> None:
        try:
            v, d = self.get(name)
        except NotFound:
            if force:
                return
            raise
        users = self.users(v.name)
        if users:
            raise Conflict(f"remove {v.name}: volume is in use - [{', '.join(users)}]")
        await asyncio.to_thread(d.remove, v.name)
        self.events.emit("volume", "destroy", v.name, {"driver": d.name})

    async def prune(self, raw_filters: str, api_version: tuple[int, int]) -> dict[str, Any]:
        f = filters.parse(raw_filters)
        filters.validate(f, PRUNE_FILTERS)
        everything = _truthy(f.get("all"))
        if api_version < (1, 42):
            everything = True
        counts = self._ref_counts()
        deleted: list[str] = []
        reclaimed = 0
        for d in self._all_drivers():
            for v in d.volumes():
                if counts.get(v.name) or not _prune_match(f, v, everything):
                    continue
                size = await asyncio.to_thread(vol.size_of, v.mountpoint)
                try:
                    await asyncio.to_thread(d.remove, v.name)
                except WharfieError as exc:
                    log.warning("prune: volume %s: %s", v.name, exc)
                    continue
                self.events.emit("volume", "destroy", v.name, {"driver": d.name})
                deleted.append(v.name)
                reclaimed += size
        self.events.emit("volume", "prune", "", {"reclaimed": str(reclaimed)})
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def usage(self) -> list[dict[str, Any]]:
        """`system df` rows: every volume with UsageData {Size, RefCount}."""
        counts = self._ref_counts()
        out = []
        for d in self._all_drivers():
            for v in d.volumes():
                size = vol.size_of(v.mountpoint)
                out.append(self.present(v, d, {"Size": size, "RefCount": counts.get(v.name, 0)}))
        return out

    # ---------------------------------------------------- a container's life
    def attach(self, cid: str, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create the volumes the points name (or anonymous ones); fill Name and Source."""
        created: list[str] = []
        try:
            for m in points:
                if m["Type"] != "volume" or m.get("Source"):
                    continue
                labels = dict(m.get("Labels") or {})
                if not m.get("Name"):
                    labels[ANON_LABEL] = ""
                name = str(m.get("Name") or "")
                existed = bool(name) and self._named_exists(name)
                v = self.create_volume(name, m.get("Driver") or "local",
                                       dict(m.get("DriverOpts") or {}), labels)  # fmt: skip
                if not existed:
                    created.append(v.name)
                m.update(Name=v.name, Source=v.mountpoint, Driver=v.driver)
        except BaseException:
            for name in created:
                self._drop_new(name)
            raise
        return points

    def _drop_new(self, name: str) -> None:
        try:
            _, d = self.get(name)
            d.remove(name)
        except WharfieError as exc:
            log.warning("removing volume %s: %s", name, exc)

    def _named_exists(self, name: str) -> bool:
        try:
            self.get(name)
            return True
        except NotFound:
            return False

    async def mount(self, c: Container, rootfs: str) -> None:
        """Mount the container's volumes (and fill new empty ones from the image)."""
        done: list[tuple[str, str]] = []
        try:
            for m in points_of(c):
                if m["Type"] != "volume":
                    continue
                v, d = self.get(str(m["Name"]))
                path = await asyncio.to_thread(d.mount, v.name, c.id)
                done.append((v.name, d.name))
                m["Source"] = path
                if m.get("CopyData", True):
                    await asyncio.to_thread(_copy_up, rootfs, str(m["Destination"]), path)
                elif await asyncio.to_thread(vol.discard_interrupted, path):
                    vol.finish_discard(path)  # nocopy: empty rather than partly filled
                self.events.emit("volume", "mount", v.name, _mount_attrs(c, m))
        except BaseException:
            for name, driver in done:
                self.driver(driver).unmount(name, c.id)
            raise

    def unmount(self, c: Container) -> None:
        for m in points_of(c):
            if m["Type"] == "volume" and m.get("Name"):
                for d in self._all_drivers():
                    if d.unmount(str(m["Name"]), c.id):
                        attrs = {"container": c.id, "driver": d.name}
                        self.events.emit("volume", "unmount", str(m["Name"]), attrs)

    def restore(self, c: Container) -> None:
        """A container that still runs after a daemon restart keeps its volumes mounted."""
        for m in points_of(c):
            if m["Type"] == "volume" and m.get("Name"):
                try:
                    _, d = self.get(str(m["Name"]))
                except NotFound:
                    continue
                d.restore(str(m["Name"]), c.id)

    def recover(self) -> None:
        """At start-up: count the volumes of running containers as mounted, then unmount
        device volumes no one uses (a crash may have left them)."""
        for c in self.index.all():
            if c.running:
                self.restore(c)
        for d in self._all_drivers():
            for name in d.sweep():
                log.info("unmounted unused volume %s", name)

    async def detach(self, c: Container, remove_anonymous: bool) -> None:
        """After the container is gone: its anonymous volumes go too when asked (`rm -v`)."""
        if not remove_anonymous:
            return
        for m in points_of(c):
            if m["Type"] == "volume" and m.get("Name") and m.get("Anonymous"):
                await self._remove_quietly(str(m["Name"]))

    async def _remove_quietly(self, name: str) -> None:
        try:
            v, _ = self.get(name)
            if ANON_LABEL not in v.labels or self.users(name):
                return
            await self.remove(name, force=True)
        except WharfieError as exc:
            log.warning("removing volume %s: %s", name, exc)


def _mount_attrs(c: Container, m: dict[str, Any]) -> dict[str, str]:
    return {
        "container": c.id,
        "destination": str(m["Destination"]),
        "driver": str(m.get("Driver") or "local"),
        "propagation": str(m.get("Propagation") or ""),
        "read/write": "true" if m.get("RW") else "false",
    }


def _copy_up(rootfs: str, dest: str, volume_path: str) -> None:
    from wharfie.images.archive import resolve

    inside = resolve(rootfs, dest, follow_last=True)
    source = os.path.join(rootfs, inside.lstrip("/"))
    try:
        vol.copy_up(source, volume_path)
    except OSError as exc:
        raise WharfieError(f"copy image content of {dest} into its volume: {exc}") from exc


def _str_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument(f"invalid JSON: json: cannot unmarshal into Go struct field "
                              f"CreateOptions.{field} of type map[string]string")  # fmt: skip
    return dict(value)


_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _truthy(values: list[str] | None) -> bool:
    """The prune filter `all` (moby's withPrune): one value, a Go boolean."""
    if not values:
        return False
    if len(values) > 1:
        raise InvalidArgument(
            f"invalid filter 'all=[{' '.join(values)}]': only one value is expected"
        )
    if values[0] not in _GO_TRUE + _GO_FALSE:
        raise InvalidArgument(
            f"invalid filter 'all': strconv.ParseBool: parsing \"{values[0]}\": invalid syntax"
        )
    return values[0] in _GO_TRUE


def _labels_match(wanted: list[str], labels: dict[str, str]) -> bool:
    return filters.match_labels(wanted, labels)


def _matches(f: dict[str, list[str]], v: vol.Volume, driver: str, refs: int) -> bool:
    if "name" in f and not any(n in v.name for n in f["name"]):
        return False
    if "driver" in f and driver not in f["driver"]:
        return False
    if "label" in f and not _labels_match(f["label"], v.labels):
        return False
    return "dangling" not in f or bool_filter(f["dangling"]) == (refs == 0)


def _prune_match(f: dict[str, list[str]], v: vol.Volume, everything: bool) -> bool:
    if not everything and ANON_LABEL not in v.labels:
        return False
    if "label" in f and not _labels_match(f["label"], v.labels):
        return False
    return not (f.get("label!") and _labels_match(f["label!"], v.labels))  # moby: all match
