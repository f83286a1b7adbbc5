"""Manifests, indexes and media types (pure): parse, choose a platform, build for push.

Docker schema 2 (`application/vnd.docker.distribution.manifest.v2+json`) and OCI image
manifests; Docker manifest lists and OCI indexes. Layers: gzip, zstd or uncompressed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wharfie.errors import InvalidArgument, NotFound, NotImplementedFeature

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)

ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
INDEXES = (DOCKER_LIST, OCI_INDEX)
MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)

_COMPRESSION = {
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_FOREIGN: "gzip",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER: "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
}


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Any) -> Descriptor:
        if not isinstance(obj, dict) or not isinstance(obj.get("digest"), str):
            raise InvalidArgument("invalid manifest: descriptor without a digest")
        size = obj.get("size")
        if not isinstance(size, int) or size < 0:
            raise InvalidArgument(f"invalid manifest: bad size for {obj['digest']}")
        return cls(
            str(obj.get("mediaType") or ""),
            obj["digest"],
            size,
            obj.get("platform"),
            tuple(obj.get("urls") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "size": self.size,
            "digest": self.digest,
        }
        if self.platform:
            out["platform"] = self.platform
        return out


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


def media_type_of(raw: bytes, header: str) -> str:
    """The manifest's media type: its own mediaType field, else the Content-Type."""
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid manifest: {exc}") from exc
    mt = obj.get("mediaType") if isinstance(obj, dict) else None
    if isinstance(mt, str) and mt:
        return mt
    if isinstance(obj, dict) and "manifests" in obj:
        return OCI_INDEX
    if isinstance(obj, dict) and "layers" in obj:
        return OCI_MANIFEST
    return header.split(";", 1)[0].strip()


def is_index(media_type: str) -> bool:
    return media_type in INDEXES


def parse_manifest(raw: bytes, media_type: str) -> Manifest:
    if media_type in SCHEMA1:
        raise NotImplementedFeature(
            "support for Docker Image Format v1 and Docker Image manifest version 2, "
            "schema 1 has been removed"
        )
    if media_type not in MANIFESTS:
        raise InvalidArgument(f"unsupported manifest media type {media_type!r}")
    obj = json.loads(raw)
    config = Descriptor.from_json(obj.get("config"))
    layers = tuple(Descriptor.from_json(d) for d in obj.get("layers") or [])
    for layer in layers:
        compression(layer.media_type)
    return Manifest(media_type, config, layers)


def compression(media_type: str) -> str:
    """ "gzip", "zstd" or "none" for a layer media type."""
    kind = _COMPRESSION.get(media_type)
    if kind is None:
        raise NotImplementedFeature(f"unsupported layer media type {media_type!r}")
    return kind


def parse_platform(text: str, host_arch: str) -> tuple[str, str, str]:
    """ "linux/arm64/v8" → ("linux", "arm64", "v8"); "" → the host's."""
    if not text:
        return "linux", host_arch, ""
    parts = text.lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(
            f'"{text}": unknown operating system or architecture: invalid argument'
        )
    os_name = parts[0]
    arch = parts[1] if len(parts) > 1 else host_arch
    variant = parts[2] if len(parts) > 2 else ""
    if arch == "aarch64":
        arch = "arm64"
    if arch in ("x86_64", "x86-64"):
        arch = "amd64"
    return os_name, arch, variant


def choose(index_raw: bytes, want: tuple[str, str, str]) -> Descriptor:
    """The manifest of an index matching the wanted (os, arch, variant)."""
    obj = json.loads(index_raw)
    os_name, arch, variant = want
    found: list[Descriptor] = []
    for entry in obj.get("manifests") or []:
        d = Descriptor.from_json(entry)
        p = d.platform or {}
        if p.get("os") != os_name or p.get("architecture") != arch:
            continue
        if variant and p.get("variant") and p.get("variant") != variant:
            continue
        found.append(d)
    if not found:
        text = "/".join(x for x in want if x)
        raise NotFound(f"no matching manifest for {text} in the manifest list entries")
    found.sort(key=lambda d: 0 if (d.platform or {}).get("variant", "") == variant else 1)
    return found[0]


def build(config: Descriptor, layers: list[Descriptor]) -> tuple[bytes, str]:
    """A manifest for push: Docker schema 2, or OCI when a layer is OCI-only (zstd)."""
    oci = any(d.media_type in (OCI_LAYER_ZSTD, OCI_LAYER) for d in layers)
    mt = OCI_MANIFEST if oci else DOCKER_MANIFEST
    cfg_type = OCI_CONFIG if oci else DOCKER_CONFIG
    obj = {
        "schemaVersion": 2,
        "mediaType": mt,
        "config": Descriptor(cfg_type, config.digest, config.size).to_json(),
        "layers": [_as_oci(d).to_json() if oci else d.to_json() for d in layers],
    }
    return json.dumps(obj, indent=3).encode(), mt


def _as_oci(d: Descriptor) -> Descriptor:
    if d.media_type in (DOCKER_LAYER_GZIP, DOCKER_FOREIGN):
        return Descriptor(OCI_LAYER_GZIP, d.digest, d.size)
    return d
