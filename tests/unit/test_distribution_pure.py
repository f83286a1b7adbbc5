"""Pure parts of the registry client: auth headers and challenges, manifests and platform
choice, endpoints (insecure, mirrors), Docker's error wording, progress bars."""

from __future__ import annotations

import base64
import json

import pytest

from wharfie.distribution import auth, progress
from wharfie.distribution.endpoints import Settings
from wharfie.distribution.errors import Unauthorized, for_status, registry_message
from wharfie.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    NotImplementedFeature,
    Unavailable,
)
from wharfie.images import manifest as mf


def test_registry_auth_header_decoding() -> None:
    assert auth.decode_registry_auth("").anonymous
    assert auth.decode_registry_auth("e30=").anonymous
    raw = json.dumps({"username": "u", "password": "p+/=", "serveraddress": "h:5000"})
    hdr = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    a = auth.decode_registry_auth(hdr)
    assert (a.username, a.password, a.server_address) == ("u", "p+/=", "h:5000")
    std = base64.b64encode(raw.encode()).decode()  # standard alphabet accepted too
    assert auth.decode_registry_auth(std).password == "p+/="
    a = auth.decode_registry_auth(auth.encode_registry_auth(a))
    assert a.username == "u"
    with pytest.raises(InvalidArgument):
        auth.decode_registry_auth(base64.b64encode(b"[1]").decode())


def test_challenges() -> None:
    ch = auth.parse_challenge(
        'Bearer realm="https://auth.example/token",'
        'service="registry.example",scope="repository:a/b:pull,push"'
    )
    assert ch is not None and ch.scheme == "bearer"
    assert ch.params["scope"] == "repository:a/b:pull,push"
    url = auth.token_url(ch, ["repository:a/b:pull"])
    assert url == (
        "https://auth.example/token?service=registry.example&scope=repository%3Aa%2Fb%3Apull"
    )
    basic = auth.parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic"
    assert auth.parse_challenge("") is None
    assert auth.parse_challenge("Negotiate abc") is None


def test_config_json_lookup_and_auth_field() -> None:
    cfg = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": auth.encode_auth("a", "b")},
            "127.0.0.1:5000": {"auth": auth.encode_auth("c", "d:e")},
        }
    }
    assert auth.lookup(cfg, "docker.io").username == "a"
    got = auth.lookup(cfg, "127.0.0.1:5000")
    assert (got.username, got.password) == ("c", "d:e")
    assert auth.lookup(cfg, "other:1").anonymous
    assert auth.normalize_server("https://h:5000/v2/") == "h:5000"
    assert auth.normalize_server("") == "docker.io"
    with pytest.raises(InvalidArgument):
        auth.decode_auth(base64.b64encode(b"nocolon").decode())


