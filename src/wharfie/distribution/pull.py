"""Pull: manifest (index → platform) → config → layers in parallel, each downloaded,
verified, decompressed and extracted as it streams; the image appears only at the end.

A layer download that breaks is resumed with an HTTP Range request from the byte it
reached (the decompressor and hashes keep their state), up to `RETRIES` times with
back-off; the blob's sha256 and size are checked before its layer is committed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from wharfie.content import parse_digest
from wharfie.distribution import progress as pg
from wharfie.distribution.auth import repo_scope
from wharfie.distribution.client import Registry, Reply
from wharfie.distribution.errors import Unauthorized
from wharfie.errors import InvalidArgument, NotFound, Unavailable, WharfieError
from wharfie.images import ImageStore
from wharfie.images import manifest as mf
from wharfie.images import reference as refmod
from wharfie.images.distmeta import BlobSum
from wharfie.images.ingest import chain_of, ingest_layer
from wharfie.images.layers import decompress_chunks, host_arch
from wharfie.images.store import ImageRecord

RETRIES = 5
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
CHUNK = 1 << 20
PARALLEL = 3
MAX_MANIFEST = 4 << 20


@dataclass
class Resolved:
    digest: str  # of the manifest
    raw: bytes
    manifest: mf.Manifest


def fetch_manifest(reg: Registry, path: str, ref: str) -> tuple[bytes, str, str]:
    """(raw, media type, digest) of `ref` (a tag or a digest); verified when by digest."""
    scopes = [repo_scope(path, "pull")]
    if not ref.startswith("sha256:"):
        head = reg.request(
            "HEAD",
            f"/v2/{path}/manifests/{ref}",
            scopes=scopes,
            headers={"Accept": mf.ACCEPT},
            ok=(200, 404),
        )
        head.read()  # a 404 is left to the GET, whose body says why
        found = head.header("docker-content-digest")
        if found.startswith("sha256:"):
            ref = found  # then fetched by digest, and verified
    reply = reg.request(
        "GET", f"/v2/{path}/manifests/{ref}", scopes=scopes, headers={"Accept": mf.ACCEPT}
    )
    raw = reply.resp.read(MAX_MANIFEST + 1)
    if len(raw) > MAX_MANIFEST:
        raise InvalidArgument(f"manifest {ref} is larger than {MAX_MANIFEST} bytes")
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    if ref.startswith("sha256:") and digest != ref:
        raise InvalidArgument(f"manifest verification failed for digest {ref}")
    return raw, mf.media_type_of(raw, reply.header("content-type")), digest


def list_tags(reg: Registry, path: str) -> list[str]:
    """GET /v2/<path>/tags/list (following Link pagination)."""
    url = f"/v2/{path}/tags/list?n=1000"
    out: list[str] = []
    for _ in range(100):
        reply = reg.request("GET", url, scopes=[repo_scope(path, "pull")])
        data = json.loads(reply.read() or b"{}")
        out += [str(t) for t in data.get("tags") or []]
        link = reply.header("link")
        if not link or "<" not in link:
            break
        url = link[link.index("<") + 1 : link.index(">")]
    return sorted(set(out))


def resolve(reg: Registry, path: str, ref: str, platform: str) -> Resolved:
    raw, mt, digest = fetch_manifest(reg, path, ref)
    top = digest
    if mf.is_index(mt):
        want = mf.parse_platform(platform, host_arch())
        chosen = mf.choose(raw, want)
        raw, mt, _ = fetch_manifest(reg, path, chosen.digest)
    return Resolved(top, raw, mf.parse_manifest(raw, mt))


def fetch_small_blob(reg: Registry, path: str, desc: mf.Descriptor) -> bytes:
    reply = reg.request("GET", f"/v2/{path}/blobs/{desc.digest}", scopes=[repo_scope(path, "pull")])
    data = reply.read()
    got = "sha256:" + hashlib.sha256(data).hexdigest()
    if got != desc.digest or len(data) != desc.size:
        raise InvalidArgument(
            f"blob {desc.digest}: content does not match its digest/size "
            f"(got {got}, {len(data)} bytes)"
        )
    return data


class BlobStream:
    """The bytes of a blob, resumed with Range after a broken connection, verified at EOF."""

    def __init__(
        self,
        reg: Registry,
        path: str,
        desc: mf.Descriptor,
        on_bytes: Any = None,
        on_retry: Any = None,
    ) -> None:
        self.reg, self.path, self.desc = reg, path, desc
        self.on_retry = on_retry
        self.offset = 0
        self.hash = hashlib.sha256()
        self.on_bytes = on_bytes

    def __iter__(self) -> Iterator[bytes]:
        failures = 0
        while self.offset < self.desc.size or (self.offset == 0 and self.desc.size == 0):
            try:
                yield from self._once()
                if self.offset >= self.desc.size:
                    break
                raise Unavailable(f"blob {self.desc.digest}: connection closed early")
            except Unavailable as exc:
                if failures >= RETRIES:
                    raise Unavailable(
                        f"download of {self.desc.digest} failed after {failures} retries: {exc}"
                    ) from exc
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                if self.on_retry is not None:
                    self.on_retry(delay)
                time.sleep(delay)
                failures += 1
        self._verify()

    def _once(self) -> Iterator[bytes]:
        headers = {"Range": f"bytes={self.offset}-"} if self.offset else {}
        reply = self.reg.request(
            "GET",
            f"/v2/{self.path}/blobs/{self.desc.digest}",
            scopes=[repo_scope(self.path, "pull")],
            headers=headers,
            ok=(200, 206),
        )
        complete = False
        try:
            yield from self._body(reply)
            complete = True
        finally:
            if not complete:  # abandoned or broken: the connection can't be reused
                reply.resp.close()
                self.reg.close()

    def _body(self, reply: Reply) -> Iterator[bytes]:
        skip = self.offset if (self.offset and reply.status == 200) else 0
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while True:
            try:
                n = reply.resp.readinto(view)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                self.reg.close()
                raise Unavailable(f"read blob {self.desc.digest}: {exc}") from exc
            if not n:
                return
            data = bytes(view[:n])
            if skip:
                cut = min(skip, n)
                data, skip = data[cut:], skip - cut
                if not data:
                    continue
            if self.offset + len(data) > self.desc.size:
                raise InvalidArgument(
                    f"blob {self.desc.digest}: larger than its size {self.desc.size}"
                )
            self.offset += len(data)
            self.hash.update(data)
            if self.on_bytes is not None:
                self.on_bytes(self.offset)
            yield data

    def _verify(self) -> None:
        got = "sha256:" + self.hash.hexdigest()
        if got != self.desc.digest or self.offset != self.desc.size:
            raise InvalidArgument(
                f"failed to verify layer {self.desc.digest}: content does not match its "
                f"digest (got {got}, {self.offset} of {self.desc.size} bytes)"
            )


_END = object()


def prefetched(it: Iterator[bytes], depth: int = 8) -> Iterator[bytes]:
    """`it` run in a thread of its own (download, digest, decompress) while the caller
    consumes (extract, write): the two halves of a layer overlap. Closing the result stops
    the producer and closes `it`."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in it:
                if stop.is_set():
                    break
                q.put(item)
            q.put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            q.put(exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, daemon=True, name="layer-fetch")
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


