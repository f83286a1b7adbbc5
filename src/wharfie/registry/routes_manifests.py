"""Manifest routes (GET/HEAD/PUT/DELETE by tag or digest) and the referrers API."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from wharfie.registry import manifest as mf
from wharfie.registry.codes import RegistryError
from wharfie.registry.httpserver import Request, Response
from wharfie.registry.names import check_digest, check_reference

if TYPE_CHECKING:
    from wharfie.registry.app import Registry


def _unknown(reg: Registry, name: str, reference: str) -> RegistryError:
    reg.storage.require_repo(name)
    return RegistryError(
        "MANIFEST_UNKNOWN", "manifest unknown to registry", {"reference": reference}
    )


def _resolve(reg: Registry, name: str, reference: str) -> tuple[str, str]:
    """(hex digest, media type) of a stored manifest, or MANIFEST_UNKNOWN / NAME_UNKNOWN."""
    tag, hexd = check_reference(reference)
    if tag is not None:
        hexd = reg.storage.resolve_tag(name, tag)
    media = reg.storage.manifest_type(name, hexd) if hexd else None
    if hexd is None or media is None:
        raise _unknown(reg, name, reference)
    return hexd, media


def get_manifest(reg: Registry, req: Request, name: str, reference: str) -> Response:
    hexd, media = _resolve(reg, name, reference)
    digest = f"sha256:{hexd}"
    path = reg.storage.blob_path(hexd)
    headers = {"Content-Type": media, "Docker-Content-Digest": digest, "ETag": f'"{digest}"'}
    if req.headers.get("if-none-match", "").strip('"') == digest:
        return Response(304, headers=headers)
    with open(path, "rb") as f:
        body = f.read()
    return Response(200, body, headers)


def put_manifest(reg: Registry, req: Request, name: str, reference: str) -> Response:
    tag, want_hex = check_reference(reference)
    try:
        body = req.read_all(mf.MAX_MANIFEST)
    except ValueError as exc:
        raise RegistryError("MANIFEST_TOO_BIG", str(exc)) from exc
    parsed = mf.parse(body, req.headers.get("content-type"))
    hexd = hashlib.sha256(body).hexdigest()
    if want_hex is not None and want_hex != hexd:
        raise RegistryError(
            "DIGEST_INVALID",
            "manifest digest does not match the reference",
            {"expected": reference, "computed": f"sha256:{hexd}"},
        )
    _check_references(reg, name, parsed)
    reg.storage.put_manifest(name, body, hexd, parsed.media_type)
    if tag is not None:
        reg.storage.set_tag(name, tag, hexd)
    digest = f"sha256:{hexd}"
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
    if parsed.subject is not None:
        subject_hex = parsed.subject.partition(":")[2]
        reg.storage.add_referrer(
            name, subject_hex, hexd, mf.referrer_descriptor(parsed, digest, len(body))
        )
        headers["OCI-Subject"] = parsed.subject
    reg.metrics.count("manifest_push")
    return Response(201, headers=headers)


def _check_references(reg: Registry, name: str, parsed: mf.Manifest) -> None:
    for digest in parsed.blobs:
        if not reg.storage.has_layer(name, digest.partition(":")[2]):
            raise RegistryError(
                "MANIFEST_BLOB_UNKNOWN",
                "manifest references a blob unknown to this repository",
                {"digest": digest},
            )
    for digest in parsed.manifests:
        if reg.storage.manifest_type(name, digest.partition(":")[2]) is None:
            raise RegistryError(
                "MANIFEST_BLOB_UNKNOWN",
                "index references a manifest unknown to this repository",
                {"digest": digest},
            )


def delete_manifest(reg: Registry, req: Request, name: str, reference: str) -> Response:
    reg.require_delete()
    tag, hexd = check_reference(reference)
    if tag is not None:
        if not reg.storage.delete_tag(name, tag):
            raise _unknown(reg, name, reference)
        return Response(202)
    assert hexd is not None
    if not reg.storage.delete_revision(name, hexd):
        raise _unknown(reg, name, reference)
    reg.storage.untag_digest(name, hexd)
    reg.storage.remove_referrer(name, hexd)
    reg.metrics.count("manifest_delete")
    return Response(202)


def get_referrers(reg: Registry, req: Request, name: str, digest: str) -> Response:
    subject_hex = check_digest(digest)
    found = reg.storage.referrers(name, subject_hex)
    headers = {"Content-Type": mf.OCI_INDEX}
    wanted = req.query.get("artifactType")
    if wanted:
        found = [d for d in found if d.get("artifactType") == wanted]
        headers["OCI-Filters-Applied"] = "artifactType"
    body = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": found}
    return Response(200, json.dumps(body).encode(), headers)
