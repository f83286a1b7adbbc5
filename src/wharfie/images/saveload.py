"""`docker save` / `docker load`: the docker-archive format and the OCI image layout.

save writes what Docker 25+ writes, which both old and new readers take: an OCI layout
(`oci-layout`, `index.json`, `blobs/sha256/…` with uncompressed layer tars, the config and
an OCI manifest per image) plus Docker's `manifest.json` and `repositories`. Our layer
blobs are the uncompressed tars whose digests are the diff ids, so save only copies files.

load takes either format (also the old `<id>/layer.tar` archives, gzip/zstd layers, and a
compressed archive): members are spooled to `content/ingest/blob-load-*/`, hashed as they
land; then each image's layers are checked against the config's diff ids and extracted.
Nothing is visible until an image is complete; on error everything new is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from wharfie.errors import InvalidArgument
from wharfie.images import manifest as mf
from wharfie.images import reference as refmod
from wharfie.images.extract import open_tar
from wharfie.images.ingest import layer_tar
from wharfie.images.loadstage import Staging, adopt
from wharfie.images.store import ImageRecord, ImageStore

CHUNK = 1 << 20
_BLOB = re.compile(r"^blobs/sha256/([0-9a-f]{64})$")


# -- save ---------------------------------------------------------------------------------


def _header(name: str, size: int, *, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.mtime = 0
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % 512)


def _member(name: str, data: bytes) -> Iterator[bytes]:
    yield _header(name, len(data)) + data + _pad(len(data))


def _stream_member(name: str, size: int, chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield _header(name, size)
    yield from chunks
    yield _pad(size)


@dataclass
class _Saved:
    rec: ImageRecord
    tags: list[refmod.Reference]


def save(store: ImageStore, refs: list[str]) -> Iterator[bytes]:
    """A tar stream of the images named by `refs` (resolved before the first byte)."""
    return _save_stream(store, _items(store, refs))


def images_of(store: ImageStore, refs: list[str]) -> list[ImageRecord]:
    """The images `save(store, refs)` writes (NotFound for an unknown name)."""
    return [item.rec for item in _items(store, refs)]


def _items(store: ImageStore, refs: list[str]) -> list[_Saved]:
    items: dict[str, _Saved] = {}
    for ref in refs:
        for rec, tags in _expand(store, ref):
            item = items.setdefault(rec.id, _Saved(rec, []))
            item.tags += [t for t in tags if t not in item.tags]
    return list(items.values())


def _expand(store: ImageStore, ref: str) -> list[tuple[ImageRecord, list[refmod.Reference]]]:
    """A bare repository name means every tag of it (docker save busybox), else one image."""
    parsed = _bare_repository(ref)
    if parsed is not None:
        found = []
        for rec in store.list(all=True):
            tags = [refmod.parse(t) for t in rec.repo_tags]
            tags = [t for t in tags if t.repository == parsed.repository]
            if tags:
                found.append((rec, tags))
        if found:
            return found
    rec = store.resolve(ref)
    return [(rec, _tags_for(ref, rec))]


def _bare_repository(ref: str) -> refmod.Reference | None:
    if ref.startswith("sha256:") or refmod.is_id_prefix(ref):
        return None
    try:
        parsed = refmod.parse(ref)
    except InvalidArgument:
        return None
    return None if parsed.tag or parsed.digest else parsed


def _tags_for(ref: str, rec: ImageRecord) -> list[refmod.Reference]:
    if ref.startswith("sha256:") or refmod.is_id_prefix(ref):
        return []
    try:
        parsed = refmod.parse(ref)
    except InvalidArgument:
        return []
    if parsed.digest:
        return []
    if parsed.tag:
        return [parsed]
    return [
        refmod.parse(t) for t in rec.repo_tags if refmod.parse(t).repository == parsed.repository
    ] or [parsed.with_default_tag()]


def _save_stream(store: ImageStore, items: list[_Saved]) -> Iterator[bytes]:
    yield _header("blobs/", 0, directory=True)
    yield _header("blobs/sha256/", 0, directory=True)
    written: set[str] = set()
    index: list[dict[str, Any]] = []
    manifests: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for item in items:
        rec = item.rec
        layers = []
        for diff, chain in zip(rec.diff_ids, rec.chain_ids, strict=True):
            size, chunks = layer_tar(store, diff, chain)
            if diff not in written:
                written.add(diff)
                yield from _stream_member(_blob_name(diff), size, chunks)
            layers.append(mf.Descriptor(mf.OCI_LAYER, diff, size))
        raw_cfg = store.content.read(rec.id)
        if rec.id not in written:
            written.add(rec.id)
            yield from _member(_blob_name(rec.id), raw_cfg)
        raw_m = _oci_manifest(rec.id, len(raw_cfg), layers)
        m_digest = "sha256:" + hashlib.sha256(raw_m).hexdigest()
        if m_digest not in written:
            written.add(m_digest)
            yield from _member(_blob_name(m_digest), raw_m)
        index += _index_entries(m_digest, len(raw_m), item.tags)
        manifests.append(
            {
                "Config": _blob_name(rec.id),
                "RepoTags": [t.familiar() for t in item.tags] or None,
                "Layers": [_blob_name(d) for d in rec.diff_ids],
            }
        )
        for t in item.tags:
            repositories.setdefault(t.familiar_name(), {})[t.tag] = rec.id[7:]
    yield from _member(
        "index.json", _dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": index})
    )
    yield from _member("manifest.json", _dumps(manifests))
    yield from _member("oci-layout", _dumps({"imageLayoutVersion": "1.0.0"}))
    if repositories:
        yield from _member("repositories", _dumps(repositories))
    yield b"\0" * 1024


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _oci_manifest(config: str, size: int, layers: list[mf.Descriptor]) -> bytes:
    return _dumps(
        {
            "schemaVersion": 2,
            "mediaType": mf.OCI_MANIFEST,
            "config": mf.Descriptor(mf.OCI_CONFIG, config, size).to_json(),
            "layers": [d.to_json() for d in layers],
        }
    ).rstrip(b"\n")


def _index_entries(digest: str, size: int, tags: list[refmod.Reference]) -> list[dict[str, Any]]:
    base = {"mediaType": mf.OCI_MANIFEST, "digest": digest, "size": size}
    if not tags:
        return [base]
    return [
        {
            **base,
            "annotations": {
                "io.containerd.image.name": t.full(),
                "org.opencontainers.image.ref.name": t.tag,
            },
        }
        for t in tags
    ]


# -- load ---------------------------------------------------------------------------------


def load(store: ImageStore, stream: IO[bytes]) -> list[str]:
    """Load an archive; returns Docker's lines ("Loaded image: x:y", "Loaded image ID: …")."""
    staging = Staging(store)
    try:
        try:
            with open_tar(stream, detect_compression=True) as tf:
                for m in tf:
                    staging.add(tf, m)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InvalidArgument(f"invalid archive: {exc}") from exc
        except InvalidArgument as exc:
            if str(exc).startswith("invalid archive"):
                raise
            raise InvalidArgument(f"invalid archive: {exc}") from exc
        return _load_images(store, staging)
    finally:
        staging.close()