def _layer_job(
    store: ImageStore,
    reg: Registry,
    path: str,
    desc: mf.Descriptor,
    parent: str,
    diff_id: str,
    progress: pg.Progress,
) -> tuple[str, bool, int]:
    ident = pg.short_id(desc.digest)
    throttle = pg.Throttle()

    def on_bytes(n: int) -> None:
        if throttle.ready(n >= desc.size):
            progress(pg.moving("Downloading", ident, n, desc.size))

    def on_retry(delay: float) -> None:
        progress(pg.detail(f"Retrying in {delay:g} seconds", ident))

    def chunks() -> Iterator[bytes]:  # called again if the layer must be kept whole
        blob = BlobStream(reg, path, desc, on_bytes, on_retry)
        return prefetched(decompress_chunks(mf.compression(desc.media_type), iter(blob)))

    try:
        result = ingest_layer(store, parent, diff_id, chunks)
    except InvalidArgument as exc:
        if "does not match its digest" in str(exc):
            raise
        raise InvalidArgument(f"failed to register layer: {exc}") from exc
    progress(pg.detail("Download complete", ident))
    progress(pg.detail("Pull complete", ident))
    return result


def pull_layers(
    store: ImageStore,
    reg: Registry,
    path: str,
    manifest: mf.Manifest,
    diff_ids: list[str],
    progress: pg.Progress,
) -> list[tuple[str, str, int, bool]]:
    if len(diff_ids) != len(manifest.layers):
        raise InvalidArgument("image config and manifest disagree on the number of layers")
    chains: list[str] = []
    for d in diff_ids:
        chains.append(chain_of(chains[-1] if chains else "", d))
    parents = ["", *chains[:-1]]
    futures: list[Future[tuple[str, bool, int]] | None] = []
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for desc, diff, parent, chain in zip(
            manifest.layers, diff_ids, parents, chains, strict=True
        ):
            ident = pg.short_id(desc.digest)
            if store.has_layer(chain):
                progress(pg.detail("Already exists", ident))
                futures.append(None)
                continue
            progress(pg.detail("Pulling fs layer", ident))
            futures.append(pool.submit(_layer_job, store, reg, path, desc, parent, diff, progress))
        return _collect(store, futures, chains, diff_ids)


