"""The local image store: image records in SQLite, configs and layer tars in the content
store, extracted layers in the snapshot store, and an in-memory index for `resolve`.

Tables (prefix `image_`): `image_images` (id, parent, created, size, last_tag_time),
`image_refs` (full normalised reference -> image id; tags and digests), `image_layers`
(chain id -> diff id, size). Every DB use is inside `with self._lock:`; the in-memory
index is changed under the same lock right after the DB, so readers never see a state
the DB does not hold. Records returned are shared: treat them as read-only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from wharfie.content import ContentStore
from wharfie.errors import InvalidArgument, NotFound
from wharfie.images import changes as changes_mod
from wharfie.images import commitmerge, present, reference
from wharfie.images.extract import extract_layer
from wharfie.images.filters import CHECKS, all_checks, bool_filter, time_check
from wharfie.images.layers import chain_ids, host_arch, uncompressed
from wharfie.images.tarstream import tree
from wharfie.snapshots import SnapshotStore

Users = Callable[[str], list[str]]
Strs = list[str]
Check = Callable[["ImageRecord"], bool]
Filters = dict[str, list[str]]
Checks = list[Check]
Records = list[dict[str, str]]
Strs_ImageRecords = list["ImageRecord"]
DiskUsage = tuple[int, list[dict[str, Any]]]


@dataclass
class ImageRecord:
    id: str
    config: dict[str, Any]
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    size: int = 0
    created: float = 0.0
    parent: str = ""
    last_tag_time: str = ""

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.config.get("config") or {}).get("Labels") or {})


@dataclass
class _Layer:
    chain_id: str
    diff_id: str
    size: int


class ImageStore:
    def __init__(self, db: sqlite3.Connection, data_root: str, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock
        self.content = ContentStore(os.path.join(data_root, "content"))
        self.snapshots = SnapshotStore(os.path.join(data_root, "snapshots"))
        self.tarsplit_root = os.path.join(data_root, "content", "tarsplit")
        self._images: dict[str, ImageRecord] = {}
        self._refs: dict[str, str] = {}  # full ref -> image id
        self._layers: dict[str, _Layer] = {}
        from wharfie.images.distmeta import BlobSums
        from wharfie.images.ingest import cleanup_temp

        cleanup_temp(self.content.root, self.snapshots.root)
        self.blobsums = BlobSums(db, lock)
        with lock:  # tables image_images, image_refs, image_layers: engine.schema makes them
            self._load()
            self._sweep()

    # -- loading and the in-memory index ------------------------------------------------

    def _load(self) -> None:
        rows = self._db.execute(
            "SELECT id, parent, created, size, last_tag_time FROM image_images"
        ).fetchall()
        for image_id, parent, created, size, ltt in rows:
            config = json.loads(self.content.read(image_id))
            self._images[image_id] = ImageRecord(
                image_id, config, size=size, created=created, parent=parent, last_tag_time=ltt
            )
        for ref, image_id in self._db.execute("SELECT ref, image_id FROM image_refs"):
            if image_id in self._images:
                self._refs[ref] = image_id
        layers = self._db.execute("SELECT chain_id, diff_id, size FROM image_layers")
        for chain, diff, size in layers:
            self._layers[chain] = _Layer(chain, diff, size)
        self._reindex_all()

    def _sweep(self) -> None:
        """Layers a crash left without a row (a pull killed after a layer's rename, before
        its image record): nothing can use them, so they go, with orphan indexes."""
        known = {c.removeprefix("sha256:") for c in self._layers}
        for name in os.listdir(self.snapshots.root):
            if len(name) == 64 and name not in known:
                self.snapshots.remove("sha256:" + name)
        diffs = {layer.diff_id.removeprefix("sha256:") for layer in self._layers.values()}
        if os.path.isdir(self.tarsplit_root):
            for name in os.listdir(self.tarsplit_root):
                if name not in diffs:
                    os.unlink(os.path.join(self.tarsplit_root, name))

    def _reindex_all(self) -> None:
        """Rebuild each record's RepoTags/RepoDigests; lists are swapped whole, so a reader
        outside the lock sees the old or the new list, never a half-built one."""
        tags: dict[str, list[str]] = {}
        digests: dict[str, list[str]] = {}
        for ref in sorted(self._refs):
            parsed = reference.parse(ref)
            into = digests if parsed.digest else tags
            into.setdefault(self._refs[ref], []).append(parsed.familiar())
        for image_id, rec in self._images.items():
            rec.repo_tags = tags.get(image_id, [])
            rec.repo_digests = digests.get(image_id, [])

    def _refs_of(self, image_id: str) -> list[str]:
        return sorted(r for r, i in self._refs.items() if i == image_id)

    def _children(self, image_id: str) -> list[ImageRecord]:
        return [r for r in self._images.values() if r.parent == image_id]

    # -- resolve ----------------------------------------------------------------------

    def resolve(self, ref: str) -> ImageRecord:
        with self._lock:
            return self._resolve(ref)

    def _resolve(self, ref: str) -> ImageRecord:
        if ref.startswith("sha256:"):
            rec = self._images.get(ref) or self._by_prefix(ref[7:])
            if rec is None:
                raise NotFound(f"No such image: {ref}")
            return rec
        try:
            parsed = reference.parse(ref).with_default_tag()
        except InvalidArgument:
            parsed = None
        if parsed is not None:
            image_id = self._refs.get(parsed.full())
            if image_id is not None:
                return self._images[image_id]
        rec = self._by_prefix(ref) if reference.is_id_prefix(ref) else None
        if rec is not None:
            return rec
        raise NotFound(f"No such image: {parsed.familiar() if parsed else ref}")

    def _by_prefix(self, prefix: str) -> ImageRecord | None:
        if not reference.is_id_prefix(prefix):
            return None
        found = [r for i, r in self._images.items() if i[7:].startswith(prefix)]
        return found[0] if len(found) == 1 else None

    def get(self, image_id: str) -> ImageRecord:
        with self._lock:
            rec = self._images.get(image_id)
        if rec is None:
            raise NotFound(f"No such image: {image_id}")
        return rec

    # -- layers -------------------------------------------------------------------------

    def layer_dirs(self, rec: ImageRecord) -> list[str]:
        return [self.snapshots.path(c) for c in reversed(rec.chain_ids)]

    def _layer_size(self, chain_id: str) -> int:
        layer = self._layers.get(chain_id)
        return layer.size if layer else 0

    def has_layer(self, chain_id: str) -> bool:
        with self._lock:
            known = chain_id in self._layers
        return known and self.snapshots.has(chain_id)

    def layer_size(self, chain_id: str) -> int:
        with self._lock:
            return self._layer_size(chain_id)

    def add_image_raw(
        self, raw: bytes, layers: list[tuple[str, str, int, bool]], refs: list[str]
    ) -> ImageRecord:
        """An image whose config bytes came from outside (pull, load): its id is their
        digest. `layers` as (chain, diff, size, new); `refs` full references to set."""
        config = json.loads(raw)
        from wharfie.images.ingest import parse_created

        created = parse_created(str(config.get("created") or "")) or time.time()
        new = [(c, d) for c, d, _, is_new in layers if is_new]
        try:
            image_id = self.content.put(raw)
            with self._lock:
                rec = self._images.get(image_id) or ImageRecord(
                    image_id, config, size=sum(s for _, _, s, _ in layers), created=created
                )
                self._insert(rec, layers)
                for ref in refs:
                    self._set_ref(ref, image_id)
            return rec
        except BaseException:
            for chain, diff in new:
                self._drop_layer_files(chain, diff)
            raise

    def discard_layers(self, layers: list[tuple[str, str]]) -> None:
        """Files of new layers no image took (a failed pull or load): (chain, diff) pairs."""
        with self._lock:
            for chain, diff in layers:
                if chain not in self._layers:
                    self._drop_layer_files(chain, diff)

    def layers_size(self) -> int:
        with self._lock:
            return sum(layer.size for layer in self._layers.values())

    def _add_layer(
        self, parent_chain: str, writer_path: str, diff_id: str
    ) -> tuple[str, bool, int]:
        """Snapshot of a layer tar (its blob still in ingest); (chain id, created?, size)."""
        chain = chain_ids([parent_chain, diff_id])[1] if parent_chain else diff_id
        with self._lock:
            known = self._layers.get(chain)
        if known is not None and self.snapshots.has(chain):
            return chain, False, known.size
        sizes: list[int] = []

        def fill(tmp: str) -> None:
            with open(writer_path, "rb") as f:
                sizes.append(extract_layer(f, tmp))

        self.snapshots.create(chain, fill)
        return chain, True, sizes[0] if sizes else 0

    def store_layer(self, writer: Any, parent_chain: str) -> tuple[str, str, bool, int]:
        """Commit a layer tar being written: snapshot first, then the blob; all or nothing."""
        writer.flush()
        diff_id = writer.digest
        try:
            chain, created, size = self._add_layer(parent_chain, writer.tmp_path, diff_id)
        except BaseException:
            writer.abort()
            raise
        writer.commit(diff_id)
        return diff_id, chain, created, size

    # -- import and commit -------------------------------------------------------------

    def import_tar(
        self,
        stream: BinaryIO,
        *,
        reference: str | None,
        changes: list[str],
        message: str = "",
        platform: str = "",
    ) -> ImageRecord:
        tag_ref = _tag_target(reference)
        container_cfg = changes_mod.apply({}, changes)
        with self.content.writer() as writer:
            for chunk in uncompressed(stream):
                writer.write(chunk)
            diff_id, chain, new_layer, size = self.store_layer(writer, "")
        now = time.time()
        os_name, _, arch = (platform or f"linux/{host_arch()}").partition("/")
        config: dict[str, Any] = {
            "architecture": arch or host_arch(),
            "config": container_cfg,
            "created": present.rfc3339(now),
            "history": [
                {
                    "created": present.rfc3339(now),
                    "created_by": "",
                    "comment": message or "Imported from -",
                }
            ],
            "os": os_name or "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        return self.add_image(config, "", [(chain, diff_id, size, new_layer)], now, tag_ref)

    def commit(
        self,
        *,
        upper: str,
        lowers: list[str],
        parent: ImageRecord | None,
        container_config: dict[str, Any],
        reference: str | None,
        author: str,
        comment: str,
        changes: list[str],
        user_config: dict[str, Any] | None = None,
    ) -> ImageRecord:
        """`docker commit`. `lowers` is unused: the upper dir's whiteouts carry deletions.
        As moby's CreateImageFromContainer: the image's Config is the request's (or, when it
        has none, the container's whole Config), with the `changes` applied and the gaps
        filled from the container's Config (commitmerge.merge)."""
        tag_ref = _tag_target(reference)
        base = json.loads(json.dumps(parent.config)) if parent else {}
        own = container_config if user_config is None else user_config
        cfg = changes_mod.apply(json.loads(json.dumps(own)), changes)
        cfg = commitmerge.merge(cfg, container_config)
        now = time.time()
        if not os.listdir(upper):
            # Nothing changed: as moby's commit, no layer, and the history entry says so.
            config = _commit_config(base, cfg, "", now, author, comment, container_config)
            return self.add_image(
                config, parent.id if parent else "", self.parent_layers(parent), now, tag_ref
            )
        parent_chain = parent.chain_ids[-1] if parent and parent.diff_ids else ""
        fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with self.content.writer() as writer:
                for chunk in tree(fd, ".", "", whiteouts=True):
                    writer.write(chunk)
                diff_id, chain, new_layer, size = self.store_layer(writer, parent_chain)
        finally:
            os.close(fd)
        config = _commit_config(base, cfg, diff_id, now, author, comment, container_config)
        parent_layers = self.parent_layers(parent)
        layers = [*parent_layers, (chain, diff_id, size, new_layer)]
        return self.add_image(config, parent.id if parent else "", layers, now, tag_ref)

    def parent_layers(self, parent: ImageRecord | None) -> list[tuple[str, str, int, bool]]:
        """`parent`'s layers as (chain id, diff id, size, new=False), for add_image."""
        if parent is None:
            return []
        with self._lock:
            return [
                (c, d, self._layer_size(c), False)
                for c, d in zip(parent.chain_ids, parent.diff_ids, strict=True)
            ]

    def add_image(
        self,
        config: dict[str, Any],
        parent: str,
        layers: list[tuple[str, str, int, bool]],
        created: float,
        tag_ref: reference.Reference | None,
    ) -> ImageRecord:
        """Record an image made here (commit, import, build): its config, parent id and
        layers (those marked new were just stored by store_layer); tagged if `tag_ref`."""
        raw = json.dumps(config, separators=(",", ":")).encode()
        new = [(c, d) for c, d, _, is_new in layers if is_new]
        try:
            image_id = self.content.put(raw)
            size = sum(s for _, _, s, _ in layers)
            rec = ImageRecord(image_id, config, size=size, created=created, parent=parent)
            with self._lock:
                self._insert(rec, layers)
                if tag_ref is not None:
                    self._set_ref(tag_ref.full(), image_id)
            return rec
        except BaseException:
            for chain, diff in new:
                self._drop_layer_files(chain, diff)
            raise

    def _insert(self, rec: ImageRecord, layers: list[tuple[str, str, int, bool]]) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO image_images (id, parent, created, size) VALUES (?,?,?,?)",
                (rec.id, rec.parent, rec.created, rec.size),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO image_layers (chain_id, diff_id, size) VALUES (?,?,?)",
                [(c, d, s) for c, d, s, _ in layers],
            )
        self._images.setdefault(rec.id, rec)
        for c, d, s, _ in layers:
            self._layers.setdefault(c, _Layer(c, d, s))

    def _set_ref(self, full_ref: str, image_id: str) -> None:
        """Point a reference at an image (moving it from another); lock held."""
        now = present.rfc3339(time.time())
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO image_refs VALUES (?,?)", (full_ref, image_id))
            self._db.execute("UPDATE image_images SET last_tag_time=? WHERE id=?", (now, image_id))
        self._refs[full_ref] = image_id
        self._images[image_id].last_tag_time = now
        self._reindex_all()

    def _drop_ref(self, full_ref: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM image_refs WHERE ref=?", (full_ref,))
        self._refs.pop(full_ref, None)
        self._reindex_all()

    def _drop_layer_files(self, chain: str, diff: str) -> None:
        if self.snapshots.has(chain):
            self.snapshots.remove(chain)
        if any(layer.diff_id == diff for layer in self._layers.values() if layer.chain_id != chain):
            return
        if self.content.has(diff):
            self.content.delete(diff)
        index = os.path.join(self.tarsplit_root, diff.removeprefix("sha256:"))
        if os.path.exists(index):
            os.unlink(index)

    # -- tag ----------------------------------------------------------------------------

    def tag(self, ref: str, repo: str, tag: str = "latest") -> None:
        target = reference.with_tag(repo, tag)
        with self._lock:
            rec = self._resolve(ref)
            self._set_ref(target.full(), rec.id)

    # -- presentation -------------------------------------------------------------------

    def summary(self, rec: ImageRecord, containers: int = -1) -> dict[str, Any]:
        return present.summary(rec, containers)

    def inspect(self, rec: ImageRecord) -> dict[str, Any]:
        dirs = self.layer_dirs(rec)
        graph = {"MergedDir": "", "UpperDir": dirs[0] if dirs else "", "WorkDir": ""}
        if rec.chain_ids:  # overlay2's names for the top layer (see snapshots)
            graph["MergedDir"], graph["WorkDir"] = self.snapshots.overlay_names(rec.chain_ids[-1])
        if len(dirs) > 1:
            graph["LowerDir"] = ":".join(dirs[1:])
        return present.inspect(rec, graph, rec.last_tag_time)

    def history(self, rec: ImageRecord) -> list[dict[str, Any]]:
        with self._lock:
            sizes = [self._layer_size(c) for c in rec.chain_ids]
            rows = present.history_rows(rec.config, sizes)
            cur: ImageRecord | None = rec
            for row in rows:
                if cur is None:
                    break
                row["Id"] = cur.id
                row["Tags"] = list(cur.repo_tags) or None
                cur = self._images.get(cur.parent) if cur.parent else None
        return rows

    # -- list ---------------------------------------------------------------------------

    def list(self, *, all: bool = False, filters: Filters | None = None) -> Strs_ImageRecords:
        filters = filters or {}
        with self._lock:
            recs = list(self._images.values())
            parents = {r.parent for r in recs if r.parent}
            checks = self._filter_checks(filters)
        out = []
        for rec in recs:
            if not all and not rec.repo_tags and not rec.repo_digests and rec.id in parents:
                continue
            if all_checks(rec, checks):
                out.append(rec)
        out.sort(key=lambda r: r.created, reverse=True)
        return out

    def _filter_checks(self, filters: Filters) -> Checks:
        checks: Checks = []
        for key, values in filters.items():
            if key in ("before", "since"):
                pivot = min(self._resolve(v).created for v in values)
                checks.append(time_check(key == "before", pivot))
            elif key in CHECKS:
                checks.append(CHECKS[key](values))
            else:
                raise InvalidArgument(f"invalid filter '{key}'")
        return checks

    # -- remove and prune ---------------------------------------------------------------

    def remove(
        self,
        ref: str,
        *,
        force: bool,
        noprune: bool,
        users: Users,
        running: Callable[[str], bool] = lambda _: False,
    ) -> Records:
        from wharfie.images.remove import Remover

        with self._lock:
            rec = self._resolve(ref)
            family = self._ancestry(rec)
        usage = {i: users(i) for i in family}
        live = {c: running(c) for ids in usage.values() for c in ids}
        with self._lock:
            return Remover(self, usage, live).remove(ref, force=force, prune=not noprune)

    def _ancestry(self, rec: ImageRecord) -> Strs:
        out = [rec.id]
        while (parent := self._images.get(out[-1])) is not None and parent.parent:
            out.append(parent.parent)
        return out

    def prune(
        self, *, dangling_only: bool, users: Users, filters: Filters | None = None
    ) -> dict[str, Any]:
        from wharfie.images.remove import Remover

        filters = dict(filters or {})
        with self._lock:
            ids = list(self._images)
        usage = {i: users(i) for i in ids}
        with self._lock:
            checks = self._filter_checks({k: v for k, v in filters.items() if k != "dangling"})
            if "dangling" in filters:
                dangling_only = bool_filter(filters["dangling"])
            return Remover(self, usage, {}).prune(dangling_only, checks)

    def disk_usage(self, containers: dict[str, int]) -> DiskUsage:
        from wharfie.images.usage import disk_usage

        return disk_usage(self, containers)

    def images_in_use(self, users: Users) -> Strs:
        """Ids of images some container uses (for `system df`)."""
        with self._lock:
            ids = list(self._images)
        return [i for i in ids if users(i)]

    def gc_layers(self, in_use_dirs: set[str]) -> int:
        """Remove layers no image references whose dir is not in `in_use_dirs` (bytes freed).

        A force-removed image still used by a container keeps its layers; the engine calls
        this after removing such a container.
        """
        with self._lock:
            used = {c for r in self._images.values() for c in r.chain_ids}
            orphans = [
                layer
                for c, layer in self._layers.items()
                if c not in used and self.snapshots.path(c) not in in_use_dirs
            ]
            for layer in orphans:
                self._forget_layer(layer)
        return sum(layer.size for layer in orphans)

    def _forget_layer(self, layer: _Layer) -> None:
        with self._db:
            self._db.execute("DELETE FROM image_layers WHERE chain_id=?", (layer.chain_id,))
        self._layers.pop(layer.chain_id, None)
        self._drop_layer_files(layer.chain_id, layer.diff_id)


def _commit_config(
    base: dict[str, Any],
    cfg: dict[str, Any],
    diff_id: str,
    now: float,
    author: str,
    comment: str,
    container_config: dict[str, Any],
) -> dict[str, Any]:
    config = dict(base)
    config.setdefault("architecture", host_arch())
    config.setdefault("os", "linux")
    config["config"] = cfg
    config["created"] = present.rfc3339(now)
    if author:
        config["author"] = author
    else:
        config.pop("author", None)
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), *([diff_id] if diff_id else [])]
    config["rootfs"] = rootfs
    entry: dict[str, Any] = {
        "created": config["created"],
        "created_by": _created_by(container_config),
    }
    if not diff_id:  # an empty diff adds no layer
        entry["empty_layer"] = True
    if author:
        entry["author"] = author
    if comment:
        entry["comment"] = comment
    config["history"] = [*(config.get("history") or []), entry]
    return config


def _created_by(container_config: dict[str, Any]) -> str:
    if container_config.get("Path"):
        return " ".join([container_config["Path"], *(container_config.get("Args") or [])])
    return " ".join(container_config.get("Cmd") or [])


def _tag_target(ref: str | None) -> reference.Reference | None:
    if not ref:
        return None
    return reference.with_tag(ref, "")
