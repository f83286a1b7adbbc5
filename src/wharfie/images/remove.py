"""`docker rmi` and `docker image prune`, following moby's ImageDelete rules.

The Remover runs with the store's lock held; container usage is gathered by the caller
*before* taking the lock (the engine's callables may need that lock themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from wharfie.errors import Conflict
from wharfie.images import reference
from wharfie.images.present import short_id

if TYPE_CHECKING:
    from wharfie.images.store import ImageRecord, ImageStore

_CHILD, _RUNNING, _ACTIVE, _STOPPED = 1, 2, 4, 8
_HARD = _CHILD | _RUNNING
_SOFT = _ACTIVE | _STOPPED


class _Clash(NamedTuple):
    image_id: str
    hard: bool
    used: bool
    message: str

    def error(self) -> Conflict:
        how = "cannot be forced" if self.hard else "must be forced"
        what = short_id(self.image_id)
        return Conflict(f"conflict: unable to delete {what} ({how}) - {self.message}")


class Remover:
    def __init__(
        self, store: ImageStore, usage: dict[str, list[str]], running: dict[str, bool]
    ) -> None:
        self.s = store
        self.usage = usage
        self.running = running
        self.records: list[dict[str, str]] = []
        self.reclaimed = 0

    # -- rmi ----------------------------------------------------------------------------

    def remove(self, ref: str, *, force: bool, prune: bool) -> list[dict[str, str]]:
        rec = self.s._resolve(ref)
        img = rec.id
        refs = self.s._refs_of(img)
        if not _is_id_prefix(img, ref):
            if not force and _single_reference(refs) and self.usage.get(img):
                raise Conflict(
                    f'conflict: unable to remove repository reference "{ref}" (must force) - '
                    f"container {self.usage[img][0][:12]} is using its referenced image "
                    f"{short_id(img)}"
                )
            parsed = reference.parse(ref).with_default_tag()
            self._untag(parsed.full())
            refs = self._drop_repo_digests(parsed, self.s._refs_of(img))
            if refs:
                return self.records
            self._delete(img, force, prune, quiet=True)
            return self.records
        if _single_reference(refs):
            mask = _HARD | (0 if force else _SOFT & ~_ACTIVE)
            clash = self._clash(img, mask)
            if clash is not None:
                raise clash.error()
            for r in refs:
                self._untag(r)
        self._delete(img, force, prune, quiet=False)
        return self.records

    def _drop_repo_digests(self, parsed: reference.Reference, refs: list[str]) -> list[str]:
        """moby: once a repository's last tag is gone, its digest references go too."""
        if parsed.digest:
            return refs
        same = [reference.parse(r) for r in refs]
        same = [r for r in same if r.repository == parsed.repository]
        if any(not r.digest for r in same):
            return refs
        for r in same:
            self._untag(r.full())
        return [x for x in refs if reference.parse(x).repository != parsed.repository]

    def _untag(self, full_ref: str) -> None:
        self.s._drop_ref(full_ref)
        self.records.append({"Untagged": reference.parse(full_ref).familiar()})

    def _clash(self, img: str, mask: int) -> _Clash | None:
        if mask & _CHILD and self.s._children(img):
            return _Clash(img, True, False, "image has dependent child images")
        users = self.usage.get(img) or []
        live = [c for c in users if self.running.get(c)]
        if mask & _RUNNING and live:
            msg = f"image is being used by running container {live[0][:12]}"
            return _Clash(img, True, True, msg)
        if mask & _ACTIVE and self.s._refs_of(img):
            return _Clash(img, False, False, "image is referenced in multiple repositories")
        stopped = [c for c in users if not self.running.get(c)]
        if mask & _STOPPED and stopped:
            msg = f"image is being used by stopped container {stopped[0][:12]}"
            return _Clash(img, False, True, msg)
        return None

    def _dangling(self, img: str) -> bool:
        return not self.s._refs_of(img) and not self.s._children(img)

    def _delete(self, img: str, force: bool, prune: bool, quiet: bool) -> None:
        clash = self._clash(img, _HARD | (0 if force else _SOFT))
        if clash is not None:
            if quiet and (not self._dangling(img) or clash.used):
                return
            raise clash.error()
        rec = self.s._images[img]
        for r in self.s._refs_of(img):
            self._untag(r)
        self._drop_image(rec)
        if prune and rec.parent and rec.parent in self.s._images:
            self._delete(rec.parent, False, True, quiet=True)

    def _drop_image(self, rec: ImageRecord) -> None:
        s = self.s
        with s._db:
            s._db.execute("DELETE FROM image_images WHERE id=?", (rec.id,))
        del s._images[rec.id]
        self.records.append({"Deleted": rec.id})
        if s.content.has(rec.id):
            s.content.delete(rec.id)  # the config blob
        if self.usage.get(rec.id):
            return  # a container still runs on these layers: gc_layers frees them later
        used = {c for r in s._images.values() for c in r.chain_ids}
        for chain in reversed(rec.chain_ids):
            layer = s._layers.get(chain)
            if chain in used or layer is None:
                continue
            s._forget_layer(layer)
            self.records.append({"Deleted": chain})
            self.reclaimed += layer.size

    # -- prune --------------------------------------------------------------------------

    def prune(self, dangling_only: bool, checks: list[Callable[[Any], bool]]) -> dict[str, Any]:
        images = self.s._images
        parents = {r.parent for r in images.values() if r.parent}
        candidates = [
            r
            for r in list(images.values())
            if (not dangling_only or r.id not in parents) and all(c(r) for c in checks)
        ]
        deleted: list[dict[str, str]] = []
        for rec in candidates:
            if rec.id not in images or self.usage.get(rec.id):
                continue
            refs = self.s._refs_of(rec.id)
            has_tag = any(not reference.parse(r).digest for r in refs)
            if refs and dangling_only and has_tag:
                continue
            for target in refs or [rec.id]:
                self.records = []
                try:
                    self.remove(target, force=False, prune=True)
                except Conflict:
                    continue  # as docker: skipped, the rest is pruned
                deleted.extend(self.records)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": self.reclaimed}


def _is_id_prefix(image_id: str, ref: str) -> bool:
    return image_id.startswith(ref) or image_id[7:].startswith(ref)


def _single_reference(refs: list[str]) -> bool:
    if len(refs) <= 1:
        return len(refs) == 1
    single = None
    canonical = set()
    for r in refs:
        parsed = reference.parse(r)
        if parsed.digest:
            canonical.add(parsed.repository)
        elif single is None:
            single = parsed
        else:
            return False
    name = single.repository if single else reference.parse(refs[0]).repository
    return len(canonical) == 1 and name in canonical
