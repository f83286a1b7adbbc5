"""Content discovery (tags, catalog, referrers) and content management (deletes), as the
OCI distribution spec describes them; plus the operations endpoints."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from ourregistry import OurRegistry
from regclient import Client, sha

ARTIFACT = "application/vnd.example.sbom.v1"


@pytest.fixture
def c(shared_registry: OurRegistry) -> Client:
    return Client(shared_registry.addr)


@pytest.fixture
def repo() -> str:
    return f"disc/r-{uuid.uuid4().hex[:10]}"


def test_tags_list_and_pagination(c: Client, repo: str) -> None:
    tags = ["b", "a", "c", "d", "e"]
    for tag in tags:
        c.push_image(repo, tag)
    r = c.call("GET", f"/v2/{repo}/tags/list")
    assert r.status == 200 and r.json() == {"name": repo, "tags": sorted(tags)}
    r = c.call("GET", f"/v2/{repo}/tags/list?n=2")
    assert r.json()["tags"] == ["a", "b"]
    assert r.headers["link"] == f'</v2/{repo}/tags/list?n=2&last=b>; rel="next"'
    r = c.call("GET", f"/v2/{repo}/tags/list?n=2&last=b")
    assert r.json()["tags"] == ["c", "d"]
    r = c.call("GET", f"/v2/{repo}/tags/list?n=2&last=d")
    assert r.json()["tags"] == ["e"] and "link" not in r.headers
    r = c.call("GET", f"/v2/{repo}/tags/list?last=c")
    assert r.json()["tags"] == ["d", "e"]
    r = c.call("GET", f"/v2/{repo}/tags/list?n=0")
    assert r.json()["tags"] == []
    r = c.call("GET", f"/v2/{repo}/tags/list?n=-1")
    assert r.status == 400
    r = c.call("GET", f"/v2/{repo}-none/tags/list")
    assert r.status == 404 and r.codes() == ["NAME_UNKNOWN"]


def test_catalog(tmp_path: Path) -> None:
    reg = OurRegistry(tmp_path / "reg")
    reg.start()
    try:
        c = Client(reg.addr)
        names = ["zeta", "alpha/one", "alpha/two", "mid"]
        for name in names:
            c.push_blob(name, name.encode())
        assert c.call("GET", "/v2/_catalog").json() == {"repositories": sorted(names)}
        r = c.call("GET", "/v2/_catalog?n=2")
        assert r.json()["repositories"] == ["alpha/one", "alpha/two"]
        assert r.headers["link"] == '</v2/_catalog?n=2&last=alpha/two>; rel="next"'
        r = c.call("GET", "/v2/_catalog?n=2&last=alpha/two")
        assert r.json()["repositories"] == ["mid", "zeta"]
    finally:
        reg.stop()


def test_referrers_and_subject(c: Client, repo: str) -> None:
    subject, body = c.push_image(repo, "app")
    empty = c.push_blob(repo, b"{}")
    sbom = c.push_blob(repo, b'{"sbom": true}')
    art = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": ARTIFACT,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/json", "digest": sbom, "size": 14}],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": subject,
            "size": len(body),
        },
        "annotations": {"org.example.kind": "sbom"},
    }
    raw = json.dumps(art).encode()
    r = c.push_manifest(repo, sha(raw), raw)
    assert r.status == 201 and r.headers["oci-subject"] == subject
    sig = {**art, "artifactType": "application/vnd.example.sig.v1"}
    sig.pop("annotations")
    sig_raw = json.dumps(sig).encode()
    assert c.push_manifest(repo, sha(sig_raw), sig_raw).status == 201
    r = c.call("GET", f"/v2/{repo}/referrers/{subject}")
    assert r.status == 200
    assert r.headers["content-type"] == "application/vnd.oci.image.index.v1+json"
    index = r.json()
    assert index["schemaVersion"] == 2
    found = {d["digest"]: d for d in index["manifests"]}
    assert found[sha(raw)] == {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(raw),
        "size": len(raw),
        "artifactType": ARTIFACT,
        "annotations": {"org.example.kind": "sbom"},
    }
    assert sha(sig_raw) in found
    r = c.call("GET", f"/v2/{repo}/referrers/{subject}?artifactType={ARTIFACT}")
    assert [d["digest"] for d in r.json()["manifests"]] == [sha(raw)]
    assert r.headers["oci-filters-applied"] == "artifactType"
    r = c.call("GET", f"/v2/{repo}/referrers/{sha(b'nothing refers')}")
    assert r.status == 200 and r.json()["manifests"] == []
    assert c.call("GET", f"/v2/{repo}/referrers/sha256:zz").status == 400
    # deleting a referrer takes it out of the list
    assert c.call("DELETE", f"/v2/{repo}/manifests/{sha(sig_raw)}").status == 202
    r = c.call("GET", f"/v2/{repo}/referrers/{subject}")
    assert [d["digest"] for d in r.json()["manifests"]] == [sha(raw)]


def test_artifact_manifest_and_missing_subject(c: Client, repo: str) -> None:
    blob = c.push_blob(repo, b"signature")
    subject = sha(b"a manifest this registry has never seen")
    art = {
        "mediaType": "application/vnd.oci.artifact.manifest.v1+json",
        "artifactType": "application/vnd.example.sig.v1",
        "blobs": [{"mediaType": "application/octet-stream", "digest": blob, "size": 9}],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": subject,
            "size": 100,
        },
    }
    r = c.push_manifest(repo, "sig", art, "application/vnd.oci.artifact.manifest.v1+json")
    assert r.status == 201, r.body
    assert r.headers["oci-subject"] == subject
    refs = c.call("GET", f"/v2/{repo}/referrers/{subject}").json()["manifests"]
    assert refs[0]["artifactType"] == "application/vnd.example.sig.v1"


def test_delete_manifest_tag_and_blob(c: Client, repo: str) -> None:
    digest, _ = c.push_image(repo, "v1", layer=b"to delete")
    c.call(
        "PUT",
        f"/v2/{repo}/manifests/v2",
        c.call("GET", f"/v2/{repo}/manifests/v1").body,
        {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert c.call("DELETE", f"/v2/{repo}/manifests/v2").status == 202  # a tag only
    assert c.call("GET", f"/v2/{repo}/manifests/v2").status == 404
    assert c.call("GET", f"/v2/{repo}/manifests/v1").status == 200
    assert c.call("DELETE", f"/v2/{repo}/manifests/{digest}").status == 202
    for ref in ("v1", digest):
        r = c.call("GET", f"/v2/{repo}/manifests/{ref}")
        assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]
    assert c.call("GET", f"/v2/{repo}/tags/list").json()["tags"] == []
    r = c.call("DELETE", f"/v2/{repo}/manifests/{digest}")
    assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]
    layer = sha(b"to delete")
    assert c.call("DELETE", f"/v2/{repo}/blobs/{layer}").status == 202
    r = c.call("GET", f"/v2/{repo}/blobs/{layer}")
    assert r.status == 404 and r.codes() == ["BLOB_UNKNOWN"]
    r = c.call("DELETE", f"/v2/{repo}/blobs/{layer}")
    assert r.status == 404 and r.codes() == ["BLOB_UNKNOWN"]


def test_deletes_disabled(tmp_path: Path) -> None:
    reg = OurRegistry(tmp_path / "reg", config="storage:\n  delete: false\n")
    reg.start()
    try:
        c = Client(reg.addr)
        digest, _ = c.push_image("nodel", "v1")
        r = c.call("DELETE", f"/v2/nodel/manifests/{digest}")
        assert r.status == 405 and r.codes() == ["UNSUPPORTED"]
        assert c.call("GET", "/v2/nodel/manifests/v1").status == 200
    finally:
        reg.stop()


def test_path_tricks_in_names(c: Client, shared_registry: OurRegistry) -> None:
    root = shared_registry.root
    before = {p for p in root.parent.rglob("*")}
    for name in (
        "..",
        "a/../b",
        "a/..",
        "A",
        "a//b",
        "a/_layers",
        "-a",
        "a/.b",
        "x" * 256,
        "%2e%2e/%2e%2e/etc",
        "a%2f..%2f..%2fb",
    ):
        for method, path, body in (
            ("GET", f"/v2/{name}/tags/list", None),
            ("POST", f"/v2/{name}/blobs/uploads/?digest={sha(b'z')}", b"z"),
            ("PUT", f"/v2/{name}/manifests/v1", b"{}"),
        ):
            r = c.call(method, path, body)
            assert r.status in (400, 404), (name, method, r.status)
            if r.status == 400:
                assert r.codes() == ["NAME_INVALID"], (name, r.body)
    r = c.call("GET", "//etc/passwd")
    assert r.status == 404
    r = c.call("GET", "/v2//etc/tags/list")
    assert r.status in (400, 404)
    after = {p for p in root.parent.rglob("*")}
    created = {p for p in after - before if "access.log" not in p.name}
    assert not any(".." in str(p) or not str(p).startswith(str(root)) for p in created)
    assert not any("etc" in p.parts for p in created)


def test_operations_endpoints(c: Client, shared_registry: OurRegistry, repo: str) -> None:
    c.push_image(repo, "ops")
    r = c.call("GET", "/healthz")
    assert r.status == 200 and r.json() == {"status": "ok"}
    text = c.call("GET", "/metrics").body.decode()
    assert "# TYPE wharfie_registry_http_requests_total counter" in text
    assert 'wharfie_registry_http_requests_total{method="PUT",route="manifest",code="201"}' in text
    assert 'wharfie_registry_events_total{event="blob_push"}' in text
    entries = shared_registry.access_log()
    mine = [e for e in entries if repo in str(e["path"])]
    assert {e["method"] for e in mine} >= {"POST", "PUT"}
    assert all(
        {"time", "remote", "status", "duration_ms", "bytes_in", "bytes_out"} <= set(e) for e in mine
    )
    r = c.call("GET", "/v2/x/unknown-endpoint")
    assert r.status == 404 and r.codes() == ["UNSUPPORTED"]
    r = c.call("PATCH", "/v2/x/manifests/v1", b"")
    assert r.status == 405 and r.codes() == ["UNSUPPORTED"]


def test_readonly_mode_and_health(tmp_path: Path) -> None:
    reg = OurRegistry(tmp_path / "reg")
    reg.start()
    c = Client(reg.addr)
    c.push_image("ro/app", "v1")
    reg.stop()
    reg.config = "storage:\n  readonly: true\n"
    reg.start()
    try:
        assert c.call("GET", "/v2/ro/app/manifests/v1").status == 200
        for method, path in (
            ("POST", "/v2/ro/app/blobs/uploads/"),
            ("PUT", "/v2/ro/app/manifests/v2"),
            ("DELETE", "/v2/ro/app/manifests/v1"),
        ):
            r = c.call(method, path, b"")
            assert r.status == 405 and r.codes() == ["UNSUPPORTED"], (method, path)
        assert c.call("GET", "/healthz").json() == {"status": "ok"}
    finally:
        reg.stop()


def test_malformed_http_gets_400(c: Client, shared_registry: OurRegistry) -> None:
    import socket

    for raw in (
        b"NONSENSE\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"GET /v2/ SPDY/3\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nno colon here\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", shared_registry.port), timeout=10) as s:
            s.sendall(raw)
            assert s.recv(100).startswith(b"HTTP/1.1 400 Bad Request"), raw
    assert c.call("GET", "/v2/").status == 200  # and the server carries on