def _entries(spool: Staging) -> list[tuple[str, list[str], list[str]]]:
    """(config path, layer paths, tags) per image, from manifest.json or index.json."""
    if spool.has("manifest.json"):
        out = []
        for e in spool.json("manifest.json") or []:
            if not isinstance(e, dict) or not isinstance(e.get("Config"), str):
                raise InvalidArgument("invalid archive: bad manifest.json entry")
            out.append((e["Config"], list(e.get("Layers") or []), list(e.get("RepoTags") or [])))
        return out
    if spool.has("index.json"):
        return _oci_entries(spool)
    raise InvalidArgument(
        "invalid archive: no manifest.json or index.json "
        "(is this a docker save / OCI layout archive?)"
    )


def _oci_entries(spool: Staging) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for d in (spool.json("index.json") or {}).get("manifests") or []:
        desc = mf.Descriptor.from_json(d)
        raw = _blob_bytes(spool, desc.digest)
        mt = mf.media_type_of(raw, desc.media_type)
        if mf.is_index(mt):
            from wharfie.images.layers import host_arch

            desc = mf.choose(raw, ("linux", host_arch(), ""))
            raw = _blob_bytes(spool, desc.digest)
            mt = mf.media_type_of(raw, desc.media_type)
        m = mf.parse_manifest(raw, mt)
        ann = d.get("annotations") or {}
        name = ann.get("io.containerd.image.name") or ""
        tag = ann.get("org.opencontainers.image.ref.name") or ""
        tags = [name] if name else ([tag] if (tag and ":" in tag) or "/" in tag else [])
        out.append((_blob_name(m.config.digest), [_blob_name(x.digest) for x in m.layers], tags))
    return out


def _blob_bytes(spool: Staging, digest: str) -> bytes:
    f = spool.get(_blob_name(digest))
    if f.raw_digest != digest:
        raise InvalidArgument(f"invalid archive: blob {digest} does not match its digest")
    return spool.bytes(_blob_name(digest))


def _load_images(store: ImageStore, spool: Staging) -> list[str]:
    lines = []
    for config_path, layer_paths, tags in _entries(spool):
        raw = spool.bytes(config_path)
        _check_name(config_path, spool.get(config_path).raw_digest)
        rec = _load_one(store, spool, raw, layer_paths, _parse_tags(tags))
        if tags:
            lines += [f"Loaded image: {refmod.short(t)}" for t in tags]
        else:
            lines.append(f"Loaded image ID: {rec.id}")
    return lines


def _check_name(path: str, digest: str) -> None:
    """A member named blobs/sha256/<hex> must hash to that digest."""
    m = _BLOB.match(os.path.normpath(path).lstrip("/"))
    if m and digest != "sha256:" + m.group(1):
        raise InvalidArgument(f"invalid archive: {path} does not match its digest")


def _parse_tags(tags: list[str]) -> list[str]:
    try:
        return [refmod.parse(t).with_default_tag().full() for t in tags]
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid archive: bad tag: {exc}") from exc


def _load_one(
    store: ImageStore, spool: Staging, raw: bytes, layer_paths: list[str], tags: list[str]
) -> ImageRecord:
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid archive: image config: {exc}") from exc
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(layer_paths):
        raise InvalidArgument("invalid archive: the config and the manifest disagree on layers")
    layers: list[tuple[str, str, int, bool]] = []
    parent = ""
    try:
        for diff, path in zip(diff_ids, layer_paths, strict=True):
            staged = spool.get(path)
            _check_name(path, staged.raw_digest)
            chain, new, size = adopt(store, staged, parent, diff)
            layers.append((chain, diff, size, new))
            parent = chain
        return store.add_image_raw(raw, layers, tags)
    except BaseException:
        store.discard_layers([(c, d) for c, d, _, new in layers if new])
        raise