def _collect(
    store: ImageStore,
    futures: list[Future[tuple[str, bool, int]] | None],
    chains: list[str],
    diff_ids: list[str],
) -> list[tuple[str, str, int, bool]]:
    """Every layer's result; on any failure the new layers are discarded, then it raises."""
    out: list[tuple[str, str, int, bool]] = []
    error: BaseException | None = None
    for fut, chain, diff in zip(futures, chains, diff_ids, strict=True):
        if fut is None:
            out.append((chain, diff, store.layer_size(chain), False))
            continue
        try:
            c, created, size = fut.result()
            out.append((c, diff, size, created))
        except BaseException as exc:
            error = error or exc
    if error is not None:
        store.discard_layers([(c, d) for c, d, _, new in out if new])
        raise error
    return out


def pull(
    store: ImageStore,
    regs: list[Registry],
    ref: refmod.Reference,
    platform: str,
    progress: pg.Progress,
) -> ImageRecord:
    """Pull `ref` (a tag or digest reference) through the first registry that answers."""
    ref = ref.with_default_tag()
    err: WharfieError | None = None
    for reg in regs:
        try:
            return _pull_from(store, reg, ref, platform, progress)
        except (Unavailable, NotFound, Unauthorized) as exc:  # a mirror: try the next
            err = exc
            if reg is regs[-1]:
                raise
        finally:
            reg.close()
    assert err is not None
    raise err


def _pull_from(
    store: ImageStore, reg: Registry, ref: refmod.Reference, platform: str, progress: pg.Progress
) -> ImageRecord:
    path = ref.path
    try:
        res = resolve(reg, path, ref.digest or ref.tag, platform)
    except NotFound as exc:
        raise NotFound(f"manifest for {ref.familiar()} not found: {exc}") from exc
    progress(pg.status(f"Pulling from {ref.familiar_name()}", ref.tag or ref.digest))
    if res.manifest.config.digest and store_has(store, res.manifest.config.digest):
        rec = _existing(store, reg, ref, res, progress)
        if rec is not None:
            return rec
    raw_cfg = fetch_small_blob(reg, path, res.manifest.config)
    config = json.loads(raw_cfg)
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    for d in diff_ids:
        parse_digest(d)
    layers = pull_layers(store, reg, path, res.manifest, diff_ids, progress)
    rec = store.add_image_raw(raw_cfg, layers, _refs(ref, res.digest))
    _remember(store, reg, ref, res.manifest, diff_ids)
    progress(pg.status(f"Digest: {res.digest}"))
    progress(pg.status(f"Status: Downloaded newer image for {ref.familiar()}"))
    return rec


def store_has(store: ImageStore, image_id: str) -> bool:
    try:
        rec = store.get(image_id)
    except NotFound:
        return False
    return all(store.has_layer(c) for c in rec.chain_ids)


def _existing(
    store: ImageStore, reg: Registry, ref: refmod.Reference, res: Resolved, progress: pg.Progress
) -> ImageRecord | None:
    rec = store.get(res.manifest.config.digest)
    before = {t for t in rec.repo_tags}
    raw = store.content.read(rec.id)
    rec = store.add_image_raw(raw, [], _refs(ref, res.digest))
    progress(pg.status(f"Digest: {res.digest}"))
    newer = ref.tag and ref.familiar() not in before
    word = "Downloaded newer image" if newer else "Image is up to date"
    progress(pg.status(f"Status: {word} for {ref.familiar()}"))
    return rec


def _refs(ref: refmod.Reference, manifest_digest: str) -> list[str]:
    out = [ref._replace(tag="", digest=manifest_digest).full()]
    if ref.tag and not ref.digest:
        out.append(ref.full())
    return out


def _remember(
    store: ImageStore, reg: Registry, ref: refmod.Reference, m: mf.Manifest, diff_ids: list[str]
) -> None:
    repo = f"{ref.domain}/{ref.path}"
    store.blobsums.add(
        [
            BlobSum(d, desc.digest, desc.media_type, desc.size, repo)
            for d, desc in zip(diff_ids, m.layers, strict=True)
        ]
    )
