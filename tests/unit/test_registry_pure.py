"""Pure parts of the registry: names, manifests, JWT, pagination, ranges, scopes, config."""

from __future__ import annotations

import json

import pytest

from wharfie.errors import InvalidArgument
from wharfie.registry import jwt
from wharfie.registry import manifest as mf
from wharfie.registry.app import paginate
from wharfie.registry.auth import TokenAuth, parse_scope
from wharfie.registry.codes import RegistryError
from wharfie.registry.config import AccessRule, TokenConfig, from_dict, parse_addr
from wharfie.registry.metrics import Metrics
from wharfie.registry.names import check_digest, check_name, check_reference
from wharfie.registry.routes_blobs import blob_range

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("name", ["a", "library/busybox", "a.b/c-d/e__f", "x" * 255, "a--b"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        "a/..",
        "../a",
        "/a",
        "a/",
        "A",
        "a//b",
        "_a",
        "a/_layers",
        "a.",
        ".a",
        "-a",
        "a/.",
        "x" * 256,
        "a b",
        "a\x00b",
        "a/./b",
    ],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(RegistryError) as exc:
        check_name(name)
    assert exc.value.code == "NAME_INVALID" and exc.value.status == 400


def test_references_and_digests() -> None:
    assert check_reference("v1.0_x-y") == ("v1.0_x-y", None)
    assert check_reference(D) == (None, "a" * 64)
    for bad in ("sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256:"):
        with pytest.raises(RegistryError) as exc:
            check_digest(bad)
        assert exc.value.code == "DIGEST_INVALID"
    with pytest.raises(RegistryError) as exc:
        check_reference("-bad")
    assert exc.value.code == "TAG_INVALID"
    with pytest.raises(RegistryError):
        check_reference("t" * 129)


def _image(**extra: object) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": mf.OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 1},
        "layers": [
            {"mediaType": "x", "digest": "sha256:" + "b" * 64, "size": 2},
            {
                "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                "digest": "sha256:" + "c" * 64,
                "size": 3,
            },
        ],
    }
    doc.update(extra)
    return json.dumps(doc).encode()


def test_manifest_parse_image() -> None:
    m = mf.parse(_image(), None)
    assert m.media_type == mf.OCI_MANIFEST
    assert m.blobs == [D, "sha256:" + "b" * 64]  # the foreign layer is not required
    assert m.artifact_type == "application/vnd.oci.image.config.v1+json"
    m = mf.parse(
        _image(
            subject={"mediaType": mf.OCI_MANIFEST, "digest": D, "size": 5},
            artifactType="t/x",
            annotations={"k": "v"},
        ),
        mf.OCI_MANIFEST,
    )
    assert m.subject == D and m.artifact_type == "t/x"
    assert mf.referrer_descriptor(m, D, 9) == {
        "mediaType": mf.OCI_MANIFEST,
        "digest": D,
        "size": 9,
        "artifactType": "t/x",
        "annotations": {"k": "v"},
    }


def test_manifest_parse_index_and_artifact() -> None:
    idx = json.dumps(
        {"schemaVersion": 2, "manifests": [{"mediaType": mf.OCI_MANIFEST, "digest": D, "size": 1}]}
    ).encode()
    m = mf.parse(idx, "application/vnd.oci.image.index.v1+json")
    assert m.media_type == mf.OCI_INDEX and m.manifests == [D]
    assert mf.parse(idx, None).media_type == mf.OCI_INDEX  # inferred from "manifests"
    art = json.dumps(
        {
            "mediaType": mf.OCI_ARTIFACT,
            "artifactType": "a/b",
            "blobs": [{"mediaType": "x", "digest": D, "size": 1}],
        }
    ).encode()
    assert mf.parse(art, mf.OCI_ARTIFACT).blobs == [D]


@pytest.mark.parametrize(
    "body,ctype",
    [
        (b"nope", None),
        (b"[1]", None),
        (b'{"schemaVersion": 1}', None),
        (_image(), mf.DOCKER_MANIFEST),  # declared type differs from Content-Type
        (_image(mediaType="application/x-unknown"), None),
        (_image(layers=[{"digest": D}]), None),  # no size
        (_image(layers=[{"digest": D, "size": -1}]), None),
        (_image(annotations={"k": 1}), None),
        (json.dumps({"mediaType": mf.OCI_ARTIFACT, "blobs": []}).encode(), None),
    ],
)
def test_manifest_parse_rejects(body: bytes, ctype: str | None) -> None:
    with pytest.raises(RegistryError) as exc:
        mf.parse(body, ctype)
    assert exc.value.code == "MANIFEST_INVALID"


def test_jwt_round_trip_and_checks() -> None:
    claims = {"iss": "me", "aud": "svc", "exp": 1000, "nbf": 0, "sub": "alice"}
    token = jwt.encode(claims, b"k")
    assert jwt.decode(token, b"k", "me", "svc", now=500) == claims
    for kwargs in ({"secret": b"other"}, {"issuer": "you"}, {"audience": "x"}, {"now": 2000}):
        args = {"secret": b"k", "issuer": "me", "audience": "svc", "now": 500.0, **kwargs}
        with pytest.raises(InvalidArgument):
            jwt.decode(
                token,
                args["secret"],
                args["issuer"],
                args["audience"],  # type: ignore[arg-type]
                now=args["now"],
            )  # type: ignore[arg-type]
    head, body, sig = token.split(".")
    with pytest.raises(InvalidArgument):
        jwt.decode(f"{head}.{body}x.{sig}", b"k", "me", "svc", now=500)
    none_alg = jwt._b64(b'{"alg":"none"}')
    with pytest.raises(InvalidArgument):
        jwt.decode(f"{none_alg}.{body}.", b"k", "me", "svc", now=500)