INDEX = json.dumps(
    {
        "manifests": [
            {
                "digest": "sha256:" + "1" * 64,
                "size": 1,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
            {
                "digest": "sha256:" + "2" * 64,
                "size": 2,
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "digest": "sha256:" + "3" * 64,
                "size": 3,
                "platform": {"os": "windows", "architecture": "amd64"},
            },
        ]
    }
).encode()


def test_platform_choice() -> None:
    assert mf.choose(INDEX, ("linux", "amd64", "")).size == 2
    assert mf.choose(INDEX, mf.parse_platform("linux/arm64/v8", "amd64")).size == 1
    assert mf.choose(INDEX, mf.parse_platform("linux/aarch64", "amd64")).size == 1
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
        mf.choose(INDEX, ("linux", "s390x", ""))
    assert mf.parse_platform("", "amd64") == ("linux", "amd64", "")
    with pytest.raises(InvalidArgument):
        mf.parse_platform("a/b/c/d", "amd64")


def test_manifest_parsing_and_media_types() -> None:
    m = {
        "schemaVersion": 2,
        "config": {"digest": "sha256:" + "a" * 64, "size": 3, "mediaType": mf.OCI_CONFIG},
        "layers": [{"digest": "sha256:" + "b" * 64, "size": 9, "mediaType": mf.OCI_LAYER_ZSTD}],
    }
    raw = json.dumps(m).encode()
    assert mf.media_type_of(raw, "") == mf.OCI_MANIFEST
    assert mf.media_type_of(INDEX, "") == mf.OCI_INDEX
    parsed = mf.parse_manifest(raw, mf.OCI_MANIFEST)
    assert mf.compression(parsed.layers[0].media_type) == "zstd"
    assert mf.compression(mf.DOCKER_LAYER_GZIP) == "gzip"
    assert mf.compression(mf.OCI_LAYER) == "none"
    with pytest.raises(NotImplementedFeature):
        mf.parse_manifest(raw, mf.SCHEMA1[0])
    bad = dict(m, layers=[{"digest": "sha256:" + "b" * 64, "size": 9, "mediaType": "x/y"}])
    with pytest.raises(NotImplementedFeature):
        mf.parse_manifest(json.dumps(bad).encode(), mf.OCI_MANIFEST)
    neg = dict(m, config={"digest": "sha256:" + "a" * 64, "size": -1})
    with pytest.raises(InvalidArgument):
        mf.parse_manifest(json.dumps(neg).encode(), mf.OCI_MANIFEST)


def test_build_for_push() -> None:
    cfg = mf.Descriptor(mf.DOCKER_CONFIG, "sha256:" + "a" * 64, 10)
    gz = mf.Descriptor(mf.DOCKER_LAYER_GZIP, "sha256:" + "b" * 64, 20)
    raw, mt = mf.build(cfg, [gz])
    assert mt == mf.DOCKER_MANIFEST and json.loads(raw)["layers"][0]["mediaType"] == gz.media_type
    zs = mf.Descriptor(mf.OCI_LAYER_ZSTD, "sha256:" + "c" * 64, 30)
    raw, mt = mf.build(cfg, [gz, zs])
    obj = json.loads(raw)
    assert mt == mf.OCI_MANIFEST and obj["config"]["mediaType"] == mf.OCI_CONFIG
    assert [x["mediaType"] for x in obj["layers"]] == [mf.OCI_LAYER_GZIP, mf.OCI_LAYER_ZSTD]


def test_insecure_and_mirrors() -> None:
    s = Settings.from_flags(
        ["http://mirror:5000", "quay.io=https://qmirror"], ["10.1.0.0/16", "reg.lan:5000"]
    )
    assert s.is_insecure("127.0.0.1:5000") and s.is_insecure("localhost:1")
    assert s.is_insecure("[::1]:5000")
    assert s.is_insecure("10.1.2.3:5000") and s.is_insecure("reg.lan:5000")
    assert not s.is_insecure("docker.io") and not s.is_insecure("10.2.0.1")
    regs = s.registries("docker.io", auth.AuthConfig("u", "p"))
    assert [r.host for r in regs] == ["mirror:5000", "docker.io"]
    assert regs[0].credentials.anonymous and regs[1].credentials.username == "u"
    assert [r.host for r in s.registries("quay.io", auth.AuthConfig())] == ["qmirror", "quay.io"]
    with pytest.raises(InvalidArgument):
        Settings.from_flags(["ftp://x"], [])


def test_blocked_registry_is_refused_before_any_connection() -> None:
    s = Settings.from_flags(["http://mirror:5000"], [], ["docker.io"])
    with pytest.raises(FailedPrecondition, match=r"registry docker\.io is blocked"):
        s.registries("docker.io", auth.AuthConfig())
    assert [r.host for r in s.registries("127.0.0.1:5000", auth.AuthConfig())] == ["127.0.0.1:5000"]


def test_registry_error_wording() -> None:
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    assert registry_message(body, 404, "Not Found") == "manifest unknown: manifest unknown"
    assert registry_message(b"", 401, "") == "unauthorized: authentication required"
    assert (
        registry_message(b"<html>", 502, "Bad Gateway") == "unexpected status code 502 Bad Gateway"
    )
    assert isinstance(for_status(401, "x"), Unauthorized)
    assert isinstance(for_status(404, "x"), NotFound)
    assert isinstance(for_status(500, "x"), Unavailable)


def test_progress_messages() -> None:
    assert progress.bar(0, 100).startswith("[>")
    assert progress.bar(50, 100).startswith("[" + "=" * 24 + ">")
    assert progress.bar(100, 100) == "[" + "=" * 50 + "]     100B/100B"
    assert progress.human(1_500_000) == "1.5MB"
    m = progress.moving("Downloading", "abc", 5, 10)
    assert m["progressDetail"] == {"current": 5, "total": 10} and m["id"] == "abc"
    assert progress.short_id("sha256:" + "f" * 64) == "f" * 12
