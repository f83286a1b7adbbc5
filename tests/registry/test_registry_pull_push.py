"""Conformance with the OCI distribution spec's pull and push workflows (from the spec text)."""

from __future__ import annotations

import json
import uuid

import pytest
from ourregistry import OurRegistry
from regclient import Client, sha


@pytest.fixture
def c(shared_registry: OurRegistry) -> Client:
    return Client(shared_registry.addr)


@pytest.fixture
def repo() -> str:
    return f"conf/r-{uuid.uuid4().hex[:10]}"


# -- pull ----------------------------------------------------------------------------------


def test_base_endpoint(c: Client) -> None:
    r = c.call("GET", "/v2/")
    assert r.status == 200
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"


def test_manifest_by_tag_and_digest_byte_for_byte(c: Client, repo: str) -> None:
    digest, body = c.push_image(repo, "v1")
    for ref in ("v1", digest):
        r = c.call(
            "GET",
            f"/v2/{repo}/manifests/{ref}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert r.status == 200
        assert r.body == body  # indented JSON kept as pushed
        assert r.headers["docker-content-digest"] == digest
        assert r.headers["content-type"] == "application/vnd.oci.image.manifest.v1+json"
        h = c.call("HEAD", f"/v2/{repo}/manifests/{ref}")
        assert h.status == 200 and h.body == b""
        assert h.headers["content-length"] == str(len(body))
        assert h.headers["docker-content-digest"] == digest


def test_manifest_unknown(c: Client, repo: str) -> None:
    c.push_image(repo, "v1")
    r = c.call("GET", f"/v2/{repo}/manifests/nope")
    assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]
    r = c.call("HEAD", f"/v2/{repo}/manifests/{sha(b'x')}")
    assert r.status == 404
    r = c.call("GET", f"/v2/{repo}-missing/manifests/v1")
    assert r.status == 404 and r.codes() == ["NAME_UNKNOWN"]


def test_blob_get_head_and_ranges(c: Client, repo: str) -> None:
    data = bytes(range(256)) * 40
    digest = c.push_blob(repo, data)
    r = c.call("GET", f"/v2/{repo}/blobs/{digest}")
    assert r.status == 200 and r.body == data
    assert r.headers["docker-content-digest"] == digest
    h = c.call("HEAD", f"/v2/{repo}/blobs/{digest}")
    assert h.status == 200 and h.headers["content-length"] == str(len(data)) and h.body == b""
    r = c.call("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = c.call("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10000-"})
    assert r.status == 206 and r.body == data[10000:]
    r = c.call("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=-5"})
    assert r.status == 206 and r.body == data[-5:]
    r = c.call("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=99999-"})
    assert r.status == 416 and r.codes() == ["RANGE_INVALID"]


def test_blob_unknown(c: Client, repo: str) -> None:
    c.push_blob(repo, b"known")
    r = c.call("GET", f"/v2/{repo}/blobs/{sha(b'unknown')}")
    assert r.status == 404 and r.codes() == ["BLOB_UNKNOWN"]
    other = c.push_blob(f"{repo}-other", b"elsewhere")  # in the store, not linked to repo
    assert c.call("GET", f"/v2/{repo}/blobs/{other}").status == 404
    r = c.call("GET", f"/v2/{repo}/blobs/sha256:abc")
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]


# -- push ----------------------------------------------------------------------------------