def test_paginate() -> None:
    items = ["a", "b", "c"]
    assert paginate(items, {}, "/p") == (items, None)
    assert paginate(items, {"n": "2"}, "/p") == (["a", "b"], '</p?n=2&last=b>; rel="next"')
    assert paginate(items, {"n": "2", "last": "b"}, "/p") == (["c"], None)
    assert paginate(items, {"n": "0"}, "/p") == ([], None)
    with pytest.raises(RegistryError) as exc:
        paginate(items, {"n": "x"}, "/p")
    assert exc.value.code == "PAGINATION_NUMBER_INVALID"


def test_blob_range() -> None:
    assert blob_range("bytes=0-9", 100) == (0, 10)
    assert blob_range("bytes=90-", 100) == (90, 10)
    assert blob_range("bytes=95-200", 100) == (95, 5)
    assert blob_range("bytes=-10", 100) == (90, 10)
    assert blob_range("bytes=0-1,5-6", 100) is None  # several ranges: the whole blob
    for bad in ("bytes=100-", "bytes=5-2", "bytes=-0"):
        with pytest.raises(RegistryError) as exc:
            blob_range(bad, 100)
        assert exc.value.status == 416


def test_scopes_and_token_grants(tmp_path: object) -> None:
    assert parse_scope("repository:a/b:pull,push registry:catalog:*") == [
        ("repository", "a/b", "pull"),
        ("repository", "a/b", "push"),
        ("registry", "catalog", "*"),
    ]
    assert parse_scope("garbage") == []
    cfg = TokenConfig(
        htpasswd="/nonexistent",
        secret_file=f"{tmp_path}/key",
        anonymous=["pull"],
        access=[AccessRule("alice", "alice/*", ["pull", "push"])],
    )
    auth = TokenAuth(cfg, None)  # type: ignore[arg-type]  # no password checks here
    assert auth.allowed("alice", "repository", "alice/x", "push")
    assert not auth.allowed("alice", "repository", "bob/x", "push")
    assert auth.allowed(None, "repository", "bob/x", "pull")
    assert not auth.allowed(None, "repository", "bob/x", "push")
    body = auth.issue(None, "wharfie-registry", ["repository:bob/x:pull,push"])
    claims = jwt.decode(body["token"], auth.secret, cfg.issuer, cfg.service)
    assert claims["access"] == [{"type": "repository", "name": "bob/x", "actions": ["pull"]}]
    bearer = {"authorization": f"Bearer {body['token']}"}
    assert auth.check(bearer, [("repository", "bob/x", "pull")], "http://h") is None
    with pytest.raises(RegistryError) as exc:  # anonymous may not push: log in first
        auth.check(bearer, [("repository", "bob/x", "push")], "http://h")
    assert exc.value.code == "UNAUTHORIZED"
    alice = jwt.encode(
        {"iss": cfg.issuer, "aud": cfg.service, "sub": "alice", "exp": 2**40, "access": []},
        auth.secret,
    )
    with pytest.raises(RegistryError) as exc:  # alice may never push to bob/x: denied
        auth.check(
            {"authorization": f"Bearer {alice}"}, [("repository", "bob/x", "push")], "http://h"
        )
    assert exc.value.code == "DENIED" and exc.value.status == 403
    with pytest.raises(RegistryError) as exc:  # but she may get a token for alice/x
        auth.check(
            {"authorization": f"Bearer {alice}"}, [("repository", "alice/x", "push")], "http://h"
        )
    assert exc.value.code == "UNAUTHORIZED"
    assert 'error="insufficient_scope"' in exc.value.challenge  # type: ignore[attr-defined]
    with pytest.raises(RegistryError) as exc:
        auth.check({}, [("repository", "bob/x", "pull")], "http://h")
    assert exc.value.challenge == (
        'Bearer realm="http://h/token",service="wharfie-registry",'  # type: ignore[attr-defined]
        'scope="repository:bob/x:pull"'
    )


def test_config_and_addr() -> None:
    assert parse_addr("0.0.0.0:5000") == ("0.0.0.0", 5000)
    assert parse_addr("[::1]:80") == ("::1", 80)
    with pytest.raises(InvalidArgument):
        parse_addr("nope")
    cfg = from_dict(
        {
            "addr": "127.0.0.1:6000",
            "storage": {"delete": False},
            "auth": {"htpasswd": {"path": "/h", "realm": "r"}},
        },
        "/root",
    )
    assert (cfg.port, cfg.delete, cfg.htpasswd, cfg.realm) == (6000, False, "/h", "r")
    with pytest.raises(InvalidArgument):
        from_dict({}, None)
    with pytest.raises(InvalidArgument):
        from_dict({"auth": {"htpasswd": {"path": "/h"}, "token": {"htpasswd": "/h"}}}, "/r")


def test_metrics_text_format() -> None:
    m = Metrics()
    m.begin()
    m.end("GET", "blob", 200, 0.5, 0, 1024)
    m.count("blob_push")
    text = m.render()
    assert 'wharfie_registry_http_requests_total{method="GET",route="blob",code="200"} 1\n' in text
    assert "wharfie_registry_sent_bytes_total 1024\n" in text
    assert "wharfie_registry_http_requests_in_flight 0\n" in text
    assert 'wharfie_registry_events_total{event="blob_push"} 1\n' in text
