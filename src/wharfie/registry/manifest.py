"""Manifest parsing for the registry (pure): media type, references, subject.

The registry stores manifests byte for byte; it reads them only to check them
(well-formed JSON of a known kind, whose references all exist) and to index
referrers by their `subject`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wharfie.registry.codes import RegistryError
from wharfie.registry.names import check_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_ARTIFACT = "application/vnd.oci.artifact.manifest.v1+json"
IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
KNOWN_TYPES = IMAGE_TYPES | INDEX_TYPES | {OCI_ARTIFACT}
# layers a registry need not hold (Windows base layers and the like)
FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
MAX_MANIFEST = 4 * 1024 * 1024


@dataclass
class Manifest:
    media_type: str
    blobs: list[str] = field(default_factory=list)  # configs and layers (digests)
    manifests: list[str] = field(default_factory=list)  # children of an index
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def _invalid(message: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", message)


def _descriptor(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or not isinstance(obj.get("digest"), str):
        raise _invalid(f"{where}: not a descriptor with a digest")
    size = obj.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}: descriptor size must be a non-negative integer")
    try:
        check_digest(obj["digest"])
    except RegistryError as exc:
        raise _invalid(f"{where}: {exc.message}") from exc
    return obj


def _media_type(doc: dict[str, Any], content_type: str | None) -> str:
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    ctype = (content_type or "").split(";")[0].strip() or None
    if ctype in (None, "application/json", "application/octet-stream"):
        ctype = None
    if declared and ctype and declared != ctype:
        raise _invalid(f"mediaType {declared} does not match Content-Type {ctype}")
    media = declared or ctype
    if media is None:  # an OCI manifest may leave mediaType out
        media = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media not in KNOWN_TYPES:
        raise _invalid(f"unsupported manifest media type {media}")
    return media


def parse(body: bytes, content_type: str | None) -> Manifest:
    """Check a pushed manifest and list what it references; MANIFEST_INVALID if bad."""
    if len(body) > MAX_MANIFEST:
        raise RegistryError("MANIFEST_TOO_BIG", f"manifest larger than {MAX_MANIFEST} bytes")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(f"manifest is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise _invalid("manifest is not a JSON object")
    media = _media_type(doc, content_type)
    if media != OCI_ARTIFACT and doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    out = Manifest(media)
    if media in IMAGE_TYPES:
        _image(doc, out)
    elif media in INDEX_TYPES:
        _index(doc, out)
    else:
        _artifact(doc, out)
    _subject(doc, out)
    return out


def _image(doc: dict[str, Any], out: Manifest) -> None:
    config = _descriptor(doc.get("config"), "config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise _invalid("layers must be a list")
    out.blobs.append(config["digest"])
    for i, layer in enumerate(layers):
        d = _descriptor(layer, f"layers[{i}]")
        if d.get("mediaType") not in FOREIGN_LAYERS:
            out.blobs.append(d["digest"])
    artifact = doc.get("artifactType")
    out.artifact_type = artifact if isinstance(artifact, str) else config.get("mediaType")


def _index(doc: dict[str, Any], out: Manifest) -> None:
    children = doc.get("manifests")
    if not isinstance(children, list):
        raise _invalid("manifests must be a list")
    for i, child in enumerate(children):
        out.manifests.append(_descriptor(child, f"manifests[{i}]")["digest"])
    artifact = doc.get("artifactType")
    out.artifact_type = artifact if isinstance(artifact, str) else None


def _artifact(doc: dict[str, Any], out: Manifest) -> None:
    blobs = doc.get("blobs", [])
    if not isinstance(blobs, list):
        raise _invalid("blobs must be a list")
    for i, blob in enumerate(blobs):
        out.blobs.append(_descriptor(blob, f"blobs[{i}]")["digest"])
    artifact = doc.get("artifactType")
    if not isinstance(artifact, str):
        raise _invalid("an artifact manifest needs an artifactType")
    out.artifact_type = artifact


def _subject(doc: dict[str, Any], out: Manifest) -> None:
    if "subject" in doc:
        out.subject = _descriptor(doc["subject"], "subject")["digest"]
    annotations = doc.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise _invalid("annotations must map strings to strings")
        out.annotations = annotations


def referrer_descriptor(m: Manifest, digest: str, size: int) -> dict[str, Any]:
    """The descriptor the referrers API lists for manifest `m`."""
    desc: dict[str, Any] = {"mediaType": m.media_type, "digest": digest, "size": size}
    if m.artifact_type:
        desc["artifactType"] = m.artifact_type
    if m.annotations:
        desc["annotations"] = m.annotations
    return desc