def test_monolithic_post_then_put(c: Client, repo: str) -> None:
    data = b"monolithic" * 1000
    r = c.call("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status == 202
    loc = r.headers["location"]
    assert r.headers["docker-upload-uuid"] in loc
    r = c.call(
        "PUT", f"{loc}?digest={sha(data)}", data, {"Content-Type": "application/octet-stream"}
    )
    assert r.status == 201
    assert r.headers["location"] == f"/v2/{repo}/blobs/{sha(data)}"
    assert r.headers["docker-content-digest"] == sha(data)
    assert c.call("GET", r.headers["location"]).body == data


def test_chunked_upload_with_status(c: Client, repo: str) -> None:
    data = b"0123456789" * 300
    loc = c.call("POST", f"/v2/{repo}/blobs/uploads/").headers["location"]
    r = c.call(
        "PATCH",
        loc,
        data[:1000],
        {"Content-Range": "0-999", "Content-Type": "application/octet-stream"},
    )
    assert r.status == 202 and r.headers["range"] == "0-999"
    loc = r.headers["location"]
    s = c.call("GET", loc)
    assert s.status == 204 and s.headers["range"] == "0-999"
    r = c.call("PATCH", loc, data[1000:2000], {"Content-Range": "1000-1999"})
    assert r.status == 202 and r.headers["range"] == "0-1999"
    out_of_order = c.call("PATCH", loc, data[2500:], {"Content-Range": "2500-2999"})
    assert out_of_order.status == 416
    r = c.call("PUT", f"{loc}?digest={sha(data)}", data[2000:], {"Content-Range": "2000-2999"})
    assert r.status == 201
    assert c.call("GET", f"/v2/{repo}/blobs/{sha(data)}").body == data
    assert c.call("GET", loc).status == 404  # the session is over


def test_streamed_patch_without_content_range(c: Client, repo: str) -> None:
    """What docker push does: one PATCH with the whole body, then PUT ?digest."""
    data = b"stream" * 50000
    loc = c.call("POST", f"/v2/{repo}/blobs/uploads/").headers["location"]
    # an iterable body without a length: http.client sends it chunked, as Go's client does
    r = c.call("PATCH", loc, iter([data[:100000], data[100000:]]))  # type: ignore[arg-type]
    assert r.status == 202 and r.headers["range"] == f"0-{len(data) - 1}"
    assert c.call("PUT", f"{r.headers['location']}?digest={sha(data)}").status == 201


def test_upload_errors(c: Client, repo: str) -> None:
    data = b"some blob"
    loc = c.call("POST", f"/v2/{repo}/blobs/uploads/").headers["location"]
    assert c.call("PUT", loc, data).codes() == ["DIGEST_INVALID"]  # no ?digest=
    r = c.call("PUT", f"{loc}?digest={sha(b'other')}", data)
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]
    assert c.call("GET", f"/v2/{repo}/blobs/{sha(data)}").status == 404
    r = c.call("PATCH", f"/v2/{repo}/blobs/uploads/{uuid.uuid4().hex}", b"x")
    assert r.status == 404 and r.codes() == ["BLOB_UPLOAD_UNKNOWN"]
    r = c.call("GET", f"/v2/{repo}/blobs/uploads/..%2f..%2fetc")
    assert r.status == 404
    loc = c.call("POST", f"/v2/{repo}/blobs/uploads/").headers["location"]
    uid = loc.rsplit("/", 1)[1]
    r = c.call("GET", f"/v2/{repo}-else/blobs/uploads/{uid}")  # another repo's session
    assert r.status == 404 and r.codes() == ["BLOB_UPLOAD_UNKNOWN"]
    for bad in ("bytes=abc", "5-2", "0-"):
        r = c.call("PATCH", loc, b"abc", {"Content-Range": bad})
        assert r.status == 416 and r.codes() == ["RANGE_INVALID"], bad
    r = c.call("PATCH", loc, b"abc", {"Content-Range": "0-9"})  # range says 10 bytes
    assert r.status == 400 and r.codes() == ["SIZE_INVALID"]
    assert c.call("DELETE", loc).status == 204
    assert c.call("GET", loc).status == 404
    r = c.call("POST", f"/v2/{repo}/blobs/uploads/?digest=sha256:nothex", b"x")
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]


