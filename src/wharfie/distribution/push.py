"""Push: layers in parallel (skipped when the registry has them, mounted across
repositories of the same registry, else gzip-compressed with ISA-L and uploaded), then the
config, then the manifest under the tag.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from wharfie.distribution import progress as pg
from wharfie.distribution.auth import repo_scope
from wharfie.distribution.client import Registry
from wharfie.errors import NotFound
from wharfie.images import ImageStore
from wharfie.images import manifest as mf
from wharfie.images import reference as refmod
from wharfie.images.distmeta import BlobSum
from wharfie.images.ingest import layer_tar
from wharfie.images.store import ImageRecord

PARALLEL = 3
CHUNK = 1 << 20
GZIP_LEVEL = 1
GZIP_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass
class Target:
    reg: Registry
    ref: refmod.Reference  # with the tag being pushed

    @property
    def path(self) -> str:
        return self.ref.path

    @property
    def repository(self) -> str:
        return f"{self.ref.domain}/{self.ref.path}"

    def scopes(self, *others: str) -> list[str]:
        return [repo_scope(self.path, "pull,push"), *(repo_scope(o, "pull") for o in others)]


def has_blob(t: Target, digest: str) -> int | None:
    """The size the registry has for `digest` in the target repository, or None."""
    reply = t.reg.request("HEAD", f"/v2/{t.path}/blobs/{digest}", scopes=t.scopes(), ok=(200, 404))
    reply.read()
    if reply.status != 200:
        return None
    return int(reply.header("content-length") or 0)


def _start_upload(t: Target, mount: str = "", source: str = "") -> tuple[bool, str]:
    """(mounted?, upload location)."""
    query = "?" + urlencode({"mount": mount, "from": source}) if mount else ""
    scopes = t.scopes(source) if source else t.scopes()
    reply = t.reg.request(
        "POST", f"/v2/{t.path}/blobs/uploads/{query}", scopes=scopes, body=b"", ok=(201, 202)
    )
    reply.read()
    return reply.status == 201, reply.header("location")


def upload(t: Target, digest: str, size: int, body: Any) -> None:
    """Monolithic upload: POST for a session, PUT the bytes with ?digest=."""
    _, location = _start_upload(t)
    sep = "&" if "?" in location else "?"
    url = location if location.startswith("http") else t.reg.base + location
    reply = t.reg.request(
        "PUT",
        f"{url}{sep}{urlencode({'digest': digest})}",
        scopes=t.scopes(),
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        body=body,
        ok=(201, 204),
    )
    reply.read()


def _try_known(store: ImageStore, t: Target, diff_id: str) -> tuple[BlobSum, str] | None:
    """A blob the registry already has or can mount: (sum, "exists"/"mounted from x")."""
    sums = store.blobsums.of(diff_id)
    host = t.ref.domain + "/"
    for s in sorted(sums, key=lambda s: s.repository != t.repository):
        if s.repository == t.repository or not s.repository.startswith(host):
            if has_blob(t, s.digest) == s.size:
                return s, "Layer already exists"
            continue
        source = s.repository[len(host) :]
        mounted, _ = _start_upload(t, s.digest, source)
        if mounted:
            return s, f"Mounted from {source}"
    return None


class _Pipe:
    """A bounded queue of compressed chunks between the gzip writer and the HTTP body;
    hashes and counts what passes."""

    def __init__(self) -> None:
        self.q: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self.hash = hashlib.sha256()
        self.size = 0
        self.error: BaseException | None = None

    def write(self, data: Any) -> int:
        b = bytes(data)
        self.hash.update(b)
        self.size += len(b)
        self.q.put(b)
        return len(b)

    def flush(self) -> None:
        return None

    def body(self, on_bytes: Any) -> Iterator[bytes]:
        sent = 0
        while (chunk := self.q.get()) is not None:
            sent += len(chunk)
            on_bytes(sent)
            yield chunk
        if self.error is not None:
            raise self.error


def _compress_into(pipe: _Pipe, chunks: Iterator[bytes]) -> None:
    """gzip with ISA-L (threaded, level 1: deterministic, several times zlib's speed)."""
    from isal import igzip_threaded

    try:
        gz = igzip_threaded.open(  # type: ignore[no-untyped-call]
            pipe, "wb", compresslevel=GZIP_LEVEL, threads=GZIP_THREADS
        )
        with gz:
            for chunk in chunks:
                gz.write(chunk)
    except BaseException as exc:  # handed to the uploading thread, which raises it
        pipe.error = exc
    finally:
        pipe.q.put(None)


def upload_stream(t: Target, body: Iterator[bytes], digest_of: Any) -> None:
    """Streamed upload: POST a session, PATCH the bytes (chunked), PUT ?digest=."""
    _, location = _start_upload(t)
    url = location if location.startswith("http") else t.reg.base + location
    reply = t.reg.request(
        "PATCH",
        url,
        scopes=t.scopes(),
        body=body,
        headers={"Content-Type": "application/octet-stream"},
        ok=(202, 204),
    )
    reply.read()
    location = reply.header("location") or location
    url = location if location.startswith("http") else t.reg.base + location
    sep = "&" if "?" in url else "?"
    reply = t.reg.request(
        "PUT",
        f"{url}{sep}{urlencode({'digest': digest_of()})}",
        scopes=t.scopes(),
        body=b"",
        ok=(201, 204),
    )
    reply.read()


def push_layer(
    store: ImageStore, t: Target, diff_id: str, chain_id: str, progress: pg.Progress
) -> BlobSum:
    ident = pg.short_id(diff_id)
    known = _try_known(store, t, diff_id)
    if known is not None:
        progress(pg.detail(known[1], ident))
        return known[0]._replace(repository=t.repository)
    throttle = pg.Throttle()
    total, chunks = layer_tar(store, diff_id, chain_id)

    def sent(n: int) -> None:
        if throttle.ready():
            progress(pg.moving("Pushing", ident, min(n, total), total))

    pipe = _Pipe()
    worker = threading.Thread(target=_compress_into, args=(pipe, chunks), daemon=True)
    worker.start()
    try:
        upload_stream(t, pipe.body(sent), lambda: "sha256:" + pipe.hash.hexdigest())
    finally:
        while worker.is_alive():  # unblock a writer stuck on a full queue
            try:
                pipe.q.get_nowait()
            except queue.Empty:
                worker.join(0.05)
    progress(pg.detail("Pushed", ident))
    return BlobSum(
        diff_id, "sha256:" + pipe.hash.hexdigest(), mf.DOCKER_LAYER_GZIP, pipe.size, t.repository
    )


def push_image(
    store: ImageStore, t: Target, rec: ImageRecord, progress: pg.Progress
) -> tuple[str, int]:
    """Layers, config, manifest; returns (manifest digest, manifest size)."""
    diff_ids = rec.diff_ids
    for d in diff_ids:
        progress(pg.detail("Preparing", pg.short_id(d)))
    sums: dict[str, BlobSum] = {}
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        chains = dict(zip(diff_ids, rec.chain_ids, strict=True))
        futs = {d: pool.submit(push_layer, store, t, d, chains[d], progress) for d in chains}
        for d, fut in futs.items():
            sums[d] = fut.result()
    store.blobsums.add(list(sums.values()))
    raw_cfg = store.content.read(rec.id)
    if has_blob(t, rec.id) != len(raw_cfg):
        upload(t, rec.id, len(raw_cfg), raw_cfg)
    layers = [mf.Descriptor(sums[d].media_type, sums[d].digest, sums[d].size) for d in diff_ids]
    raw, mt = mf.build(mf.Descriptor(mf.DOCKER_CONFIG, rec.id, len(raw_cfg)), layers)
    tag = t.ref.tag or "latest"
    reply = t.reg.request(
        "PUT",
        f"/v2/{t.path}/manifests/{tag}",
        scopes=t.scopes(),
        headers={"Content-Type": mt},
        body=raw,
        ok=(201, 200),
    )
    reply.read()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    return digest, len(raw)


def push(
    store: ImageStore, reg: Registry, ref: refmod.Reference, progress: pg.Progress
) -> list[dict[str, Any]]:
    """Push one tag (or every tag of the repository when `ref` has none)."""
    repo = f"{ref.domain}/{ref.path}"
    tags = [ref.tag] if ref.tag else _local_tags(store, ref)
    if not tags:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name()}")
    progress(pg.status(f"The push refers to repository [{repo}]"))
    out = []
    try:
        for tag in tags:
            tref = ref._replace(tag=tag, digest="")
            rec = store.resolve(tref.full())
            digest, size = push_image(store, Target(reg, tref), rec, progress)
            store.add_image_raw(
                store.content.read(rec.id), [], [tref._replace(tag="", digest=digest).full()]
            )
            progress(pg.status(f"{tag}: digest: {digest} size: {size}"))
            aux = {"Tag": tag, "Digest": digest, "Size": size}
            progress({"progressDetail": {}, "aux": aux})
            out.append(aux)
    finally:
        reg.close()
    return out


def _local_tags(store: ImageStore, ref: refmod.Reference) -> list[str]:
    name = ref.familiar_name()
    tags = []
    for rec in store.list(all=True):
        for t in rec.repo_tags:
            n, _, tag = t.rpartition(":")
            if n == name:
                tags.append(tag)
    return sorted(tags)


def manifest_json(raw: bytes) -> Any:
    return json.loads(raw)