def test_cross_repository_mount(c: Client, repo: str) -> None:
    digest = c.push_blob(repo, b"mount me")
    target = f"{repo}-target"
    r = c.call("POST", f"/v2/{target}/blobs/uploads/?mount={digest}&from={repo}")
    assert r.status == 201
    assert r.headers["location"] == f"/v2/{target}/blobs/{digest}"
    assert c.call("GET", f"/v2/{target}/blobs/{digest}").body == b"mount me"
    r = c.call("POST", f"/v2/{target}/blobs/uploads/?mount={sha(b'no')}&from={repo}")
    assert r.status == 202 and "location" in r.headers  # falls back to an upload


def test_manifest_push_checks(c: Client, repo: str) -> None:
    cfg = c.push_blob(repo, b"{}")
    missing = sha(b"never pushed")
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cfg,
            "size": 2,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": missing, "size": 12}
        ],
    }
    r = c.push_manifest(repo, "v1", doc)
    assert r.status == 400 and r.codes() == ["MANIFEST_BLOB_UNKNOWN"]
    assert r.json()["errors"][0]["detail"]["digest"] == missing
    for bad in (
        b"{not json",
        b"[]",
        b'{"schemaVersion": 1}',
        json.dumps({**doc, "layers": "x"}).encode(),
        json.dumps({**doc, "config": {"digest": "md5:x", "size": 1}}).encode(),
    ):
        r = c.push_manifest(repo, "v1", bad)
        assert r.status == 400 and r.codes() == ["MANIFEST_INVALID"], bad
    doc["layers"] = []
    body = json.dumps(doc).encode()
    r = c.push_manifest(repo, sha(b"not this"), body)
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]
    r = c.push_manifest(repo, "bad%20tag!", body)
    assert r.status == 400 and r.codes() == ["TAG_INVALID"]
    r = c.push_manifest(repo, "-leading-dash", body)
    assert r.status == 400 and r.codes() == ["TAG_INVALID"]
    r = c.push_manifest(repo, "v1", body, media="application/vnd.oci.image.index.v1+json")
    assert r.status == 400 and r.codes() == ["MANIFEST_INVALID"]  # type mismatch
    r = c.push_manifest(repo, sha(body), body)
    assert r.status == 201 and r.headers["docker-content-digest"] == sha(body)
    big = json.dumps({**doc, "annotations": {"x": "y" * (5 << 20)}}).encode()
    assert c.push_manifest(repo, "big", big).status == 413


def test_docker_schema2_and_manifest_list(c: Client, repo: str) -> None:
    cfg = c.push_blob(repo, b'{"os":"linux"}')
    lay = c.push_blob(repo, b"docker layer")
    m = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": cfg,
            "size": 14,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": lay,
                "size": 12,
            },
            {
                "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                "digest": sha(b"foreign"),
                "size": 7,
                "urls": ["https://x/y"],
            },
        ],
    }
    body = json.dumps(m).encode()
    r = c.push_manifest(repo, "amd64", body, m["mediaType"])  # type: ignore[arg-type]
    assert r.status == 201, r.body
    lst = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {
                "mediaType": m["mediaType"],
                "digest": sha(body),
                "size": len(body),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    r = c.push_manifest(repo, "latest", lst, lst["mediaType"])  # type: ignore[arg-type]
    assert r.status == 201, r.body
    g = c.call("GET", f"/v2/{repo}/manifests/latest")
    assert g.headers["content-type"] == lst["mediaType"]
    lst["manifests"][0]["digest"] = sha(b"no such manifest")  # type: ignore[index]
    r = c.push_manifest(repo, "broken", lst, lst["mediaType"])  # type: ignore[arg-type]
    assert r.status == 400 and r.codes() == ["MANIFEST_BLOB_UNKNOWN"]


def test_oci_index_without_media_type_field(c: Client, repo: str) -> None:
    digest, body = c.push_image(repo, "one")
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(body),
            }
        ],
    }
    r = c.push_manifest(repo, "idx", index, "application/vnd.oci.image.index.v1+json")
    assert r.status == 201
    g = c.call("GET", f"/v2/{repo}/manifests/idx")
    assert g.headers["content-type"] == "application/vnd.oci.image.index.v1+json"
